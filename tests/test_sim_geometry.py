"""Exact ray casting and ground-truth labels on hand-made worlds with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_ssl.config import load_profile
from ros_ssl.errors import ConfigError
from ros_ssl.sim.geometry import inside, raycast
from ros_ssl.sim.truth import true_grid_labels, true_sensor_labels


def _box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"kind": "polygon", "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}


WALL = {"obstacles": [_box(1.0, -1.0, 1.05, 1.0)]}  # thin wall 1 m ahead of the origin
CIRCLE = {"obstacles": [{"kind": "circle", "center": [0.0, 2.0], "radius": 0.5}]}


def test_wall_at_known_distance() -> None:
    o = np.zeros((3, 2))
    d = raycast(WALL, o, np.array([0.0, math.atan2(0.5, 1.0), math.pi]), 5.0)
    np.testing.assert_allclose(d[:2], [1.0, math.hypot(1.0, 0.5)], atol=1e-12)
    assert d[2] == np.inf  # facing away


def test_circle_hit_and_tangent_miss() -> None:
    o = np.array([[0.0, 0.0], [0.6, 0.0], [0.5, 0.0]])
    d = raycast(CIRCLE, o, np.full(3, math.pi / 2), 5.0)
    assert d[0] == pytest.approx(1.5)
    assert d[1] == np.inf  # passes beside the circle
    assert d[2] == pytest.approx(2.0)  # grazes the circle at its rightmost point


def test_ray_missing_or_beyond_max_range() -> None:
    d = raycast(WALL, np.zeros((2, 2)), np.array([math.pi / 2, 0.0]), 0.99)
    assert np.all(np.isinf(d))


def test_ray_starting_inside_or_on_boundary_reads_zero() -> None:
    world = {"obstacles": [_box(1.0, -1.0, 1.05, 1.0), CIRCLE["obstacles"][0]]}
    o = np.array([[1.02, 0.0], [1.0, 0.5], [0.0, 2.2]])
    np.testing.assert_array_equal(raycast(world, o, np.array([0.0, math.pi, 0.3]), 1.0), [0.0, 0.0, 0.0])


def test_nearest_of_several_obstacles_and_many_chunks() -> None:
    world = {"obstacles": [_box(1.0, -1.0, 1.05, 1.0), _box(0.4, -0.1, 0.5, 0.1), CIRCLE["obstacles"][0]]}
    n = 10_000  # more than one chunk
    d = raycast(world, np.zeros((n, 2)), np.zeros(n), 5.0)
    np.testing.assert_allclose(d, 0.4)


def test_inside_points() -> None:
    pts = np.array([[1.02, 0.0], [0.9, 0.0], [0.0, 2.4], [0.0, 2.6], [1.0, 1.0]])
    world = {"obstacles": WALL["obstacles"] + CIRCLE["obstacles"]}
    np.testing.assert_array_equal(inside(world, pts), [True, False, True, False, True])


def test_clockwise_polygon_is_rejected() -> None:
    bad = {"obstacles": [{"kind": "polygon", "points": [[0, 0], [0, 1], [1, 1], [1, 0]]}]}
    with pytest.raises(ConfigError, match="counter-clockwise"):
        raycast(bad, np.zeros((1, 2)), np.zeros(1), 1.0)


def test_concave_polygon_is_rejected() -> None:
    arrow = {"obstacles": [{"kind": "polygon", "points": [[0, 0], [2, 0], [1, 0.5], [2, 1], [0, 1]]}]}
    with pytest.raises(ConfigError, match="not convex"):
        inside(arrow, np.zeros((1, 2)))


def test_true_sensor_labels_straight_wall() -> None:
    profile = load_profile("sim")
    center = profile.sensor_names.index("center")
    dist = np.round(np.arange(0, 0.31, 0.01), 2)
    # Robot at x = 0.6 facing the wall at x = 1.0: the center sensor (x = 0.082) sees it at
    # 1.0 - 0.6 - 0.082 - d = 0.318 - d, below 0.10 once d > 0.218.
    labels = true_sensor_labels(WALL, np.array([[0.6, 0.0, 0.0]]), profile, dist)
    assert labels.shape == (1, 5, len(dist)) and labels.dtype == np.uint8
    expected = (0.318 - dist < 0.10).astype(np.uint8)
    np.testing.assert_array_equal(labels[0, center], expected)
    # Facing away from the wall nothing is ever seen.
    assert true_sensor_labels(WALL, np.array([[0.6, 0.0, math.pi]]), profile, dist).sum() == 0


def test_true_sensor_labels_behind_thin_wall_is_obstacle() -> None:
    profile = load_profile("sim")
    # 0.02 m before the wall: every d beyond it is unreachable, so obstacle, though the far side is free.
    labels = true_sensor_labels(WALL, np.array([[1.0 - 0.082 - 0.2, 0.0, 0.0]]), profile, [0.25, 0.3])
    assert labels[0, profile.sensor_names.index("center")].tolist() == [1, 1]


def test_true_grid_labels_rotated_pose() -> None:
    # Robot at the origin facing +y: cells ahead (x) map to world +y, cells to the left (y) to world -x.
    labels = true_grid_labels(CIRCLE, np.array([[0.0, 0.0, math.pi / 2]]), [1.4, 1.6, 2.0], [-0.4, 0.0, 0.6])
    # e.g. cell (2.0, -0.4) is world (0.4, 2.0): inside the circle.
    expected = np.array([[0, 0, 0], [0, 1, 0], [1, 1, 0]], np.uint8)
    np.testing.assert_array_equal(labels[0], expected)
