"""Candidate (frame, later reading) pairs: same odometry segment, within the time window, near enough.

Proximity readings of all sensors are put on one time axis (their unique stamps), each with the
odometry pose interpolated at that stamp, so a pose is computed once per instant even when sensors
share stamps (a LaserScan, or a driver that publishes all Range topics together). Pairs are made
for many frames at once: the window of frame f is a contiguous index range [lo, hi) of that axis,
cut into blocks whose bounding circles are tested against the region the frame cares about, and
only blocks that can reach it are expanded. No per-frame Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ros_ssl.label.trajectory import PoseQuery, Reason, Trajectory, clean_readings

# Readings per block of the pruning pass (five 20 Hz topics on their own stamps: 0.16 s per block).
BLOCK = 16
# Frames per chunk: keeps one pass's temporaries (~20k pairs) in cache; measured fastest of 32..2048.
FRAME_CHUNK = 64


@dataclass(frozen=True)
class Readings:
    """Valid proximity readings on one time axis, each with the robot pose at its stamp."""

    t_ns: np.ndarray  # (U,) int64 strictly increasing, every stamp posed
    pose: np.ndarray  # (U, 3) x, y, continuous yaw
    segment: np.ndarray  # (U,) int64
    values: np.ndarray  # (U, S) metres (REP 117); NaN = this sensor has no valid reading at this stamp
    counts: list[dict[str, int]] = field(default_factory=list)  # per sensor


def posed_readings(traj: Trajectory, range_ns: list[np.ndarray], ranges: list[np.ndarray]) -> Readings:
    """Merge per-sensor readings onto their unique stamps and keep the stamps odometry can pose."""
    cleaned = [clean_readings(t, v) for t, v in zip(range_ns, ranges, strict=True)]
    stamps = [c[0] for c in cleaned]
    all_ns = np.concatenate(stamps) if stamps else np.zeros(0, np.int64)
    u_ns, inverse = np.unique(all_ns, return_inverse=True)
    values = np.full((len(u_ns), len(cleaned)), np.nan)
    start = 0
    for s, (t, v, _) in enumerate(cleaned):
        values[inverse[start:start + len(t)], s] = v
        start += len(t)
    q = traj.poses_at(u_ns)
    counts = []
    for s, (_, _, c) in enumerate(cleaned):
        has = ~np.isnan(values[:, s])
        counts.append(dict(c, readings_unposed=int(np.count_nonzero(has & ~q.ok))))
    ok = q.ok
    return Readings(u_ns[ok], q.pose[ok], q.segment[ok], values[ok], counts)


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs: frame row (index into the chunk) and reading index, frame-major, time-ascending."""

    frame: np.ndarray  # (P,) int64
    reading: np.ndarray  # (P,) int64


def ragged(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner row and value of every element of the ranges [starts[i], starts[i] + counts[i])."""
    counts = np.maximum(counts, 0)
    ends = np.cumsum(counts)
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(int(ends[-1]) if len(ends) else 0) + (starts - ends + counts)[owner]


class PairFinder:
    """For frames posed by ``traj``: the later readings inside a circle fixed in each frame's body frame."""

    def __init__(self, traj: Trajectory, readings: Readings, window_ns: int) -> None:
        self.traj, self.readings, self.window_ns = traj, readings, int(window_ns)
        xy = readings.pose[:, :2]
        n_blocks = -(-len(xy) // BLOCK)
        pad = n_blocks * BLOCK - len(xy)
        padded = np.concatenate([xy, np.repeat(xy[-1:], pad, axis=0)]) if len(xy) else xy
        blocks = padded.reshape(n_blocks, BLOCK, 2)
        lo, hi = blocks.min(axis=1), blocks.max(axis=1)
        self.block_centre = (lo + hi) / 2
        self.block_radius = np.hypot(*((hi - lo) / 2).T) if n_blocks else np.zeros(0)

    def window(self, frame_ns: np.ndarray, frames: PoseQuery) -> tuple[np.ndarray, np.ndarray]:
        """Index range [lo, hi) of readings with t <= t' <= t + window in the frame's own segment."""
        end = np.minimum(frame_ns + self.window_ns, self.traj.segment_end_ns[np.maximum(frames.segment, 0)])
        lo = np.searchsorted(self.readings.t_ns, frame_ns, side="left")
        hi = np.searchsorted(self.readings.t_ns, end, side="right")
        hi = np.where(frames.reason == Reason.OK, np.maximum(hi, lo), lo)
        return lo, hi

    def pairs(self, frame_ns: np.ndarray, frames: PoseQuery, centre: tuple[float, float],
              radius: float) -> Pairs:
        """Pairs whose reading's base may lie within ``radius`` of ``centre`` (in the frame's body frame)."""
        lo, hi = self.window(frame_ns, frames)
        pose = frames.pose
        c, s = np.cos(pose[:, 2]), np.sin(pose[:, 2])
        cx = pose[:, 0] + c * centre[0] - s * centre[1]
        cy = pose[:, 1] + s * centre[0] + c * centre[1]
        has = hi > lo
        b_lo = lo // BLOCK
        n_b = np.where(has, (hi - 1) // BLOCK - b_lo + 1, 0)
        fb, b = ragged(b_lo, n_b)
        gap = np.hypot(cx[fb] - self.block_centre[b, 0], cy[fb] - self.block_centre[b, 1])
        near = gap <= radius + self.block_radius[b] + 1e-9
        fb, b = fb[near], b[near]
        start = np.maximum(lo[fb], b * BLOCK)
        stop = np.minimum(hi[fb], (b + 1) * BLOCK)
        row, reading = ragged(start, stop - start)
        return Pairs(fb[row], reading)
