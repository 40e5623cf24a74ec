"""Still-frame thinning (recipe ``still_every``): pure keep mask, a real dataset on disk, and the trainer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ros_ssl.config import load_profile
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import DatasetWriter, load_dataset
from ros_ssl.data.thinning import still_keep, thin_still
from ros_ssl.train import trainer
from ros_ssl.train.recipe import load_recipe

torch.set_num_threads(1)


def _poses(xs: list[float], yaws: list[float] | None = None) -> np.ndarray:
    yaw = np.zeros(len(xs)) if yaws is None else np.asarray(yaws)
    return np.column_stack([xs, np.zeros(len(xs)), yaw])


def test_moving_frames_stay_and_still_spells_keep_one_in_every() -> None:
    # Moves for 3 frames, stands still for 5 (run positions 1..5), moves again.
    poses = _poses([0.0, 0.01, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.04])
    assert still_keep(poses, 3).tolist() == [True, True, True, False, False, True, False, False, True, True]
    assert still_keep(poses, 0).all() and still_keep(poses, 1).all()
    assert still_keep(np.zeros((0, 3)), 5).shape == (0,)


def test_turning_in_place_is_not_standing_still_even_across_the_yaw_wrap() -> None:
    turning = _poses([0.0] * 4, [3.1, -3.13, -3.08, -3.03])  # crosses +-pi: small real turns
    assert still_keep(turning, 10).all()
    wrapped = _poses([0.0] * 3, [np.pi, -np.pi, np.pi])  # the same heading written both ways
    assert still_keep(wrapped, 10).tolist() == [True, False, False]


def _dataset(path: Path, recordings: list[np.ndarray]) -> Path:
    profile = load_profile("sim")
    distances = [0.0, 0.1, 0.2, 0.3]
    writer = DatasetWriter(path, LabelGeometry.sensor_distance(profile.sensor_names, distances), (16, 20),
                           profile)
    rng = np.random.default_rng(0)
    shape = (len(profile.sensor_names), len(distances))
    for k, poses in enumerate(recordings):
        n = len(poses)
        labels = (rng.random((n, *shape)) < 0.3).astype(np.uint8)
        writer.append({"id": f"rec_{k}", "group": f"world{k}"}, {
            "frames": rng.integers(0, 255, (n, 16, 20, 3), dtype=np.uint8), "labels": labels,
            "mask": np.ones((n, *shape), np.uint8), "truth": labels.copy(),
            "stamps": np.arange(n) / 15.0, "poses": poses})
    return path


def test_thin_still_reads_each_recording_on_its_own(tmp_path: Path) -> None:
    # The first recording ends standing still at the origin, where the second one starts: the second
    # one's first frame is its own start, not the continuation of the first one's still spell.
    still_end = _poses([0.0, 0.0, 0.0, 0.0, 0.0])
    moving = _poses([0.0, 0.05, 0.1, 0.15])
    ds = load_dataset(_dataset(tmp_path / "ds", [still_end, moving]))
    assert thin_still(ds, [0, 1], 2).tolist() == [0, 2, 4, 5, 6, 7, 8]
    assert thin_still(ds, [1], 2).tolist() == [5, 6, 7, 8]
    assert thin_still(ds, [0, 1], 0).tolist() == ds.indices([0, 1]).tolist()


def test_the_trainer_takes_only_the_thinned_frames(tmp_path: Path, monkeypatch: Any) -> None:
    stalled = _poses([0.0, 0.02, 0.04] + [0.04] * 60)  # drives 3 frames, then stalls for 60
    path = _dataset(tmp_path / "ds", [stalled, _poses(list(np.arange(40) * 0.01))])
    seen: list[np.ndarray] = []
    real = trainer.make_loader

    def spy(ds_path: Any, indices: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        seen.append(np.asarray(indices))
        return real(ds_path, indices, *args, **kwargs)

    monkeypatch.setattr(trainer, "make_loader", spy)
    recipe = replace(load_recipe("quick"), epochs=1, batch_size=16, val_fraction=0.0, test_fraction=0.0,
                     still_every=20, amp=False).validate()
    trainer.train(path, tmp_path / "run", recipe, progress=False)
    # Recording 0: 3 moving frames + still positions 20, 40, 60; recording 1: all 40 frames.
    assert seen[0].tolist() == [0, 1, 2, 22, 42, 62, *range(63, 103)]
