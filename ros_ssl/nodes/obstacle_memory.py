"""Obstacles passed on the side: the predicted obstacles kept in the odometry frame, without ROS.

The proximity sensors, and so the detector that learned from them, cover a fan ahead of the robot (the
sim robot and the Thymio: +-38 degrees). An obstacle the robot drives past leaves that fan before it
leaves the robot's footprint, and the ahead-only ``Avoider`` then turns or drives into it: in the
closed-loop run every contact was on the side, 55-105 degrees off the heading, and with a perfect
detector the robot was wedged against a side obstacle 81 % of the time (``benchmarks/bench_avoid.py``).

``ObstacleMemory`` keeps, for every sensor whose free distance is f, points on its ray after driving
f (from 2 cm to the obstacle threshold: where the obstacle that fires it can be), in the odometry frame,
for ``keep_s`` seconds. ``choose`` then keeps the avoider's command if the footprint, rolled out for
``horizon_s`` seconds under it, stays ``margin`` clear of every point (or gets no closer than now), and
otherwise turns in place the way that is clear, or stops. A wrong cell must not freeze the robot: a
point is kept only when the previous prediction, or the memory, holds one within ``confirm`` of it (an
obstacle is seen again; an isolated wrong cell is not). Points are placed with the newest odometry pose
when the prediction arrives, so the detector's latency shifts them by latency x speed (5 mm at 50 ms and
0.1 m/s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ros_ssl.msgs.poses import Pose, arc_step

RAY_FROM = 0.02  # nearest of the points put on a firing sensor's ray (m)
RAY_POINTS = 3
STEP_S = 0.05  # rollout step (s)
SAME_POINT = 0.005  # a confirmed point this close to a remembered one refreshes it instead (m)


@dataclass(frozen=True)
class Footprint:
    """The robot's collision circle: ``x`` metres ahead of base_link, ``radius`` metres."""

    x: float = 0.025
    radius: float = 0.068


@dataclass(frozen=True)
class MemoryParams:
    keep_s: float = 5.0  # forget a point this long after it was seen (s)
    horizon_s: float = 0.6  # roll a command out this far ahead (s)
    margin: float = 0.005  # clearance (m) a command must keep between the footprint and any point
    confirm: float = 0.02  # a point is kept if the previous prediction or the memory has one this close (m)
    reach: float = 0.6  # forget points farther than this from the robot (m)


class ObstacleMemory:
    """Points where predicted obstacles can be, in the odometry frame; a filter on velocity commands.

    ``sensors`` are (x, y, yaw) of each sensor in base_link, in the model's sensor order; ``threshold``
    is the range (m) below which a sensor reads "obstacle" (the profile's ``obstacle_threshold``).
    """

    def __init__(self, sensors: Sequence[tuple[float, float, float]], threshold: float,
                 footprint: Footprint = Footprint(), params: MemoryParams = MemoryParams()) -> None:
        sensor = np.asarray(sensors, np.float64).reshape(-1, 3)
        ray = np.linspace(RAY_FROM, max(threshold, RAY_FROM), RAY_POINTS)
        # (S, P, 2): each sensor's candidate points in base_link at free distance 0.
        self._offsets = np.stack([sensor[:, 0, None] + ray * np.cos(sensor[:, 2, None]),
                                  sensor[:, 1, None] + ray * np.sin(sensor[:, 2, None])], -1)
        self.footprint, self.params = footprint, params
        self._points = np.zeros((0, 2))  # confirmed, odom frame
        self._seen = np.zeros(0)  # when each confirmed point was last seen (s)
        self._last = np.zeros((0, 2))  # the previous prediction's points, awaiting confirmation

    def __len__(self) -> int:
        return len(self._points)

    def clear(self) -> None:
        """Forget everything (odometry reset, odometry lost)."""
        self._points, self._seen, self._last = np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2))

    def observe(self, free: np.ndarray, horizon: float, pose: Pose, now_s: float) -> None:
        """Add the obstacles of one prediction: ``free`` (S,) free distances, ``horizon`` the farthest
        predicted distance (a sensor free that far sees nothing: an obstacle first predicted in the last
        cell is remembered once it is seen nearer), ``pose`` the odometry pose."""
        free = np.asarray(free, np.float64)
        firing = np.isfinite(free) & (free < horizon)
        local = self._offsets[firing] + np.stack([free[firing], np.zeros(int(firing.sum()))], -1)[:, None]
        new = _to_frame(local.reshape(-1, 2), pose)
        known = np.concatenate([self._last, self._points])
        if len(new) and len(known):
            confirmed = new[_distances(new, known).min(axis=1) <= self.params.confirm]
            if len(self._points) and len(confirmed):  # seen again where a point is: refresh it, no copy
                gap = _distances(confirmed, self._points)
                again = gap.min(axis=1) <= SAME_POINT
                self._seen[gap[again].argmin(axis=1)] = now_s
                confirmed = confirmed[~again]
            self._points = np.concatenate([self._points, confirmed])
            self._seen = np.concatenate([self._seen, np.full(len(confirmed), now_s)])
        self._last = new
        keep = now_s - self._seen < self.params.keep_s
        keep &= np.hypot(*(self._points - pose[:2]).T) < self.params.reach
        self._points, self._seen = self._points[keep], self._seen[keep]

    def clearance(self, pose: Pose, v: float, w: float) -> tuple[float, float]:
        """(clearance now, least clearance over the rollout) between the footprint and the points (m)."""
        if not len(self._points):
            return math.inf, math.inf
        steps = round(self.params.horizon_s / STEP_S)
        poses = [pose]
        for _ in range(steps):
            poses.append(arc_step(poses[-1], v * STEP_S, w * STEP_S))
        p = np.asarray(poses)
        centres = p[:, :2] + self.footprint.x * np.stack([np.cos(p[:, 2]), np.sin(p[:, 2])], -1)
        gap = _distances(centres, self._points).min(axis=1) - self.footprint.radius
        return float(gap[0]), float(gap.min())

    def safe(self, pose: Pose, v: float, w: float) -> bool:
        """Whether (v, w) keeps the margin, or, already inside it, gets no closer to any point."""
        now, least = self.clearance(pose, v, w)
        return least >= self.params.margin or least >= now - 1e-6

    def choose(self, pose: Pose, desired: tuple[float, float], max_turn: float,
               prefer: float = 1.0) -> tuple[float, float]:
        """``desired`` if safe, else an in-place turn (``prefer`` sign first) that is, else a stop."""
        if self.safe(pose, *desired):
            return desired
        side = math.copysign(1.0, prefer)
        for w in (side * max_turn, -side * max_turn):
            if self.safe(pose, 0.0, w):
                return 0.0, w
        return 0.0, 0.0


def _to_frame(local: np.ndarray, pose: Pose) -> np.ndarray:
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    return np.stack([x + c * local[:, 0] - s * local[:, 1], y + s * local[:, 0] + c * local[:, 1]], -1)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances."""
    out: np.ndarray = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    return out
