"""A watchdog over a stream of inputs, without ROS: doubt means stop.

An input that is missing, late or invalid is never "still the last one": ``ok`` is false before the
first valid input, once the newest valid one is older than the timeout, and from an invalid one until
the next valid one. ``alarm`` reports the changes once each, for the log.
"""

from __future__ import annotations


class Watchdog:
    """Whether the newest valid input is recent enough to act on (times in integer nanoseconds)."""

    def __init__(self, timeout_s: float, now_ns: int) -> None:
        self.timeout_ns = round(timeout_s * 1e9)
        self._last_ns: int | None = None  # newest valid input since the last invalid one
        self._quiet_since_ns = now_ns  # start, or the newest invalid input
        self._raised = False

    def feed(self, now_ns: int) -> None:
        """A valid input arrived."""
        self._last_ns = now_ns

    def invalidate(self, now_ns: int) -> None:
        """An invalid input arrived: not ok until the next valid one."""
        self._last_ns = None
        self._quiet_since_ns = now_ns

    def ok(self, now_ns: int) -> bool:
        return self._last_ns is not None and now_ns - self._last_ns <= self.timeout_ns

    def silent_s(self, now_ns: int) -> float:
        """Seconds since the newest valid input (or since the start or the newest invalid input)."""
        return self._silent_ns(now_ns) / 1e9

    def _silent_ns(self, now_ns: int) -> int:
        return now_ns - (self._last_ns if self._last_ns is not None else self._quiet_since_ns)

    def alarm(self, now_ns: int) -> bool | None:
        """True once when no valid input came for longer than the timeout, False once when one comes
        again, None when nothing changed since the last call."""
        raised = self._silent_ns(now_ns) > self.timeout_ns
        if raised == self._raised:
            return None
        self._raised = raised
        return raised
