"""Synthetic datasets whose frames encode obstacle distance: for tests, benchmarks and smoke runs.

Each frame shows, in one vertical band per sensor (left sensor on the left), a dark block whose lower
edge sits lower in the image the nearer the obstacle is, like a floor-level obstacle seen by a pitched
camera. Labels follow the sensor x distance rule (sensor s reads an obstacle after driving d metres
when its obstacle is closer than d + threshold), known with a probability that falls with distance,
and the dense truth is stored as the simulator would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ros_ssl.config import load_profile
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import DatasetWriter


def make_synthetic_dataset(path: str | Path, recordings: int = 6, frames: int = 64, seed: int = 0,
                           distance_step: float = 0.05, image_hw: tuple[int, int] = (64, 80),
                           recordings_per_group: int = 1) -> Path:
    """Write a dataset of ``recordings`` x ``frames`` frames (sim profile sensors) to ``path``."""
    profile = load_profile("sim")
    distances = np.round(np.arange(0.0, 0.30 + 1e-9, distance_step), 6)
    sensors = profile.sensor_names
    threshold = profile.proximity.obstacle_threshold
    geometry = LabelGeometry.sensor_distance(sensors, distances.tolist())
    writer = DatasetWriter(path, geometry, image_hw, profile)
    rng = np.random.default_rng(seed)
    h, w = image_hw
    band = w // len(sensors)
    for r in range(recordings):
        obstacle = np.where(rng.random((frames, len(sensors))) < 0.6,
                            rng.uniform(0.0, 0.5, (frames, len(sensors))), np.inf)
        labels = (obstacle[:, :, None] - distances[None, None, :] < threshold).astype(np.uint8)
        mask = rng.random(labels.shape) < np.clip(0.9 - 2.0 * distances, 0.2, 1.0)
        background = rng.integers(90, 200, (frames, 1, 1, 3))
        images = background + rng.integers(-12, 13, (frames, h, w, 3))
        for i in range(frames):
            for s in range(len(sensors)):
                if np.isfinite(obstacle[i, s]):
                    bottom = round((h - 1) - obstacle[i, s] / 0.5 * 0.8 * (h - 1))
                    images[i, : bottom + 1, s * band:(s + 1) * band] -= 70
        t = np.arange(frames) / 15.0
        arrays = {"frames": np.clip(images, 0, 255).astype(np.uint8), "labels": labels,
                  "mask": mask.astype(np.uint8), "truth": labels.copy(), "stamps": t,
                  "poses": np.stack([0.1 * t, np.zeros(frames), np.zeros(frames)], axis=1)}
        writer.append({"id": f"synthetic_{seed}_{r}", "group": f"world{r // recordings_per_group}"}, arrays)
    return Path(path)
