"""Sensor x distance pseudo-labels (Nava et al. 2019), vectorised over frames.

For a frame at time t with odometry pose P(t), every later proximity reading at t' (same odometry
segment, t <= t' <= t + window) has the pose P(t') interpolated at its own stamp, so the reading
and the pose describe the same instant exactly. Expressed in the frame's body frame,
(dx, dy, dtheta) = P(t)^-1 P(t'). For target distance d the reading qualifies if |dx - d| <= tol_x,
|dy| <= tol_y and |dtheta| <= tol_theta (inclusive, up to EPS); among those the one with the smallest
normalised distance ((dx-d)/tol_x)^2 + (dy/tol_y)^2 + (dtheta/tol_theta)^2 wins (earliest on ties),
and its reading gives the label: below ``obstacle_threshold`` (or -inf, too close) = obstacle,
otherwise (+inf = nothing in range) = free. Invalid (NaN) readings are never candidates.
No match = unknown (mask 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros_ssl.config.profile import RobotProfile
from ros_ssl.errors import ConfigError
from ros_ssl.label.trajectory import NS, PoseQuery, Trajectory
from ros_ssl.label.window import FRAME_CHUNK, PairFinder, Readings, ragged
from ros_ssl.msgs.poses import wrap_angle

# Tolerances are inclusive up to float noise (1 nm, 1 nrad), so a pose exactly on a tolerance edge
# is matched the same way by every implementation.
EPS = 1e-9


@dataclass(frozen=True)
class MatchParams:
    """What makes a later pose "d metres straight ahead" of a frame's pose."""

    distances: np.ndarray  # (D,) metres, ascending
    tol_x: float
    tol_y: float
    tol_theta: float
    window_ns: int
    obstacle_threshold: float

    def __post_init__(self) -> None:
        if len(self.distances) > 1 and not np.all(np.diff(self.distances) > 0):
            raise ConfigError(f"label distances {list(self.distances)} must be strictly ascending")

    @classmethod
    def from_profile(cls, profile: RobotProfile) -> MatchParams:
        lab = profile.labels
        return cls(np.asarray(lab.distances(), np.float64), lab.tol_x, lab.tol_y, lab.tol_theta,
                   round(lab.window_s * NS), profile.proximity.obstacle_threshold)


@dataclass(frozen=True)
class Labels:
    """Labels of every frame asked about; frames without a pose are all unknown."""

    labels: np.ndarray  # (F, A, B) uint8, 1 = obstacle
    mask: np.ndarray  # (F, A, B) bool, True = known


def associate(frame_ns: np.ndarray, frames: PoseQuery, traj: Trajectory, readings: Readings,
              params: MatchParams) -> Labels:
    """(F, S, D) labels and known mask for frames at ``frame_ns`` posed as ``frames``."""
    frame_ns = np.asarray(frame_ns, np.int64)
    dist = params.distances
    n_f, n_s, n_d = len(frame_ns), readings.values.shape[1], len(dist)
    labels = np.zeros((n_f, n_s, n_d), np.uint8)
    mask = np.zeros((n_f, n_s, n_d), bool)
    if not len(readings.t_ns) or not n_d:
        return Labels(labels, mask)
    finder = PairFinder(traj, readings, params.window_ns)
    matcher = _Matcher(readings, params)
    d_lo, d_hi = float(dist[0]) - params.tol_x, float(dist[-1]) + params.tol_x
    centre = ((d_lo + d_hi) / 2, 0.0)
    radius = float(np.hypot((d_hi - d_lo) / 2, params.tol_y))
    for a in range(0, n_f, FRAME_CHUNK):
        b = min(a + FRAME_CHUNK, n_f)
        chunk = PoseQuery(frames.pose[a:b], frames.segment[a:b], frames.reason[a:b])
        pairs = finder.pairs(frame_ns[a:b], chunk, centre, radius)
        matcher.fill(pairs.frame, pairs.reading, chunk.pose, labels[a:b], mask[a:b])
    return Labels(labels, mask)


class _Matcher:
    """The match rule applied to candidate pairs of one chunk of frames, all pairs at once."""

    def __init__(self, readings: Readings, params: MatchParams) -> None:
        self.p = params
        self.x, self.y, self.yaw = (np.ascontiguousarray(readings.pose[:, i]) for i in range(3))
        self.values = readings.values
        self.valid = ~np.isnan(readings.values)

    def fill(self, f: np.ndarray, u: np.ndarray, frame_pose: np.ndarray, labels: np.ndarray,
             mask: np.ndarray) -> None:
        """Write the winning reading of every (frame, sensor, distance) into ``labels``/``mask`` rows."""
        prm, dist = self.p, self.p.distances
        n_s, n_d = self.valid.shape[1], len(dist)
        c, s = np.cos(frame_pose[:, 2]), np.sin(frame_pose[:, 2])
        wx, wy, cf, sf = self.x[u] - frame_pose[f, 0], self.y[u] - frame_pose[f, 1], c[f], s[f]
        dy = cf * wy - sf * wx
        k = np.flatnonzero(np.abs(dy) <= prm.tol_y + EPS)
        f, u, dy = f[k], u[k], dy[k]
        dx = cf[k] * wx[k] + sf[k] * wy[k]
        dth = wrap_angle(self.yaw[u] - frame_pose[f, 2])
        k = np.flatnonzero((np.abs(dth) <= prm.tol_theta + EPS) & (dx >= dist[0] - prm.tol_x - 2 * EPS)
                           & (dx <= dist[-1] + prm.tol_x + 2 * EPS))
        f, u, dx = f[k], u[k], dx[k]
        side = (dy[k] / prm.tol_y) ** 2, (dth[k] / prm.tol_theta) ** 2
        # Every distance d this pose may serve, then the exact test |dx - d| <= tol_x + EPS.
        lo = np.searchsorted(dist, dx - prm.tol_x - 2 * EPS, side="left")
        hi = np.searchsorted(dist, dx + prm.tol_x + 2 * EPS, side="right")
        p, d = ragged(lo, hi - lo)
        err = dx[p] - dist[d]
        ok = np.flatnonzero(np.abs(err) <= prm.tol_x + EPS)
        p, d = p[ok], d[ok]
        cost = (err[ok] / prm.tol_x) ** 2 + side[0][p] + side[1][p]
        # One entry per sensor with a valid reading at that stamp; entries stay in time order per key.
        flat = np.flatnonzero(self.valid[u[p]].ravel())
        q, sensor = flat // n_s, flat % n_s
        key = (f[p[q]] * n_s + sensor) * n_d + d[q]
        cost = cost[q]
        n_keys = len(frame_pose) * n_s * n_d
        best = np.full(n_keys, np.inf)
        np.minimum.at(best, key, cost)
        win = np.flatnonzero(cost == best[key])
        first = np.full(n_keys, len(cost))
        np.minimum.at(first, key[win], win)  # the earliest of equally close poses, like the reference
        chosen = first[first < len(cost)]
        rows, sensor, col, reading = f[p[q[chosen]]], sensor[chosen], d[q[chosen]], u[p[q[chosen]]]
        labels[rows, sensor, col] = self.values[reading, sensor] < prm.obstacle_threshold
        mask[rows, sensor, col] = True
