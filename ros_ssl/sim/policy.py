"""The data-collection driver of Nava et al. 2019: straight ahead until the sensors fire, then stop,
back off, turn a random angle and go straight again; long straight runs end in a random turn.
Once the sensors fire it creeps on slowly until the obstacle is close, so the last centimetres of
each approach (the positive labels) are covered too.

Straight approaches are what the labeler needs: every frame seen on the way to an obstacle gets a
label for each distance the robot later covers in a straight line. The policy sees only what a real
robot has (proximity readings, odometry, a bump flag), so it runs unchanged on the live node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ros_ssl.msgs.poses import wrap_angle


class Mode(Enum):
    FORWARD = "forward"
    CREEP = "creep"
    STOP = "stop"
    BACK = "back"
    TURN = "turn"


@dataclass(frozen=True)
class WanderParams:
    speed: float = 0.14  # forward speed (m/s)
    back_speed: float = 0.07  # reverse speed (m/s)
    turn_speed: float = 1.5  # in-place turn rate (rad/s)
    creep_speed: float = 0.04  # speed after the first detection (m/s)
    creep_until: float = 0.5  # ... until a reading falls below this fraction of the obstacle threshold
    stop_s: float = 0.3  # pause before backing off (s)
    back_m: tuple[float, float] = (0.03, 0.10)  # back-off distance range (m)
    turn_rad: tuple[float, float] = (0.5, math.pi)  # random turn magnitude range (rad)
    straight_m: tuple[float, float] = (0.8, 2.5)  # a free straight run ends in a random turn after this (m)
    timeout_s: float = 8.0  # leave any manoeuvre that takes longer than this (e.g. wedged)


class WanderPolicy:
    """Call ``command`` at every proximity reading; it returns the (v, w) velocity command."""

    def __init__(self, obstacle_threshold: float, seed: int = 0,
                 params: WanderParams = WanderParams()) -> None:
        self.threshold, self.params = obstacle_threshold, params
        self._rng = np.random.default_rng([int(seed), 0xD21])
        self.mode = Mode.FORWARD
        self._since = 0.0  # time the current mode started (s)
        self._goal = self._uniform(params.straight_m)  # distance or angle that ends the mode
        self._done = 0.0  # distance travelled or angle turned in the mode so far
        self._last: tuple[float, float, float] | None = None
        self._turn_sign = 1.0

    def command(self, t_s: float, readings: np.ndarray, odom: tuple[float, float, float],
                bumped: bool) -> tuple[float, float]:
        """Velocity command (m/s, rad/s) at time ``t_s`` given REP 117 readings, odometry and bumps."""
        self._track(odom)
        prm = self.params
        values = np.asarray(readings, np.float64)
        closest = float(np.min(np.where(np.isnan(values), np.inf, values), initial=np.inf))  # -inf: touching
        elapsed = t_s - self._since
        if self.mode is Mode.FORWARD:
            if bumped:
                self._enter(Mode.STOP, t_s, 0.0)
            elif closest < self.threshold:
                self._enter(Mode.CREEP, t_s, 0.0)
            elif self._done >= self._goal:
                self._start_turn(t_s)
        elif self.mode is Mode.CREEP:
            if bumped or closest < prm.creep_until * self.threshold or elapsed > prm.timeout_s:
                self._enter(Mode.STOP, t_s, 0.0)
        elif self.mode is Mode.STOP and elapsed >= prm.stop_s:
            self._enter(Mode.BACK, t_s, self._uniform(prm.back_m))
        elif self.mode is Mode.BACK and (self._done >= self._goal or bumped or elapsed > prm.timeout_s):
            self._start_turn(t_s)
        elif self.mode is Mode.TURN:
            if bumped:  # the turn swings the body into something: back off a little more first
                self._enter(Mode.BACK, t_s, self._uniform(prm.back_m))
            elif self._done >= self._goal or elapsed > prm.timeout_s:
                self._enter(Mode.FORWARD, t_s, self._uniform(prm.straight_m))
        return self._velocity()

    def _velocity(self) -> tuple[float, float]:
        prm = self.params
        if self.mode is Mode.FORWARD:
            return prm.speed, 0.0
        if self.mode is Mode.CREEP:
            return prm.creep_speed, 0.0
        if self.mode is Mode.BACK:
            return -prm.back_speed, 0.0
        if self.mode is Mode.TURN:
            return 0.0, self._turn_sign * prm.turn_speed
        return 0.0, 0.0

    def _start_turn(self, t_s: float) -> None:
        self._turn_sign = 1.0 if self._rng.random() < 0.5 else -1.0
        self._enter(Mode.TURN, t_s, self._uniform(self.params.turn_rad))

    def _enter(self, mode: Mode, t_s: float, goal: float) -> None:
        self.mode, self._since, self._goal, self._done = mode, t_s, goal, 0.0

    def _track(self, odom: tuple[float, float, float]) -> None:
        """Accumulate distance (forward/back) or absolute heading change (turn) since the mode began."""
        if self._last is not None:
            dx, dy = odom[0] - self._last[0], odom[1] - self._last[1]
            if self.mode is Mode.TURN:
                self._done += abs(float(wrap_angle(odom[2] - self._last[2])))
            else:
                self._done += math.hypot(dx, dy)
        self._last = odom

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return float(self._rng.uniform(*bounds))
