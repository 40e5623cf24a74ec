"""Robot-aware positives: frames close in time and odometry pose show the same place.

Two frames are *near* when they come from the same recording (odometry poses of different recordings
live in different frames), their stamps differ by at most ``max_dt`` and their odometry poses by at most
``max_dist`` metres and ``max_yaw`` radians. ``neighbour_table`` lists each frame's near frames, for
sampling a second view from another frame; ``near_mask`` marks near pairs within a batch, the positives
of the multi-positive NT-Xent. Every other frame in the batch, another place, is a negative.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from ros_ssl.ssl.recipe import Neighbourhood

# The same test runs on numpy arrays (the neighbour table) and on tensors (a batch, on its device).
ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


def _near(dt: ArrayT, dx: ArrayT, dy: ArrayT, dyaw: ArrayT, hood: Neighbourhood) -> ArrayT:
    # abs(atan2(sin, cos)) wraps the heading difference into [0, pi].
    if isinstance(dyaw, Tensor):
        yaw = abs(torch.arctan2(torch.sin(dyaw), torch.cos(dyaw)))
    else:
        yaw = abs(np.arctan2(np.sin(dyaw), np.cos(dyaw)))
    near: ArrayT = ((abs(dt) <= hood.max_dt) & (dx * dx + dy * dy <= hood.max_dist ** 2)
                    & (yaw <= hood.max_yaw))
    return near


def neighbour_table(stamps: np.ndarray, poses: np.ndarray, recording: np.ndarray,
                    hood: Neighbourhood) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's near frames (itself excluded) as CSR: frame i's are ``index[offset[i]:offset[i + 1]]``.

    Only frames within ``max_dt`` in the same recording are compared, so the cost is N times the number
    of frames in a ``max_dt`` window, not N squared.
    """
    stamps = np.asarray(stamps, np.float64)
    poses = np.asarray(poses, np.float64)
    recording = np.asarray(recording)
    n = len(stamps)
    order = np.lexsort((stamps, recording))
    key_rec, key_t = recording[order], stamps[order]
    found: list[np.ndarray] = []
    counts = np.zeros(n, np.int64)
    for pos, i in enumerate(order):
        lo = np.searchsorted(key_rec, key_rec[pos], "left")
        hi = np.searchsorted(key_rec, key_rec[pos], "right")
        a = lo + np.searchsorted(key_t[lo:hi], key_t[pos] - hood.max_dt, "left")
        b = lo + np.searchsorted(key_t[lo:hi], key_t[pos] + hood.max_dt, "right")
        cand = order[a:b]
        cand = cand[cand != i]
        d = poses[cand] - poses[i]
        cand = cand[_near(stamps[cand] - stamps[i], d[:, 0], d[:, 1], d[:, 2], hood)]
        found.append(np.sort(cand))
        counts[i] = len(cand)
    offset = np.concatenate([[0], np.cumsum(counts)])
    index = np.empty(offset[-1], np.int64)
    for i, cand in zip(order, found, strict=True):
        index[offset[i]:offset[i + 1]] = cand
    return offset, index


def near_mask(stamps: Tensor, poses: Tensor, recording: Tensor, hood: Neighbourhood) -> Tensor:
    """(M, M) bool: True where batch items i and j are near (the diagonal is True)."""
    dt = stamps[:, None] - stamps[None, :]
    d = poses[:, None, :] - poses[None, :, :]
    same = recording[:, None] == recording[None, :]
    return same & _near(dt, d[..., 0], d[..., 1], d[..., 2], hood)


def relative_motion(start: Tensor, end: Tensor) -> Tensor:
    """(N, 3) odometry pose change from ``start`` to ``end`` ((N, 3) x, y, yaw) in the start frame's axes.

    (forward, left, turn): what the robot did between two frames of one recording, the ego-motion target.
    """
    dx, dy = end[:, 0] - start[:, 0], end[:, 1] - start[:, 1]
    cos, sin = torch.cos(start[:, 2]), torch.sin(start[:, 2])
    dyaw = end[:, 2] - start[:, 2]
    turn = torch.arctan2(torch.sin(dyaw), torch.cos(dyaw))
    return torch.stack([cos * dx + sin * dy, -sin * dx + cos * dy, turn], dim=1)
