"""A simulated Thymio-like robot in a pybullet scene: camera, proximity sensors, drifting wheel odometry.

The robot is kinematic (a unicycle with wheel-speed and acceleration limits) and never enters an
obstacle: a step that would overlap its circular footprint with a surface is refused and reported
as a bump, like a robot pushing against a wall with stalled wheels. Its ``Scene`` (pybullet,
headless) renders the camera and casts the proximity rays.

Used step by step by both ``ros_ssl.sim.record`` (bags) and the live simulator node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_ssl.config.profile import RobotProfile
from ros_ssl.msgs.poses import Pose, arc_step
from ros_ssl.sim.geometry import clearance, shapes_of
from ros_ssl.sim.scene import Scene


@dataclass(frozen=True)
class DriveParams:
    """Physical and noise parameters of the simulated robot (Thymio-like defaults)."""

    wheel_base: float = 0.095  # distance between the wheels (m)
    max_wheel_speed: float = 0.14  # per wheel (m/s); also the top forward speed
    max_accel: float = 1.0  # per wheel (m/s^2)
    # Collision footprint: a circle ahead of the axle that covers the body and the front sensors.
    footprint_x: float = 0.025
    footprint_radius: float = 0.068
    sensor_z: float = 0.03  # height of the proximity rays (m)
    # Odometry: per-wheel systematic scale error (std), random error per sqrt(metre) of travel (std),
    # and the odometry's belief of the wheel base (relative std): together a realistic drift.
    wheel_scale_std: float = 0.005
    wheel_noise: float = 0.003
    wheel_base_std: float = 0.01
    # Proximity: Gaussian noise (m) of std range_noise + range_noise_rel * range; rare invalid readings.
    range_noise: float = 0.002
    range_noise_rel: float = 0.02
    dropout: float = 0.002


class SimRobot:
    """One robot in one world. ``step`` moves it; ``render_camera`` and ``read_proximity`` sense.

    Use as a context manager (or call ``close``) so the pybullet client is always released::

        with SimRobot(world, profile, seed) as robot:
            policy = WanderPolicy(profile.proximity.obstacle_threshold, seed)
            while running:
                robot.step(dt)  # keeps the last command
                readings = robot.read_proximity()
                robot.step(0.0, policy.command(robot.time_s, readings, robot.odometry, robot.bumped))
    """

    def __init__(self, world: dict[str, Any], profile: RobotProfile, seed: int = 0,
                 params: DriveParams = DriveParams()) -> None:
        self.world, self.profile, self.params = world, profile, params
        self._shapes = shapes_of(world)
        self._rng = np.random.default_rng([int(seed), 0xB07])
        self._scale = 1.0 + self._rng.normal(0.0, params.wheel_scale_std, 2)  # left, right
        self._base_belief = params.wheel_base * (1.0 + self._rng.normal(0.0, params.wheel_base_std))
        x, y, yaw = (float(v) for v in world["start_pose"])
        self._pose = np.array([x, y, yaw])
        self._odom = np.zeros(3)
        self._wheels = np.zeros(2)  # actual left, right wheel speeds (m/s)
        self._cmd = (0.0, 0.0)
        self.bumped = False
        self.time_s = 0.0
        self.scene = Scene(world, profile.camera)

    # -- life cycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.scene.close()

    def __enter__(self) -> SimRobot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ------------------------------------------------------------------------------------
    @property
    def true_pose(self) -> Pose:
        """Pose of base_link in the world frame (x, y, yaw)."""
        return float(self._pose[0]), float(self._pose[1]), float(self._pose[2])

    @property
    def odometry(self) -> Pose:
        """Pose of base_link in the odom frame, integrated from noisy wheel speeds (starts at 0, 0, 0)."""
        return float(self._odom[0]), float(self._odom[1]), float(self._odom[2])

    @property
    def velocity(self) -> tuple[float, float]:
        """True forward (m/s) and angular (rad/s) velocity."""
        left, right = self._wheels
        return float((left + right) / 2), float((right - left) / self.params.wheel_base)

    # -- motion -----------------------------------------------------------------------------------
    def step(self, dt: float, cmd: tuple[float, float] | None = None) -> None:
        """Advance ``dt`` seconds under velocity command ``cmd`` = (v m/s, w rad/s).

        ``cmd=None`` keeps the last command; ``dt=0`` only sets the command.
        """
        if cmd is not None:
            self._cmd = (float(cmd[0]), float(cmd[1]))
        if dt <= 0:
            return
        prm = self.params
        target = self._wheel_targets(*self._cmd)
        max_dv = prm.max_accel * dt
        wheels = self._wheels + np.clip(target - self._wheels, -max_dv, max_dv)
        dist = (self._wheels + wheels) / 2 * dt  # travelled by each wheel (exact under constant acceleration)
        new_pose = _advance(self._pose, (dist[0] + dist[1]) / 2, (dist[1] - dist[0]) / prm.wheel_base)
        self.time_s += dt
        self.bumped = self._collides(new_pose)
        if self.bumped:
            self._wheels = np.zeros(2)  # stalled against a surface: the wheels (and encoders) stop
            return
        self._pose, self._wheels = new_pose, wheels
        measured = dist * self._scale + self._rng.normal(0.0, prm.wheel_noise, 2) * np.sqrt(np.abs(dist))
        self._odom = _advance(self._odom, (measured[0] + measured[1]) / 2,
                              (measured[1] - measured[0]) / self._base_belief)

    def _wheel_targets(self, v: float, w: float) -> np.ndarray:
        half = w * self.params.wheel_base / 2
        wheels = np.array([v - half, v + half])
        peak = np.abs(wheels).max()
        if peak > self.params.max_wheel_speed:  # saturate, keeping the curvature
            wheels *= self.params.max_wheel_speed / peak
        return wheels

    def _collides(self, pose: np.ndarray) -> bool:
        fx = self.params.footprint_x
        centre = pose[:2] + fx * np.array([math.cos(pose[2]), math.sin(pose[2])])
        r = self.params.footprint_radius
        return bool(clearance(self._shapes, centre[None], r)[0] < r)

    # -- sensing ----------------------------------------------------------------------------------
    def read_proximity(self) -> np.ndarray:
        """(S,) readings in metres with noise, REP 117: +inf nothing within max_range, NaN invalid."""
        prox, prm = self.profile.proximity, self.params
        x, y, yaw = self._pose
        c, s = math.cos(yaw), math.sin(yaw)
        reach = prox.max_range * 1.25  # noise can bring a slightly farther surface into range
        starts, ends = [], []
        for sen in prox.sensors:
            ox, oy = x + c * sen.x - s * sen.y, y + s * sen.x + c * sen.y
            a = yaw + sen.yaw
            starts.append((ox, oy, prm.sensor_z))
            ends.append((ox + reach * math.cos(a), oy + reach * math.sin(a), prm.sensor_z))
        true = self.scene.ray_test(np.array(starts), np.array(ends)) * reach
        sigma = prm.range_noise + prm.range_noise_rel * np.where(np.isfinite(true), true, 0.0)
        noise = self._rng.normal(0.0, 1.0, len(true)) * sigma
        noisy = np.where(np.isfinite(true), np.maximum(true + noise, 0.0), np.inf)
        noisy[noisy >= prox.max_range] = np.inf
        noisy[self._rng.random(len(true)) < prm.dropout] = np.nan
        return noisy

    def render_camera(self) -> np.ndarray:
        """H x W x 3 uint8 RGB image from the forward camera at the true pose (TinyRenderer)."""
        return self.scene.render(self.true_pose)


def _advance(pose: np.ndarray, ds: float, dth: float) -> np.ndarray:
    x, y, th = arc_step((float(pose[0]), float(pose[1]), float(pose[2])), ds, dth)
    return np.array([x, y, th])
