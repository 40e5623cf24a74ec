"""Odometry as a clean piecewise trajectory: sorted, de-duplicated, split at resets and gaps.

Association must never interpolate across a gap or a reset and never invent a pose it does not
have, so every time asked about gets either a pose and a segment id, or the reason why not. Bad
input is repaired where the repair is exact (sorting, dropping duplicate stamps) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

NS = 1_000_000_000


class Reason(IntEnum):
    """Why a time has no pose (0 = it has one). Also the step kinds between odometry samples."""

    OK = 0
    BEFORE_FIRST_POSE = 1
    AFTER_LAST_POSE = 2
    ODOM_GAP = 3
    ODOM_RESET = 4


REASON_KEYS: dict[Reason, str] = {r: r.name.lower() for r in Reason if r != Reason.OK}


@dataclass(frozen=True)
class PoseQuery:
    """Poses at query times. Rows whose ``reason`` is not OK carry NaN poses and segment -1."""

    pose: np.ndarray  # (N, 3) x, y, yaw (yaw continuous within a segment, not wrapped)
    segment: np.ndarray  # (N,) int64
    reason: np.ndarray  # (N,) int8 Reason

    @property
    def ok(self) -> np.ndarray:
        return np.asarray(self.reason == Reason.OK)


@dataclass(frozen=True)
class Trajectory:
    """Odometry samples with strictly increasing stamps, cut into segments that are safe to interpolate."""

    t_ns: np.ndarray  # (K,) int64, strictly increasing
    pose: np.ndarray  # (K, 3) x, y, unwrapped yaw
    step: np.ndarray  # (K-1,) int8: Reason.OK, ODOM_GAP or ODOM_RESET between sample k and k+1
    segment: np.ndarray  # (K,) int64 segment id of each sample
    segment_end_ns: np.ndarray  # (n_segments,) int64 stamp of each segment's last sample
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t_ns)

    def poses_at(self, t_ns: np.ndarray) -> PoseQuery:
        """Interpolate linearly in x, y and unwrapped yaw; exact at sample stamps; never across a cut."""
        t_ns = np.asarray(t_ns, np.int64).reshape(-1)
        n, k = len(t_ns), len(self.t_ns)
        pose = np.full((n, 3), np.nan)
        segment = np.full(n, -1, np.int64)
        reason = np.full(n, Reason.BEFORE_FIRST_POSE, np.int8)
        if k == 0:
            return PoseQuery(pose, segment, reason)
        i = np.searchsorted(self.t_ns, t_ns, side="right") - 1
        ic = np.clip(i, 0, k - 1)
        exact = (i >= 0) & (self.t_ns[ic] == t_ns)
        reason[i >= k - 1] = Reason.AFTER_LAST_POSE
        inner = (i >= 0) & (i < k - 1) & ~exact
        if k > 1:
            j = np.clip(i, 0, k - 2)
            reason[inner] = self.step[j[inner]]
            interp = inner & (self.step[j] == Reason.OK)
            jj = j[interp]
            t0, t1 = self.t_ns[jj], self.t_ns[jj + 1]
            w = ((t_ns[interp] - t0) / (t1 - t0))[:, None]
            pose[interp] = self.pose[jj] + w * (self.pose[jj + 1] - self.pose[jj])
            segment[interp] = self.segment[jj]
        pose[exact] = self.pose[ic[exact]]
        segment[exact] = self.segment[ic[exact]]
        reason[exact] = Reason.OK
        return PoseQuery(pose, segment, reason)

    def median_interval_s(self) -> float:
        """Median time between consecutive odometry samples (seconds); 0 with fewer than two."""
        return float(np.median(np.diff(self.t_ns))) / NS if len(self.t_ns) > 1 else 0.0

    def step_speeds(self, kind: Reason) -> np.ndarray:
        """Speeds (m/s) of the steps between samples that are of ``kind`` (e.g. the ODOM_RESET cuts)."""
        k = np.flatnonzero(self.step == kind)
        dt = (self.t_ns[k + 1] - self.t_ns[k]) / NS
        return np.asarray(np.hypot(*(self.pose[k + 1, :2] - self.pose[k, :2]).T) / dt)

    def max_displacement(self) -> float:
        """Largest distance from a segment's first pose reached within that segment (metres)."""
        if not len(self.t_ns):
            return 0.0
        starts = np.r_[0, np.flatnonzero(np.diff(self.segment)) + 1]
        origin = self.pose[starts][np.searchsorted(starts, np.arange(len(self.t_ns)), side="right") - 1]
        return float(np.hypot(*(self.pose[:, :2] - origin[:, :2]).T).max())


def clean_trajectory(t_ns: np.ndarray, poses: np.ndarray, max_speed: float, max_gap_s: float) -> Trajectory:
    """Sort by stamp, drop duplicate stamps and non-finite poses, cut at gaps and at resets.

    A step longer than ``max_gap_s`` is a gap; a step whose speed exceeds ``max_speed`` (m/s) is a
    reset (odometry jumping back to its origin, or a clock jump). Counts go to ``Trajectory.counts``.
    """
    t_ns = np.asarray(t_ns, np.int64).reshape(-1)
    poses = np.asarray(poses, np.float64).reshape(-1, 3)
    counts = {"odom_messages": len(t_ns)}
    counts["odom_out_of_order"] = int(np.count_nonzero(np.diff(t_ns) < 0))
    finite = np.isfinite(poses).all(axis=1)
    counts["odom_invalid"] = int(np.count_nonzero(~finite))
    t_ns, poses = t_ns[finite], poses[finite]
    order = np.argsort(t_ns, kind="stable")
    t_ns, poses = t_ns[order], poses[order]
    first = np.r_[True, t_ns[1:] != t_ns[:-1]]
    counts["odom_duplicate_stamps"] = int(np.count_nonzero(~first))
    t_ns, poses = t_ns[first], poses[first]
    poses = np.column_stack([poses[:, :2], np.unwrap(poses[:, 2])]) if len(poses) else poses
    dt = np.diff(t_ns) / NS
    jump = np.hypot(*np.diff(poses[:, :2], axis=0).T) if len(poses) else np.zeros(0)
    step = np.full(len(dt), Reason.OK, np.int8)
    step[jump > max_speed * dt] = Reason.ODOM_RESET
    step[dt > max_gap_s] = Reason.ODOM_GAP
    counts["odom_resets"] = int(np.count_nonzero(step == Reason.ODOM_RESET))
    counts["odom_gaps"] = int(np.count_nonzero(step == Reason.ODOM_GAP))
    segment = np.r_[0, np.cumsum(step != Reason.OK)].astype(np.int64) if len(t_ns) else np.zeros(0, np.int64)
    last = np.r_[segment[1:] != segment[:-1], True] if len(t_ns) else np.zeros(0, bool)
    counts["odom_segments"] = int(segment[-1] + 1) if len(t_ns) else 0
    return Trajectory(t_ns, poses, step, segment, t_ns[last], counts)


def clean_readings(t_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """One sensor's readings sorted by stamp, first of each duplicated stamp kept, NaN (invalid) dropped."""
    t_ns = np.asarray(t_ns, np.int64).reshape(-1)
    values = np.asarray(values, np.float64).reshape(-1)
    counts = {"readings": len(t_ns), "readings_out_of_order": int(np.count_nonzero(np.diff(t_ns) < 0))}
    order = np.argsort(t_ns, kind="stable")
    t_ns, values = t_ns[order], values[order]
    first = np.r_[True, t_ns[1:] != t_ns[:-1]] if len(t_ns) else np.zeros(0, bool)
    counts["readings_duplicate_stamps"] = int(np.count_nonzero(~first))
    t_ns, values = t_ns[first], values[first]
    valid = ~np.isnan(values)
    counts["readings_invalid"] = int(np.count_nonzero(~valid))
    return t_ns[valid], values[valid], counts
