"""Planar poses from Odometry and TF messages (REP 103: x forward, y left, yaw counter-clockwise)."""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np

Pose = tuple[float, float, float]  # planar x, y (m), yaw (rad)


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quaternion_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by ``yaw`` about z."""
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


def odometry_pose(msg: Any) -> Pose:
    """(x, y, yaw) of a nav_msgs/Odometry."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return float(p.x), float(p.y), yaw_from_quaternion(q.x, q.y, q.z, q.w)


def transform_pose(tf: Any) -> Pose:
    """(x, y, yaw) of a geometry_msgs/Transform."""
    t, q = tf.translation, tf.rotation
    return float(t.x), float(t.y), yaw_from_quaternion(q.x, q.y, q.z, q.w)


def compose(a: Pose, b: Pose) -> Pose:
    """Pose ``b`` (given in frame ``a``) expressed in ``a``'s parent frame."""
    ax, ay, at = a
    bx, by, bt = b
    c, s = math.cos(at), math.sin(at)
    return ax + c * bx - s * by, ay + s * bx + c * by, wrap_angle(at + bt)


@overload
def wrap_angle(a: float) -> float: ...


@overload
def wrap_angle(a: np.ndarray) -> np.ndarray: ...


def wrap_angle(a: float | np.ndarray) -> float | np.ndarray:
    """Wrap to [-pi, pi); arrays element-wise."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi if isinstance(a, np.ndarray) else (
        (a + math.pi) % (2 * math.pi) - math.pi)


def stamp_ns(header: Any) -> int:
    """Header stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def arc_step(pose: Pose, ds: float, dth: float) -> Pose:
    """Unicycle pose after an arc of length ``ds`` turning ``dth`` (exact for constant wheel speeds)."""
    x, y, th = pose
    mid = th + dth / 2
    chord = ds * float(np.sinc(dth / 2 / np.pi))  # the arc's chord; sinc keeps straight motion exact
    return x + chord * math.cos(mid), y + chord * math.sin(mid), float(wrap_angle(th + dth))
