"""The recorder without ROS: a bounded queue in front of a writer thread that owns the bag.

DDS callbacks must return quickly or the middleware drops samples, so they only enqueue bytes. The
writer thread appends to the bag (which writes 1 MiB chunks as they fill) and commits it every
``flush_interval_s``; a kill loses at most the data since the last commit. When the disk cannot keep
up, the queue fills to ``max_queue_bytes`` and further messages are dropped and counted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ros_ssl.bag.recording import MIB, TopicSpec
from ros_ssl.errors import BagError, ConfigError


@dataclass(frozen=True)
class FlushPolicy:
    # Commit (make durable) this often, seconds: the most a SIGKILL can lose.
    flush_interval_s: float = 1.0
    # Messages waiting for the writer thread beyond this many bytes are dropped (and counted).
    max_queue_bytes: int = 256 * MIB

    def validate(self) -> FlushPolicy:
        if not 0.01 <= self.flush_interval_s <= 600:
            raise ConfigError(f"flush interval {self.flush_interval_s} s is outside [0.01, 600]")
        if self.max_queue_bytes < MIB:
            raise ConfigError(f"queue size {self.max_queue_bytes} bytes is below 1 MiB")
        return self


@dataclass(frozen=True)
class TopicRate:
    """One topic over one reporting window."""

    topic: str
    hz: float
    mb_per_s: float
    received: int  # total messages handed to the recorder
    written: int  # total messages written (buffered or on disk)
    dropped: int  # total dropped because the queue was full
    lost: int  # total reported lost by the middleware (QoS message-lost events)


class BagSink(Protocol):
    """What the writer thread writes to: one :class:`~ros_ssl.bag.recording.RecordingBag`, or a
    :class:`~ros_ssl.bag.handoff.BagSeries` of bags handed over as they close."""

    @property
    def path(self) -> Path: ...

    def add_topic(self, spec: TopicSpec) -> None: ...

    def write(self, topic: str, log_ns: int, data: bytes | memoryview) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


class _Counters:
    __slots__ = ("bytes", "dropped", "lost", "mark_bytes", "mark_received", "received", "written")

    def __init__(self) -> None:
        self.received = self.bytes = self.written = self.dropped = self.lost = 0
        self.mark_received = self.mark_bytes = 0


class RecorderCore:
    """Thread-safe front of a bag (:class:`BagSink`): ``put()`` from any thread, ``close()`` once."""

    def __init__(self, bag: BagSink, policy: FlushPolicy | None = None) -> None:
        self.bag = bag
        self.policy = (policy or FlushPolicy()).validate()
        self._cv = threading.Condition()
        self._queue: deque[tuple[str, int, bytes] | TopicSpec] = deque()
        self._queued_bytes = 0
        self._closing = False
        self._stats: dict[str, _Counters] = {}
        self._mark_time = time.monotonic()
        self.error: BaseException | None = None  # set if the writer thread failed (e.g. disk full)
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self._thread.start()

    def add_topic(self, spec: TopicSpec) -> None:
        with self._cv:
            self._stats.setdefault(spec.name, _Counters())
            self._queue.append(spec)
            self._cv.notify()

    def put(self, topic: str, log_ns: int, data: bytes) -> bool:
        """Queue one serialized message; False if it was dropped because the queue is full."""
        with self._cv:
            c = self._stats[topic]
            c.received += 1
            c.bytes += len(data)
            full = self._queued_bytes + len(data) > self.policy.max_queue_bytes
            if self._closing or self.error is not None or full:
                c.dropped += 1
                return False
            self._queue.append((topic, log_ns, data))
            self._queued_bytes += len(data)
            self._cv.notify()
            return True

    def message_lost(self, topic: str, count: int) -> None:
        """Record samples the middleware reports as lost (they never reached the callback)."""
        with self._cv:
            self._stats[topic].lost += count

    def rates(self) -> list[TopicRate]:
        """Per-topic rates since the previous call, with running totals."""
        with self._cv:
            now = time.monotonic()
            dt = max(now - self._mark_time, 1e-9)
            self._mark_time = now
            out = []
            for topic, c in sorted(self._stats.items()):
                hz, mb = (c.received - c.mark_received) / dt, (c.bytes - c.mark_bytes) / dt / 1e6
                out.append(TopicRate(topic, hz, mb, c.received, c.written, c.dropped, c.lost))
                c.mark_received, c.mark_bytes = c.received, c.bytes
            return out

    def close(self) -> None:
        """Write everything queued, close the bag (index + metadata), stop the thread.

        Raises the writer thread's error, if it had one, after closing what can be closed.
        """
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join()
        try:
            self.bag.close()
        finally:
            if self.error is not None:
                raise BagError(f"bag {self.bag.path}: writing stopped at the last commit: "
                               f"{type(self.error).__name__}: {self.error}") from self.error

    def _next(self, deadline: float) -> tuple[str, int, bytes] | TopicSpec | None:
        """The oldest queued item, or None at the flush deadline or when closing with nothing left."""
        with self._cv:
            while not self._queue and not self._closing and time.monotonic() < deadline:
                self._cv.wait(timeout=max(deadline - time.monotonic(), 0.0))
            if not self._queue:
                return None
            item = self._queue.popleft()
            if not isinstance(item, TopicSpec):
                self._queued_bytes -= len(item[2])
            return item

    def _run(self) -> None:
        deadline = time.monotonic() + self.policy.flush_interval_s
        try:
            while True:
                item = self._next(deadline)
                if isinstance(item, TopicSpec):
                    self.bag.add_topic(item)
                elif item is not None:
                    topic, log_ns, data = item
                    self.bag.write(topic, log_ns, data)
                    with self._cv:
                        self._stats[topic].written += 1
                elif self._closing:
                    return
                if time.monotonic() >= deadline:
                    self.bag.commit()
                    deadline = time.monotonic() + self.policy.flush_interval_s
        except BaseException as err:  # noqa: BLE001 - surfaced via ``error``; the bag keeps its last commit
            with self._cv:
                self.error = err
                self._queue.clear()
                self._queued_bytes = 0
