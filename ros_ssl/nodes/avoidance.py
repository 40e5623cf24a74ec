"""Obstacle avoidance from predictions alone, as in the paper's demonstration (no proximity sensors used).

Each sensor's free distance is how far the robot may drive before that sensor would see an obstacle
(``nearest_obstacle``). The robot slows down as the free distance ahead shrinks, and turns in place
towards the side with more room when it is blocked; it keeps the chosen direction until the way is
clear, so it does not dither between left and right.

Doubt means stop: a sensor whose free distance is NaN ("cannot see", a non-finite prediction) stops the
robot, and ``SafeDriver`` stops it as well when no valid prediction came within its watchdog's timeout.
With odometry, ``SafeDriver`` also keeps clear of obstacles that have left the sensors' fan to the side
(``ros_ssl.nodes.obstacle_memory``) and turns away when wedged against one it never saw
(``ros_ssl.nodes.stall``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ros_ssl.errors import MessageError
from ros_ssl.msgs.poses import Pose, wrap_angle
from ros_ssl.nodes.obstacle_memory import ObstacleMemory
from ros_ssl.nodes.predictions import nearest_obstacle
from ros_ssl.nodes.stall import StallGuard
from ros_ssl.nodes.watchdog import Watchdog

FRONT_YAW = 0.4  # sensors within this angle of straight ahead (rad) decide the speed
STOP = (0.0, 0.0)
# Odometry moving more than this between two messages was reset (or jumped): remembered points are void.
RESET_JUMP_M = 0.25
RESET_TURN_RAD = 1.0


@dataclass(frozen=True)
class AvoidParams:
    max_speed: float = 0.1  # m/s when the way ahead is free
    max_turn: float = 1.2  # rad/s when blocked
    stop_distance: float = 0.03  # free distance ahead (m) at which the robot stops and turns
    slow_distance: float = 0.2  # free distance ahead (m) below which it slows down


class Avoider:
    """Velocity command (v m/s, w rad/s) from per-sensor free distances; remembers its turn direction."""

    def __init__(self, sensor_yaws: Sequence[float], params: AvoidParams = AvoidParams()) -> None:
        self.yaws = np.asarray(sensor_yaws, np.float64)
        self.params = params
        front = np.abs(self.yaws) <= FRONT_YAW
        self._front = front if front.any() else np.ones_like(front)
        self._turn = 0.0

    def command(self, free: np.ndarray) -> tuple[float, float]:
        """(v, w) for the free distances; a stop if any of them is NaN (that sensor cannot see)."""
        p = self.params
        free = np.asarray(free, np.float64)
        if np.isnan(free).any():
            self._turn = 0.0
            return STOP
        ahead = float(free[self._front].min())
        span = max(p.slow_distance - p.stop_distance, 1e-6)
        v = p.max_speed * float(np.clip((ahead - p.stop_distance) / span, 0.0, 1.0))
        if v >= p.max_speed:
            self._turn = 0.0
            return v, 0.0
        if self._turn == 0.0:
            left = free[self.yaws > 0].min(initial=math.inf)
            right = free[self.yaws < 0].min(initial=math.inf)
            self._turn = 1.0 if left >= right else -1.0
        return v, self._turn * p.max_turn * (1.0 - v / p.max_speed)


class SafeDriver:
    """The Avoider behind a watchdog: it drives only from a valid prediction newer than the timeout.

    A prediction of the wrong shape or with a non-finite probability counts as "cannot see": the robot
    stops at once and stays stopped until a valid prediction comes. With odometry newer than
    ``odometry_timeout_s``, an ``ObstacleMemory`` keeps each command clear of the obstacles passed on the
    side and a ``StallGuard`` turns the robot away when it is wedged; without fresh odometry it drives
    from what is ahead alone, as without them.
    """

    def __init__(self, avoider: Avoider, distances: Sequence[float], threshold: float,
                 watchdog: Watchdog, memory: ObstacleMemory | None = None, stall: StallGuard | None = None,
                 odometry_timeout_s: float = 0.5) -> None:
        self.avoider = avoider
        self.distances = list(distances)
        self.threshold = threshold
        self.watchdog = watchdog
        self.memory = memory
        self.stall = stall
        self._free: np.ndarray | None = None
        self._odometry_timeout_ns = round(odometry_timeout_s * 1e9)
        self._pose: Pose | None = None
        self._pose_ns = 0
        self._escape = 0.0  # the memory's last in-place turn direction, kept until the way is clear

    def odometry(self, pose: Pose, now_ns: int) -> str:
        """Take an odometry pose. A jump (a reset) or a pose after a gap (maybe a restarted driver, in a
        new frame) voids what was placed or watched in the old frame; returns a line for the log then,
        when remembered points were forgotten."""
        previous, fresh = self._pose, self._fresh_pose(now_ns) is not None
        gap_s = (now_ns - self._pose_ns) / 1e9
        self._pose, self._pose_ns = pose, now_ns
        if previous is None:
            return ""
        jump = math.hypot(pose[0] - previous[0], pose[1] - previous[1])
        turn = abs(wrap_angle(pose[2] - previous[2]))
        if fresh and jump <= RESET_JUMP_M and turn <= RESET_TURN_RAD:
            return ""
        forgotten = len(self.memory) if self.memory is not None else 0
        if self.memory is not None:
            self.memory.clear()
        if self.stall is not None:
            self.stall.reset()
        self._escape = 0.0
        if not forgotten:
            return ""
        why = (f"jumped {jump:.2f} m, {turn:.2f} rad between two messages (a reset?)" if fresh
               else f"came back after {gap_s:.1f} s of silence (a restarted driver?)")
        return f"odometry {why}: forgot {forgotten} remembered obstacle points"

    def _fresh_pose(self, now_ns: int) -> Pose | None:
        """The newest odometry pose, or None when there is none within the odometry timeout."""
        return self._pose if now_ns - self._pose_ns <= self._odometry_timeout_ns else None

    def update(self, probs: np.ndarray, now_ns: int) -> None:
        """Take a (sensors, distances) prediction; MessageError (and a stop) if it cannot be used."""
        shape = (len(self.avoider.yaws), len(self.distances))
        probs = np.asarray(probs)
        if probs.shape != shape:
            self._blind(now_ns)
            raise MessageError(f"prediction of shape {probs.shape} for a model of {shape[0]} sensors x "
                               f"{shape[1]} distances; stopping")
        free = nearest_obstacle(probs, self.distances, self.threshold)
        if np.isnan(free).any():
            self._blind(now_ns)
            raise MessageError("prediction holds non-finite probabilities (NaN/inf): cannot see; stopping")
        self._free = np.minimum(free, self.distances[-1])
        self.watchdog.feed(now_ns)
        pose = self._fresh_pose(now_ns)
        if self.memory is not None and pose is not None:
            self.memory.observe(self._free, self.distances[-1], pose, now_ns / 1e9)

    def _blind(self, now_ns: int) -> None:
        self._free = None
        self.watchdog.invalidate(now_ns)

    def command(self, now_ns: int) -> tuple[float, float]:
        """(v, w) from the newest valid prediction, or a stop if there is none within the timeout."""
        pose = self._fresh_pose(now_ns)
        if (self._free is None or not self.watchdog.ok(now_ns) or pose is None) and self.stall is not None:
            self.stall.reset()  # what it watched no longer says whether the robot is wedged
        if self._free is None or not self.watchdog.ok(now_ns):
            return STOP
        desired = self.avoider.command(self._free)
        if pose is None:
            return desired
        max_turn = self.avoider.params.max_turn
        prefer = self._escape or (math.copysign(1.0, desired[1]) if desired[1] else 1.0)
        chosen = desired
        if self.memory is not None:
            chosen = self.memory.choose(pose, desired, max_turn, prefer)
            if chosen == desired:
                self._escape = 0.0
            elif chosen[1]:
                self._escape = math.copysign(1.0, chosen[1])
        if self.stall is not None:
            if self.memory is not None and not self.memory.safe(pose, 0.0, prefer * max_turn):
                prefer = -prefer  # first the turn the memory finds clear
            turn = self.stall.command(chosen, pose, now_ns / 1e9, max_turn, prefer)
            if turn is not None:  # wedged: turn, unless the memory says that turn hits something known
                chosen = turn if self.memory is None or self.memory.safe(pose, *turn) else STOP
        return chosen
