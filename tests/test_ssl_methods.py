"""SSL methods, heads, EMA, augmentations and robot-aware positives on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ros_ssl.errors import ConfigError
from ros_ssl.ssl.data import WorldMixSampler
from ros_ssl.ssl.ema import cosine_momentum, ema_update, frozen_copy
from ros_ssl.ssl.methods import BYOL, METHODS, PairTargets, build_method, patch_mask, rotate_square
from ros_ssl.ssl.positives import Neighbourhood, near_mask, neighbour_table, relative_motion
from ros_ssl.ssl.transforms import AugmentConfig, BatchColour, FloorCrop, MultiView, view_transform

torch.set_num_threads(1)
HW = (16, 20)


class TinyEncoder(nn.Module):
    """The encoder interface (``out_dim``, (B, 3, H, W) -> (B, out_dim)) at test size."""

    def __init__(self) -> None:
        super().__init__()
        self.out_dim = 12
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(32, self.out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


SMALL = {"simclr": {"proj_hidden": 16, "proj_dim": 8}, "temporal": {"proj_hidden": 16, "proj_dim": 8},
         "byol": {"proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16}, "vicreg": {"expander_dim": 16},
         "rotation": {"hidden": 16}, "mae": {},
         "egomotion": {"proj_hidden": 16, "proj_dim": 8, "motion_hidden": 16}}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_loss_decreases_on_a_fixed_batch(name: str) -> None:
    torch.manual_seed(0)
    method = build_method(name, TinyEncoder(), HW, SMALL[name])
    base = torch.rand(8, 3, *HW)
    views = [base + 0.05 * torch.randn_like(base) for _ in range(method.n_views)]
    pairs = None
    if name in ("temporal", "egomotion"):  # items 0-3 are one place, 4-7 another: positives are its place
        place = torch.arange(8) // 4
        place = torch.cat([place, place])
        motion = torch.linspace(-1, 1, 24).view(8, 3) if name == "egomotion" else None
        pairs = PairTargets(place[:, None] == place[None, :], motion)
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=1e-2)
    history = []
    for step in range(12):
        loss = method(views, pairs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.after_step(step, 12)
        assert math.isfinite(loss.item())
        history.append(loss.item())
    assert np.mean(history[-3:]) < np.mean(history[:3])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.encoder.parameters())


def test_build_method_rejects_unknown_names_and_parameters() -> None:
    with pytest.raises(ConfigError, match="unknown SSL method 'moco'"):
        build_method("moco", TinyEncoder(), HW, {})
    with pytest.raises(ConfigError, match="has no parameter 'temprature'"):
        build_method("simclr", TinyEncoder(), HW, {"temprature": 0.1})
    with pytest.raises(ConfigError, match="mask_ratio"):
        build_method("mae", TinyEncoder(), HW, {"mask_ratio": 1.5})


def test_ema_update_is_the_weighted_average_and_copies_counters() -> None:
    online = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    target = frozen_copy(online)
    assert not any(p.requires_grad for p in target.parameters())
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    online(torch.randn(4, 3))  # moves BatchNorm running stats and its counter
    ema_update(target, online, 0.9)
    after, src = target.state_dict(), online.state_dict()
    for k in before:
        if before[k].is_floating_point():
            assert torch.allclose(after[k], 0.9 * before[k] + 0.1 * src[k])
        else:
            assert torch.equal(after[k], src[k])


def test_cosine_momentum_endpoints_and_monotone() -> None:
    assert cosine_momentum(0, 100, 0.996) == pytest.approx(0.996)
    assert cosine_momentum(100, 100, 0.996) == pytest.approx(1.0)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    values = [cosine_momentum(s, 10, 0.9) for s in range(11)]
    assert values == sorted(values)


def test_byol_target_moves_towards_online_after_step() -> None:
    torch.manual_seed(1)
    method = BYOL(TinyEncoder(), proj_hidden=16, proj_dim=8, pred_hidden=16, base_momentum=0.5)
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    w_t = method.target_encoder.net[0].weight.clone()
    w_o = method.encoder.net[0].weight.clone()
    method.after_step(0, 2)  # momentum at step 1 of 2: halfway along the cosine from 0.5 to 1
    assert method.momentum == pytest.approx(0.75)
    assert torch.allclose(method.target_encoder.net[0].weight, 0.75 * w_t + 0.25 * w_o)


def test_rotate_square_rotates_the_centre_and_blanks_the_bands() -> None:
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    for k in range(4):
        r = rotate_square(x, k)
        assert r.shape == x.shape
        assert torch.equal(r[..., 1:5], torch.rot90(x[..., 1:5], k, dims=(-2, -1)))
        assert not r[..., [0, 5]].any()
    assert torch.equal(rotate_square(rotate_square(x, 1), 3), rotate_square(x, 0))


def test_patch_mask_hides_the_requested_share_of_patches() -> None:
    m = patch_mask(3, (16, 20), 4, 0.5)
    assert m.shape == (3, 1, 16, 20) and m.dtype == torch.bool
    assert (m.float().mean(dim=(1, 2, 3)) == 0.5).all()  # 4 x 5 patches, 10 hidden, all whole
    assert (m.view(3, 4, 4, 5, 4).float().std(dim=(2, 4)) == 0).all()  # constant within each patch


def test_floor_crop_keeps_dtype_shape_and_bottom_rows() -> None:
    torch.manual_seed(0)
    img = torch.zeros(3, 64, 80, dtype=torch.uint8)
    img[0, -16:] = 255  # red floor band in the bottom quarter
    crop = FloorCrop(scale=(0.3, 1.0))
    for _ in range(50):
        out = crop(img)
        assert out.dtype == torch.uint8 and out.shape == img.shape
        assert (out[0, -1] == 255).all()  # the bottom row is still floor


def test_view_transform_and_multi_view() -> None:
    torch.manual_seed(0)
    img = torch.randint(0, 256, (3, 64, 80), dtype=torch.uint8)
    views = MultiView([view_transform(AugmentConfig()), view_transform(AugmentConfig(blur=1.0))])(img)
    assert isinstance(views, list) and len(views) == 2
    assert all(v.dtype == torch.uint8 and v.shape == img.shape for v in views)
    assert not torch.equal(views[0], views[1])
    with pytest.raises(ConfigError, match=r"augment\.flip"):
        view_transform(AugmentConfig(flip=2.0))


def brute_near(stamps: np.ndarray, poses: np.ndarray, rec: np.ndarray, hood: Neighbourhood, i: int,
               j: int) -> bool:
    dyaw = abs((poses[i, 2] - poses[j, 2] + math.pi) % (2 * math.pi) - math.pi)
    return bool(rec[i] == rec[j] and abs(stamps[i] - stamps[j]) <= hood.max_dt
                and math.hypot(*(poses[i, :2] - poses[j, :2])) <= hood.max_dist and dyaw <= hood.max_yaw)


def test_neighbour_table_and_near_mask_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    n = 60
    rec = np.repeat([0, 1, 2], 20).astype(np.int32)
    stamps = np.tile(np.arange(20) * 0.2, 3) + rng.normal(0, 0.01, n)
    poses = np.cumsum(rng.normal(0, 0.03, (n, 3)), axis=0)
    poses[:, 2] = rng.uniform(-math.pi, math.pi, n) * (rng.random(n) < 0.2) + 3.1  # some wrap around pi
    order = rng.permutation(n)  # the table must not rely on frames being sorted
    stamps, poses, rec = stamps[order], poses[order], rec[order]
    hood = Neighbourhood(max_dt=0.7, max_dist=0.08, max_yaw=0.4)
    offset, index = neighbour_table(stamps, poses, rec, hood)
    mask = near_mask(torch.from_numpy(stamps), torch.from_numpy(poses), torch.from_numpy(rec), hood).numpy()
    for i in range(n):
        want = [j for j in range(n) if j != i and brute_near(stamps, poses, rec, hood, i, j)]
        assert list(index[offset[i]:offset[i + 1]]) == want
        assert [j for j in range(n) if mask[i, j] and j != i] == want
    assert mask.diagonal().all()
    assert 0 < len(index) < n * (n - 1)
    with pytest.raises(ConfigError, match=r"positives\.max_dt"):
        Neighbourhood(max_dt=0).validate()


def test_batch_colour_keeps_grey_grey_and_changes_colours_within_range() -> None:
    torch.manual_seed(0)
    cfg = AugmentConfig(jitter=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.5, grayscale=0.0,
                        blur=0.0, batch_colour=True)
    grey = torch.full((4, 3, 8, 10), 120.0)
    assert torch.allclose(BatchColour(cfg)(grey), grey, atol=1e-3)  # a hue turn leaves grey alone
    red = torch.zeros(64, 3, 8, 10)
    red[:, 0] = 200.0
    out = BatchColour(cfg)(red)
    assert out.min() >= 0 and out.max() <= 255
    assert (out[:, 1].mean((1, 2)) > 50).any() and (out[:, 2].mean((1, 2)) > 50).any()  # red turned
    gray = BatchColour(AugmentConfig(jitter=0.0, grayscale=1.0, blur=0.0, batch_colour=True))(red)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    off = BatchColour(AugmentConfig(jitter=0.0, grayscale=0.0, blur=0.0, batch_colour=True))(red)
    assert torch.equal(off, red)


def test_world_mix_sampler_draws_each_batch_from_few_recordings() -> None:
    recording = np.repeat(np.arange(10), 30)
    sampler = WorldMixSampler(recording, batch_size=16, worlds=2, seed=0)
    positions = list(sampler)
    assert len(positions) == len(sampler) == (300 // 16) * 16
    batches = np.array(positions).reshape(-1, 16)
    assert all(len(np.unique(recording[b])) <= 2 for b in batches)
    assert len(np.unique(recording[batches.ravel()])) > 2  # different batches, different worlds
    assert list(sampler) != positions  # reshuffled on every pass


def test_relative_motion_is_the_pose_change_in_the_start_frame() -> None:
    start = torch.tensor([[1.0, 2.0, math.pi / 2], [0.0, 0.0, 3.0]], dtype=torch.float64)
    end = torch.tensor([[1.0, 2.5, math.pi / 2 + 0.1], [0.0, 0.0, -3.0]], dtype=torch.float64)
    got = relative_motion(start, end)
    # Facing +y, moving +y by 0.5 is 0.5 forward; a turn from 3 to -3 rad is +0.283 (wrapped), not -6.
    assert torch.allclose(got[0], torch.tensor([0.5, 0.0, 0.1], dtype=torch.float64), atol=1e-9)
    assert got[1, 2].item() == pytest.approx(2 * math.pi - 6.0)


def test_egomotion_head_learns_the_motion_target() -> None:
    torch.manual_seed(0)
    method = build_method("egomotion", TinyEncoder(), HW, {"proj_hidden": 16, "proj_dim": 8,
                                                          "motion_hidden": 16, "motion_weight": 1.0})
    a = torch.rand(8, 3, *HW)
    shift = torch.linspace(-1, 1, 8)
    b = torch.roll(a, 2, dims=-1) + shift[:, None, None, None]
    motion = torch.stack([shift, -shift, shift / 2], 1)
    place = torch.arange(8).repeat(2)
    pairs = PairTargets(place[:, None] == place[None, :], motion)
    with_motion = method([a, b], pairs).item()
    without = method([a, b], PairTargets(pairs.positives, None)).item()
    assert with_motion > without  # the motion term adds its (positive) regression loss
