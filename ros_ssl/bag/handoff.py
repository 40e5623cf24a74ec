"""A recording as a series of complete bags, each moved into a drop folder once it is closed.

The folder contract (README, "The robot keeps learning"): in the recording directory the recorder
writes ``<prefix>_<session start>_<seq>/``, a rosbag2 bag; at a split (``split_s`` seconds of log time
or ``split_bytes`` of messages) or at shutdown it closes the bag (MCAP summary and footer,
``metadata.yaml``, fsynced) and renames the directory into the drop folder: one atomic step on one
filesystem; across filesystems a copy into ``DROP/.incoming-<id>/`` renamed into place. A directory in
the drop folder whose name does not start with "." is therefore complete. A bag being written when the
process dies stays in the recording directory; it is never handed over. Each bag stands alone: the
last message of every latched (transient-local) topic, e.g. ``/sim/world``, opens each next bag again.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ros_ssl.bag.recording import MIB, RecordingBag, SplitPolicy, TopicSpec
from ros_ssl.errors import BagError, ConfigError
from ros_ssl.fsync import copy_into_place, fsync_path

INCOMING = ".incoming-"
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class HandOffPolicy:
    # Close the bag and start the next after this many seconds of log time; 0 = never.
    split_s: float = 0.0
    # ... or before its messages would exceed this many bytes; 0 = never.
    split_bytes: int = 0
    # Move each closed bag here; empty = closed bags stay in the recording directory.
    drop_dir: str = ""
    # First part of each bag id (e.g. the robot's name).
    prefix: str = "bag"

    def validate(self) -> HandOffPolicy:
        if self.split_s < 0:
            raise ConfigError(f"split duration {self.split_s} s is negative; use 0 for no limit")
        if self.split_bytes and self.split_bytes < MIB:
            raise ConfigError(f"split size {self.split_bytes} bytes is below 1 MiB; use 0 for no limit")
        if not _PREFIX.fullmatch(self.prefix):
            raise ConfigError(f"bag prefix {self.prefix!r} must be letters, digits, '.', '_' or '-' and not "
                              f"start with '.' or '-'")
        return self


class BagSeries:
    """Writes like one :class:`RecordingBag` into ``out`` but as consecutive bags, handed over when closed.

    ``log`` gets one line per handed-over bag and per problem (from the writer thread).
    """

    def __init__(self, out: str | Path, policy: HandOffPolicy, split: SplitPolicy | None = None,
                 log: Callable[[str], object] | None = None, now: datetime | None = None) -> None:
        self.path = Path(out)
        self.policy = policy.validate()
        self.split = (split or SplitPolicy()).validate()
        self.drop = Path(policy.drop_dir) if policy.drop_dir else None
        self._log = log or (lambda _line: None)
        if self.drop is not None and self.drop.resolve() == self.path.resolve():
            raise ConfigError(f"drop folder {self.drop} is the recording directory; use another folder")
        self.path.mkdir(parents=True, exist_ok=True)
        if self.drop is not None:
            self.drop.mkdir(parents=True, exist_ok=True)
        left = sorted(p.name for p in self.path.iterdir() if (p / "metadata.yaml").is_file())
        if left:
            self._log(f"{len(left)} bag(s) from an earlier run left in {self.path} (not handed over): "
                      f"{', '.join(left[:5])}")
        self._session = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
        self._seq = 0
        self.topics: dict[str, TopicSpec] = {}
        self.handed: list[Path] = []  # bags in the drop folder (or closed in ``out`` without one)
        self._unsent: list[Path] = []  # closed bags whose hand-off failed; retried at the next one
        self._bytes = 0
        self._start_ns = -1
        self._closed = False
        self._latched: dict[str, bytes] = {}  # last message of each transient-local topic
        self.bag = self._open()

    def __enter__(self) -> BagSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_topic(self, spec: TopicSpec) -> None:
        self.bag.add_topic(spec)
        self.topics[spec.name] = spec

    def _is_latched(self, topic: str) -> bool:
        qos = self.topics[topic].offered_qos
        return bool(qos) and all(q.get("durability") == "transient_local" for q in qos)

    def write(self, topic: str, log_ns: int, data: bytes | memoryview) -> None:
        p = self.policy
        if self._start_ns >= 0 and (
                (p.split_s and log_ns - self._start_ns >= p.split_s * 1e9)
                or (p.split_bytes and self._bytes + len(data) > p.split_bytes)):
            self._finish()
            self.bag = self._open()
            for latched, message in self._latched.items():
                self.bag.write(latched, log_ns, message)
        self.bag.write(topic, log_ns, data)
        if self._is_latched(topic):
            self._latched[topic] = bytes(data)
        if self._start_ns < 0:
            self._start_ns = log_ns
        self._bytes += len(data)

    @property
    def buffered_bytes(self) -> int:
        return self.bag.buffered_bytes

    def commit(self) -> None:
        self.bag.commit()

    def close(self) -> None:
        """Close and hand over the bag being written (an empty one is deleted). Idempotent."""
        if not self._closed:
            self._closed = True
            self._finish()

    def _open(self) -> RecordingBag:
        while True:
            name = f"{self.policy.prefix}_{self._session}_{self._seq:04d}"
            self._seq += 1
            taken = (self.path / name).exists() or (self.drop is not None and (self.drop / name).exists())
            if not taken:
                break
        bag = RecordingBag(self.path / name, self.split)
        for spec in self.topics.values():
            bag.add_topic(spec)
        self._bytes, self._start_ns = 0, -1
        return bag

    def _finish(self) -> None:
        bag = self.bag
        bag.close()
        if not sum(bag.counts.values()):
            shutil.rmtree(bag.path, ignore_errors=True)
            return
        self._unsent.append(bag.path)
        if self.drop is None:
            self.handed.extend(self._unsent)
            self._unsent.clear()
            return
        for path in list(self._unsent):
            try:
                target = hand_off(path, self.drop, fsync=self.split.fsync)
            except (OSError, BagError) as err:
                self._log(f"bag {path} stays in {self.path} for now (hand-off to {self.drop} failed: "
                          f"{err}); retried after the next bag")
                return
            self._unsent.remove(path)
            self.handed.append(target)
            self._log(f"handed over {target}")


def hand_off(bag: Path, drop: Path, fsync: bool = True) -> Path:
    """Move the closed bag directory ``bag`` into ``drop`` in one atomic step; return its new path.

    Same filesystem: a rename. Another filesystem: copy into ``drop/.incoming-<id>``, sync, rename into
    place, then delete the source. A failure leaves ``bag`` where it was.
    """
    target = drop / bag.name
    if target.exists():
        raise BagError(f"{target} already exists; a bag id must not be handed over twice")
    try:
        os.rename(bag, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        copy_into_place(bag, drop / f"{INCOMING}{bag.name}", target, fsync)
        shutil.rmtree(bag)
        return target
    if fsync:
        fsync_path(drop)
    return target

