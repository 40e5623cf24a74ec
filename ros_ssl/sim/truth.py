"""Ground-truth labels from the world description: what the pseudo-labels and detectors are scored against.

``true_sensor_labels`` answers the Nava et al. question exactly: would sensor s read "obstacle" if
the robot drove d metres straight ahead? ``true_grid_labels`` answers the egocentric-grid one: is
this cell occupied? Both are vectorised over frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ros_ssl.config.profile import RobotProfile
from ros_ssl.sim.geometry import Shapes, inside, raycast, shapes_of


def true_sensor_labels(world: dict[str, Any] | Shapes, poses: np.ndarray, profile: RobotProfile,
                       distances: Sequence[float]) -> np.ndarray:
    """(N, S, D) uint8: 1 if sensor s of the robot at ``pose`` moved ``d`` straight ahead reads an obstacle.

    "Reads an obstacle" = the noise-free range is below ``profile.proximity.obstacle_threshold``. A
    sensor whose straight path to ``d`` crosses an obstacle (a thin wall between the robot and the
    target pose) counts as obstacle too: the robot cannot get there without its sensor firing.
    """
    shapes = shapes_of(world)
    poses = np.asarray(poses, np.float64).reshape(-1, 3)
    dist = np.asarray(distances, np.float64).reshape(-1)
    sensors = profile.proximity.sensors
    threshold = profile.proximity.obstacle_threshold
    n, s, d = len(poses), len(sensors), len(dist)
    sx = np.array([c.x for c in sensors])
    sy = np.array([c.y for c in sensors])
    syaw = np.array([c.yaw for c in sensors])
    x, y, th = poses[:, 0, None], poses[:, 1, None], poses[:, 2, None]
    cos, sin = np.cos(th), np.sin(th)
    # Sensor origins at d = 0 (N, S) and how far each can travel along the heading before a surface.
    ox = x + cos * sx - sin * sy
    oy = y + sin * sx + cos * sy
    travel_range = float(dist.max()) if d else 0.0
    travel = raycast(shapes, np.stack([ox, oy], -1).reshape(-1, 2), np.repeat(th, s, axis=1).reshape(-1),
                     travel_range).reshape(n, s)
    blocked = travel[:, :, None] <= dist[None, None, :]  # (N, S, D)
    # Sensor rays from the shifted poses: origin + d * heading, angle heading + sensor yaw.
    gx = ox[:, :, None] + cos[:, :, None] * dist
    gy = oy[:, :, None] + sin[:, :, None] * dist
    ang = np.broadcast_to((th + syaw)[:, :, None], (n, s, d))
    rng = raycast(shapes, np.stack([gx, gy], -1).reshape(-1, 2), ang.reshape(-1), threshold).reshape(n, s, d)
    return ((rng < threshold) | blocked).astype(np.uint8)


def true_grid_labels(world: dict[str, Any] | Shapes, poses: np.ndarray, grid_x: Sequence[float],
                     grid_y: Sequence[float]) -> np.ndarray:
    """(N, X, Y) uint8: 1 if the cell centre (grid_x ahead, grid_y left of the robot) lies in an obstacle."""
    poses = np.asarray(poses, np.float64).reshape(-1, 3)
    gx = np.asarray(grid_x, np.float64)[None, :, None]
    gy = np.asarray(grid_y, np.float64)[None, None, :]
    x, y, th = (poses[:, i, None, None] for i in range(3))
    cos, sin = np.cos(th), np.sin(th)
    wx = x + cos * gx - sin * gy
    wy = y + sin * gx + cos * gy
    shape = np.broadcast_shapes(wx.shape, wy.shape)
    pts = np.stack([np.broadcast_to(wx, shape), np.broadcast_to(wy, shape)], -1).reshape(-1, 2)
    return inside(shapes_of(world), pts).reshape(shape).astype(np.uint8)
