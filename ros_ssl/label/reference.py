"""Naive per-frame association: the independent check of ``association`` and its speed baseline.

The same rule as ``ros_ssl.label.association`` written the obvious way: a Python loop over frames,
one homogeneous matrix inverse per frame, every later reading of every sensor tested one by one.
Slow on purpose (tests and benchmarks only); shares nothing with the vectorised path except the
cleaned trajectory and readings.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from ros_ssl.label.association import EPS, Labels, MatchParams
from ros_ssl.label.trajectory import Reason, Trajectory, clean_readings


def _pose_at(traj: Trajectory, ts: list[int], t: int) -> tuple[np.ndarray, int] | None:
    """Pose and segment at integer time ``t`` (``ts`` = the stamps as a list), or None if unposed."""
    i = bisect.bisect_right(ts, t) - 1
    if i < 0:
        return None
    if ts[i] == t:
        return traj.pose[i].copy(), int(traj.segment[i])
    if i >= len(ts) - 1 or traj.step[i] != Reason.OK:
        return None
    w = (t - ts[i]) / (ts[i + 1] - ts[i])
    return traj.pose[i] + w * (traj.pose[i + 1] - traj.pose[i]), int(traj.segment[i])


def _matrix(p: np.ndarray) -> np.ndarray:
    c, s = math.cos(p[2]), math.sin(p[2])
    return np.array([[c, -s, p[0]], [s, c, p[1]], [0.0, 0.0, 1.0]])


def associate_naive(frame_ns: np.ndarray, traj: Trajectory, range_ns: list[np.ndarray],
                    ranges: list[np.ndarray], params: MatchParams) -> Labels:
    """(F, S, D) labels and mask, one frame at a time."""
    dist = params.distances.tolist()
    n_f, n_s, n_d = len(frame_ns), len(range_ns), len(dist)
    labels = np.zeros((n_f, n_s, n_d), np.uint8)
    mask = np.zeros((n_f, n_s, n_d), bool)
    stamps = traj.t_ns.tolist()
    sensors = []
    for t_ns, values in zip(range_ns, ranges, strict=True):
        t_clean, v_clean, _ = clean_readings(t_ns, values)
        sensors.append((t_clean.tolist(), v_clean.tolist()))
    for i, t in enumerate(np.asarray(frame_ns, np.int64).tolist()):
        here = _pose_at(traj, stamps, t)
        if here is None:
            continue
        inverse = np.linalg.inv(_matrix(here[0]))
        for s, (times, values) in enumerate(sensors):
            best = [math.inf] * n_d
            for j in range(bisect.bisect_left(times, t), len(times)):
                if times[j] > t + params.window_ns:
                    break
                there = _pose_at(traj, stamps, times[j])
                if there is None or there[1] != here[1]:
                    continue
                rel = inverse @ _matrix(there[0])
                dx, dy = rel[0, 2], rel[1, 2]
                dth = math.remainder(there[0][2] - here[0][2], 2 * math.pi)
                if abs(dy) > params.tol_y + EPS or abs(dth) > params.tol_theta + EPS:
                    continue
                for k, d in enumerate(dist):
                    if abs(dx - d) > params.tol_x + EPS:
                        continue
                    cost = (((dx - d) / params.tol_x) ** 2 + (dy / params.tol_y) ** 2
                            + (dth / params.tol_theta) ** 2)
                    if cost < best[k]:
                        best[k] = cost
                        labels[i, s, k] = values[j] < params.obstacle_threshold
                        mask[i, s, k] = True
    return Labels(labels, mask)
