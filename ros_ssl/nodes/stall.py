"""Wedged against something it never saw: commanded forward, the odometry does not move; turn away.

The memory (``ros_ssl.nodes.obstacle_memory``) keeps clear of what the predictions showed; an obstacle
they missed can still touch the footprint's side, and the robot then pushes against it for as long as
the way ahead looks free (in the sim-loop: 10-46 s at a time). ``StallGuard`` watches the commanded
speed against the odometry: after ``after_s`` seconds of forward commands that moved the robot less than
``progress`` of the commanded distance, it turns in place for ``turn_s`` seconds, first the way the
caller prefers (it does not know which side touches); a turn that has not turned the odometry after
``check_s`` seconds is blocked that way, so it turns the other way. Wheel
odometry of a robot whose wheels slip moves while the robot does not: there it cannot tell.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ros_ssl.msgs.poses import Pose, wrap_angle


@dataclass(frozen=True)
class StallParams:
    after_s: float = 1.0  # forward commands this long ...
    progress: float = 0.25  # ... that moved the robot less than this share of the commanded distance
    turn_s: float = 1.0  # then turn in place this long (s)
    check_s: float = 0.4  # a turn that has not turned after this long tries the other way (s)


class StallGuard:
    """Overrides commands with an in-place turn while the robot is wedged; call once per command."""

    def __init__(self, params: StallParams = StallParams()) -> None:
        self.params = params
        self.stalls = 0
        self._window: deque[tuple[float, float, float, float]] = deque()  # (t, x, y, commanded v)
        self._until = -math.inf  # the turn ends then
        self._turn = 1.0
        self._check: tuple[float, float] = (0.0, 0.0)  # (time, yaw) the current turn is judged from

    def reset(self) -> None:
        """Forget the commands watched and any turn under way (a stop, no odometry, an odometry reset)."""
        self._window.clear()
        self._until = -math.inf

    def command(self, desired: tuple[float, float], pose: Pose, now_s: float, max_turn: float,
                prefer: float) -> tuple[float, float] | None:
        """An in-place turn while recovering from a stall, else None (``desired`` stands). Call every
        command period with fresh odometry, and ``reset`` when the robot stops or the odometry is lost;
        ``prefer`` is the sign to turn first when a stall is found (the caller's guess of the clear side)."""
        p = self.params
        if now_s < self._until:
            since, yaw = self._check
            if now_s - since >= p.check_s:
                turned = abs(wrap_angle(pose[2] - yaw))
                if turned < 0.25 * max_turn * (now_s - since):  # blocked this way too
                    self._turn = -self._turn
                    self._until = now_s + p.turn_s
                self._check = (now_s, pose[2])
            return 0.0, self._turn * max_turn
        if desired[0] <= 0.0:
            self._window.clear()
            return None
        self._window.append((now_s, pose[0], pose[1], desired[0]))
        while now_s - self._window[0][0] > p.after_s:
            self._window.popleft()
        first, last = self._window[0], self._window[-1]
        span = last[0] - first[0]
        if len(self._window) < 2 or span < 0.9 * p.after_s:
            return None
        commanded = sum(v for *_, v in list(self._window)[:-1]) / (len(self._window) - 1) * span
        moved = math.hypot(last[1] - first[1], last[2] - first[2])
        if moved >= p.progress * commanded:
            return None
        self.stalls += 1
        self._window.clear()
        self._turn = math.copysign(1.0, prefer)
        self._until = now_s + p.turn_s
        self._check = (now_s, pose[2])
        return 0.0, self._turn * max_turn
