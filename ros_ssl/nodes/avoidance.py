"""Obstacle avoidance from predictions alone, as in the paper's demonstration (no proximity sensors used).

Each sensor's free distance is how far the robot may drive before that sensor would see an obstacle
(``nearest_obstacle``). The robot slows down as the free distance ahead shrinks, and turns in place
towards the side with more room when it is blocked; it keeps the chosen direction until the way is
clear, so it does not dither between left and right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FRONT_YAW = 0.4  # sensors within this angle of straight ahead (rad) decide the speed


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
        p = self.params
        free = np.asarray(free, np.float64)
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
