"""Egocentric grid labels: cells ahead of the robot at frame time, seen by the sensors of later poses.

Each later reading (same odometry segment, within the window) is a ray from its sensor, expressed
in the body frame of the frame at t. A hit (a finite reading, or -inf = too close, at range 0)
marks the cell of the hit point occupied; the ray before it, up to min(reading, max_range), marks
the cells it crosses free (+inf = nothing in range: free for the whole max_range). A cell counts
each ray once; it is labelled occupied when its hits are at least its free passes (an obstacle's
face is seen from many poses that also pass beside it), free otherwise, unknown if no ray reached it.
"""

from __future__ import annotations

import numpy as np

from ros_ssl.config.profile import RobotProfile
from ros_ssl.label.association import Labels
from ros_ssl.label.trajectory import NS, PoseQuery, Trajectory
from ros_ssl.label.window import PairFinder, Readings

# Frames per chunk: a frame meets every reading taken near its grid, so chunks stay small.
GRID_CHUNK = 64


def grid_labels(frame_ns: np.ndarray, frames: PoseQuery, traj: Trajectory, readings: Readings,
                profile: RobotProfile) -> Labels:
    """(F, X, Y) occupancy labels and known mask of frames at ``frame_ns`` posed as ``frames``."""
    lab, prox = profile.labels, profile.proximity
    gx, gy = lab.grid_axes()
    n_f, nx, ny = len(frame_ns), len(gx), len(gy)
    labels = np.zeros((n_f, nx, ny), np.uint8)
    mask = np.zeros((n_f, nx, ny), bool)
    if not len(readings.t_ns):
        return Labels(labels, mask)
    sensors = np.array([[s.x, s.y, s.yaw] for s in prox.sensors])
    reach = float(np.hypot(sensors[:, 0], sensors[:, 1]).max()) + prox.max_range

    def cell_of(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Flat cell index (x-major) of body-frame points, -1 outside the grid."""
        ix = np.floor((px - lab.grid_x_min) / lab.grid_cell)
        iy = np.floor((py - lab.grid_y_min) / lab.grid_cell)
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        return np.where(inside, ix * ny + iy, -1).astype(np.int64)

    centre = ((lab.grid_x_min + lab.grid_x_max) / 2, (lab.grid_y_min + lab.grid_y_max) / 2)
    radius = float(np.hypot(lab.grid_x_max - lab.grid_x_min, lab.grid_y_max - lab.grid_y_min)) / 2 + reach
    finder = PairFinder(traj, readings, round(lab.window_s * NS))
    valid = ~np.isnan(readings.values)
    step = lab.grid_cell / 2
    offsets = np.arange(int(np.ceil(prox.max_range / step)) + 1) * step  # free samples along a ray
    for a in range(0, n_f, GRID_CHUNK):
        b = min(a + GRID_CHUNK, n_f)
        chunk = PoseQuery(frames.pose[a:b], frames.segment[a:b], frames.reason[a:b])
        pairs = finder.pairs(np.asarray(frame_ns[a:b], np.int64), chunk, centre, radius)
        flat = np.flatnonzero(valid[pairs.reading].ravel())
        p, s = flat // len(sensors), flat % len(sensors)
        f, u = pairs.frame[p], pairs.reading[p]
        fp, rp = chunk.pose[f], readings.pose[u]
        # Sensor origin and heading in the body frame of the frame (world -> frame rotation).
        c, sn = np.cos(rp[:, 2]), np.sin(rp[:, 2])
        wx = rp[:, 0] + c * sensors[s, 0] - sn * sensors[s, 1] - fp[:, 0]
        wy = rp[:, 1] + sn * sensors[s, 0] + c * sensors[s, 1] - fp[:, 1]
        cf, sf = np.cos(fp[:, 2]), np.sin(fp[:, 2])
        ox, oy = cf * wx + sf * wy, cf * wy - sf * wx
        heading = rp[:, 2] + sensors[s, 2] - fp[:, 2]
        hx, hy = np.cos(heading), np.sin(heading)
        value = readings.values[u, s]
        hit = value < np.inf
        length = np.where(hit, np.maximum(value, 0.0), prox.max_range)
        cells = nx * ny
        hit_cell = np.where(hit, cell_of(ox + hx * length, oy + hy * length), -1)
        free = cell_of(ox[:, None] + hx[:, None] * offsets, oy[:, None] + hy[:, None] * offsets)
        free[offsets[None, :] >= length[:, None]] = -1
        free[free == hit_cell[:, None]] = -1
        free[:, 1:][free[:, 1:] == free[:, :-1]] = -1  # a ray counts a cell once
        row_h = f[hit_cell >= 0] * cells + hit_cell[hit_cell >= 0]
        rows_f = np.broadcast_to(f[:, None], free.shape)[free >= 0] * cells + free[free >= 0]
        n = (b - a) * cells
        hits = np.bincount(row_h, minlength=n)
        frees = np.bincount(rows_f, minlength=n)
        labels[a:b] = (hits >= frees).reshape(b - a, nx, ny) & (hits > 0).reshape(b - a, nx, ny)
        mask[a:b] = ((hits + frees) > 0).reshape(b - a, nx, ny)
    return Labels(labels, mask)
