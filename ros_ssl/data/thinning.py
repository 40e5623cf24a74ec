"""Thinning the near-duplicate frames of a robot that stands still.

A robot stalled against an obstacle, or stopped because it cannot see, keeps recording the same image
with the same labels: 73 % of one sim-loop bag was such frames. Trained on as they come, they outweigh
the driving; one frame in ``every`` of each still spell keeps what they show at its share.
"""

from __future__ import annotations

import numpy as np

from ros_ssl.data.store import Dataset
from ros_ssl.msgs.poses import wrap_angle

# Odometry that moved less than this since the previous frame counts as standing still.
STILL_M = 1e-4
STILL_RAD = 1e-3


def still_keep(poses: np.ndarray, every: int) -> np.ndarray:
    """Which frames of one recording's (n, 3) odometry poses (x, y, yaw) to keep: every moving frame, and
    every ``every``-th frame of each run of still ones (``every`` <= 1 keeps all)."""
    n = len(poses)
    if every <= 1 or n == 0:
        return np.ones(n, bool)
    step = np.diff(poses, axis=0)
    turn = np.abs(wrap_angle(step[:, 2]))
    still = np.concatenate([[False], (np.hypot(step[:, 0], step[:, 1]) < STILL_M) & (turn < STILL_RAD)])
    index = np.arange(n)
    run = index - np.maximum.accumulate(np.where(still, 0, index))  # position within the still run
    return np.asarray(run % every == 0)


def thin_still(ds: Dataset, recordings: list[int], every: int) -> np.ndarray:
    """Frame indices of ``recordings`` (in order), still spells thinned to one frame in ``every``."""
    parts = [ds.indices([r]) for r in recordings]
    kept = [idx[still_keep(np.asarray(ds.poses[idx]), every)] for idx in parts]
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)
