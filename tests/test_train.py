"""Trainer pieces: masked loss, label mirroring, splits, batches, AUC and bootstrap, recipes, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_ssl.config import load_profile, profile_from_dict
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import load_dataset
from ros_ssl.errors import ConfigError
from ros_ssl.models import Detector, build_encoder
from ros_ssl.train.augment import Augment, AugmentConfig, LabelMirror, label_mirror
from ros_ssl.train.checkpoint import load_checkpoint, save_checkpoint
from ros_ssl.train.data import make_loader, set_epoch, split_recordings
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.loss import balanced_pos_weight, masked_bce
from ros_ssl.train.metrics import auc_table, bootstrap_auc, mean_auc, roc_auc
from ros_ssl.train.recipe import load_recipe, parse_overrides
from ros_ssl.train.runs import autocast, optimizer_step
from ros_ssl.train.synthetic import make_synthetic_dataset
from ros_ssl.train.trainer import StepSetup, detector_loss

torch.set_num_threads(1)


# --- masked loss ------------------------------------------------------------------------------------------

def _bce(x: float, y: int, w: float = 1.0) -> float:
    p = 1 / (1 + math.exp(-x))
    return -(w * y * math.log(p) + (1 - y) * math.log(1 - p))


def test_masked_bce_matches_a_hand_computation() -> None:
    logits = torch.tensor([[[0.0, 2.0], [-1.0, 3.0]]], requires_grad=True)
    labels = torch.tensor([[[1, 0], [0, 1]]], dtype=torch.uint8)
    mask = torch.tensor([[[True, False], [True, True]]])
    expected = (_bce(0.0, 1) + _bce(-1.0, 0) + _bce(3.0, 1)) / 3  # the unknown cell (2.0, 0) is left out
    loss = masked_bce(logits, labels, mask)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert logits.grad[0, 0, 1] == 0  # unknown cells get no gradient

    weighted = masked_bce(logits, labels, mask, pos_weight=torch.tensor(4.0))
    expected = (_bce(0.0, 1, 4) + _bce(-1.0, 0, 4) + _bce(3.0, 1, 4)) / 3
    assert weighted.item() == pytest.approx(expected, rel=1e-6)


def test_masked_bce_without_known_cells_is_zero_with_a_gradient() -> None:
    logits = torch.randn(2, 3, 4, requires_grad=True)
    loss = masked_bce(logits, torch.ones(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_balanced_pos_weight_is_the_clipped_negative_positive_ratio() -> None:
    labels = np.array([[[1, 0, 0]], [[0, 0, 0]], [[0, 1, 0]], [[0, 0, 0]]], np.uint8)  # (4, 1, 3)
    mask = np.ones_like(labels, bool)
    mask[3, 0, 1] = False
    w = balanced_pos_weight(labels, mask, max_weight=10)
    assert w.tolist() == [[3.0, 2.0, 1.0]]  # cell 2 has no positive: weight 1


# --- label mirroring under a horizontal flip --------------------------------------------------------------

def test_sensor_mirror_follows_the_profile_poses() -> None:
    profile = load_profile("sim")
    geometry = LabelGeometry.sensor_distance(profile.sensor_names, [0.0, 0.1])
    mirror = label_mirror(geometry, profile)
    assert mirror == LabelMirror(0, (4, 3, 2, 1, 0))
    order = ["center", "right", "left", "center_left", "center_right"]
    shuffled = LabelGeometry.sensor_distance(order, [0.0, 0.1])
    assert label_mirror(shuffled, profile) == LabelMirror(0, (0, 2, 1, 4, 3))
    data = profile.to_dict()
    data["proximity"]["sensors"][0]["y"] = 0.06  # left no longer mirrors right
    assert label_mirror(geometry, profile_from_dict(data)) is None


def test_grid_mirror_reverses_the_lateral_axis_only_when_symmetric() -> None:
    profile = load_profile("sim")
    grid = LabelGeometry.grid([0.1, 0.2], [-0.1, 0.0, 0.1])
    assert label_mirror(grid, profile) == LabelMirror(1, (2, 1, 0))
    assert label_mirror(LabelGeometry.grid([0.1, 0.2], [-0.1, 0.0, 0.2]), profile) is None
    labels = torch.arange(6).view(1, 2, 3)
    assert LabelMirror(1, (2, 1, 0)).apply(labels).tolist() == [[[2, 1, 0], [5, 4, 3]]]


def test_flip_mirrors_image_labels_and_mask_together() -> None:
    # Column band s of the image is bright where sensor s has an obstacle: a flip must keep that true.
    n, sensors = 16, 5
    labels = torch.randint(0, 2, (n, sensors, 3), dtype=torch.uint8)
    mask = torch.rand(n, sensors, 3) < 0.5
    images = torch.zeros(n, 3, 8, 5 * 4, dtype=torch.uint8)
    for s in range(sensors):
        images[:, :, :, 4 * s:4 * s + 4] = (labels[:, s, 0] * 200)[:, None, None, None]
    config = AugmentConfig(flip=1.0, brightness=0, contrast=0, saturation=0, grayscale=0, noise=0)
    out_images, out_labels, out_mask = Augment(config, LabelMirror(0, (4, 3, 2, 1, 0)))(images, labels, mask)
    assert torch.equal(out_images, images.flip(-1))
    assert torch.equal(out_labels, labels.flip(1)) and torch.equal(out_mask, mask.flip(1))
    for s in range(sensors):
        assert torch.equal(out_images[:, 0, 0, 4 * s] > 0, out_labels[:, s, 0] == 1)


def test_photometric_augmentation_keeps_labels_and_uint8() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 16, 20), dtype=torch.uint8)
    labels, mask = torch.ones(6, 5, 3, dtype=torch.uint8), torch.ones(6, 5, 3, dtype=torch.bool)
    original = images.clone()
    gray = AugmentConfig(flip=0.0, grayscale=1.0, noise=0.0)
    out, out_labels, out_mask = Augment(gray, None)(images, labels, mask)
    assert out.dtype == torch.uint8 and out.shape == images.shape and not torch.equal(out, images)
    assert torch.equal(out[:, 0], out[:, 1])  # grayscale with p=1
    assert torch.equal(out_labels, labels) and torch.equal(out_mask, mask)
    noise = AugmentConfig(flip=0.0, brightness=0, contrast=0, saturation=0, grayscale=0.0, noise=1.0)
    noisy, _, _ = Augment(noise, None)(images, labels, mask)
    assert 0 < (noisy.float() - images.float()).abs().mean() < 0.1 * 255
    assert torch.equal(images, original)  # inputs untouched


# --- split and batches ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", recordings=12, frames=10,
                                  recordings_per_group=2, distance_step=0.1, image_hw=(16, 20))


def test_split_keeps_every_group_in_one_part(tiny: Path) -> None:
    ds = load_dataset(tiny)
    groups = ds.groups()
    split = split_recordings(ds, 0.2, 0.2, seed=3)
    parts = [{groups[i] for i in p} for p in (split.train, split.val, split.test)]
    assert all(parts)
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sorted(split.train + split.val + split.test) == list(range(12))
    thin = split_recordings(ds, 0.2, 0.2, seed=3, train_fraction=0.25)
    assert set(thin.train) < set(split.train) and len(thin.train) == round(0.25 * len(split.train))
    assert thin.val == split.val and thin.test == split.test


def test_batches_mix_recordings_and_stay_uint8(tiny: Path) -> None:
    ds = load_dataset(tiny)
    indices = ds.indices(list(range(12)))
    loader = make_loader(tiny, indices, 16, shuffle=True, seed=1)
    set_epoch(loader, 0, seed=1)
    first = [b["index"].clone() for b in loader]
    batch = next(iter(loader))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (16, 3, 16, 20)
    assert batch["mask"].dtype == torch.bool and batch["labels"].shape == (16, 5, 4)
    assert len(np.unique(ds.recording[batch["index"].numpy()])) > 3  # not a contiguous slice
    set_epoch(loader, 0, seed=1)
    # Reproducible per epoch.
    assert all(torch.equal(a, b["index"]) for a, b in zip(first, loader, strict=True))
    ordered = make_loader(tiny, indices, 50, shuffle=False, with_truth=True)
    got = torch.cat([b["index"] for b in ordered]).numpy()
    assert np.array_equal(got, indices)
    b = next(iter(ordered))
    assert np.array_equal(b["image"].permute(0, 2, 3, 1).numpy(), ds.frames[got[:50]])
    assert np.array_equal(b["truth"].numpy(), ds.truth[got[:50]])


# --- AUC --------------------------------------------------------------------------------------------------

def _pair_count_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_matches_brute_force_pair_counting_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        scores = rng.integers(0, 6, n).astype(float)  # many ties
        labels = rng.integers(0, 2, n)
        expected = _pair_count_auc(scores, labels)
        got = roc_auc(scores, labels)
        assert (math.isnan(expected) and math.isnan(got)) or got == pytest.approx(expected, abs=1e-12)


def test_auc_table_uses_known_cells_and_leaves_single_class_cells_undefined() -> None:
    rng = np.random.default_rng(1)
    probs = rng.random((40, 2, 2))
    labels = (probs > 0.5).astype(np.uint8)
    mask = np.ones_like(labels, bool)
    labels[:, 1, 1] = 1  # one class only
    wrong = labels.copy()
    wrong[:10, 0, 1] = 1 - wrong[:10, 0, 1]
    mask[:10, 0, 1] = False  # the flipped labels are unknown: they must not count
    table = auc_table(probs, wrong, mask)
    assert table[0, 0] == 1.0 and table[0, 1] == 1.0 and math.isnan(table[1, 1])
    assert mean_auc(table) == 1.0
    assert math.isnan(mean_auc(np.full((2, 2), np.nan)))


def test_bootstrap_by_recording_brackets_the_estimate() -> None:
    rng = np.random.default_rng(2)
    n, recordings = 400, 8
    labels = rng.integers(0, 2, (n, 1, 2)).astype(np.uint8)
    probs = labels + rng.normal(0, 0.8, (n, 1, 2))
    mask = np.ones_like(labels, bool)
    recording = np.repeat(np.arange(recordings), n // recordings)
    boot = bootstrap_auc(probs, labels, mask, recording, replicates=300, seed=0)
    estimate = mean_auc(auc_table(probs, labels, mask))
    assert boot.mean_low < estimate < boot.mean_high
    assert (boot.low <= boot.high).all() and boot.replicates == 300
    same = bootstrap_auc(probs, labels, mask, np.zeros(n), replicates=50)  # one recording: no spread
    assert same.mean_low == pytest.approx(estimate) and same.mean_high == pytest.approx(estimate)


# --- recipes ----------------------------------------------------------------------------------------------

def test_recipes_in_training_load_and_validate() -> None:
    for name in ("quick", "loop", "paper_cnn", "resnet18", "mobilenet_v3_small", "quality",
                 "quality_mobilenet"):
        assert load_recipe(name).epochs >= 1


def test_recipe_overrides_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("model: resnet18\nepochs: 3\naugment: {flip: 0.0}\n")
    overrides = parse_overrides(["lr=0.01", "augment.noise=0", "pos_weight=auto", "mean=[0,0,0]"])
    recipe = load_recipe(path, overrides)
    assert (recipe.model, recipe.epochs, recipe.lr, recipe.pos_weight) == ("resnet18", 3, 0.01, "auto")
    assert recipe.augment.flip == 0.0 and recipe.augment.noise == 0.0 and recipe.mean == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="unknown recipe key"):
        load_recipe(None, {"learning_rate": 1})
    with pytest.raises(ConfigError, match="recipe field epochs is 'ten'"):
        load_recipe(None, {"epochs": "ten"})
    with pytest.raises(ConfigError, match=r"augment\.flip"):
        load_recipe(None, {"augment.flip": 2})
    with pytest.raises(ConfigError, match="freeze"):
        load_recipe(None, {"freeze": True})
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lr"])
    with pytest.raises(ConfigError, match="neither a file nor one of"):
        load_recipe("no_such_recipe")


# --- checkpoints ------------------------------------------------------------------------------------------

def test_checkpoint_round_trip_with_weights_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Detector(build_encoder("mobilenet_v3_small", (32, 40)), (5, 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3, 32, 40)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
             "config": {"model": "mobilenet_v3_small", "mean": [0.5, 0.5, 0.5], "split": {"test": ["a"]}}}
    save_checkpoint(tmp_path / "ck" / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "ck" / "last.pt")
    again = Detector(build_encoder("mobilenet_v3_small", (32, 40)), (5, 4))
    again.load_state_dict(loaded["model"])
    x = torch.randn(2, 3, 32, 40)
    assert torch.equal(model.eval()(x), again.eval()(x))
    restored = torch.optim.AdamW(again.parameters(), lr=1e-3)
    restored.load_state_dict(loaded["optimizer"])
    assert loaded["epoch"] == 3 and loaded["config"] == state["config"]

    torch.save({"model": Path("x")}, tmp_path / "unsafe.pt")  # arbitrary objects are refused
    with pytest.raises(TrainingError, match="cannot be loaded safely"):
        load_checkpoint(tmp_path / "unsafe.pt")
    with pytest.raises(TrainingError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_train_step_under_autocast_and_channels_last() -> None:
    # The GPU path (bf16 autocast, channels_last) on CPU: the loss stays finite and the weights move.
    torch.manual_seed(0)
    model = Detector(build_encoder("mobilenet_v3_small", (32, 40)), (5, 4))
    model = model.to(memory_format=torch.channels_last)
    before = [p.detach().clone() for p in model.parameters()]
    batch = {"image": torch.randint(0, 256, (4, 3, 32, 40), dtype=torch.uint8),
             "labels": torch.randint(0, 2, (4, 5, 4), dtype=torch.uint8),
             "mask": torch.ones(4, 5, 4, dtype=torch.bool)}
    setup = StepSetup(torch.device("cpu"), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
                      pos_weight=torch.full((5, 4), 2.0), channels_last=True)
    with autocast(torch.device("cpu"), torch.bfloat16):
        loss = detector_loss(model, batch, setup)
    optimizer_step(loss, torch.optim.AdamW(model.parameters(), lr=1e-3), None)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
