"""Streaming bag reader: one API for rosbag2 (MCAP or sqlite3, directory or bare file) and ROS 1 bags.

Messages are deserialised with the definitions stored in the bag itself, so a Range recorded on
humble (no ``variance``) and one recorded on kilted both read correctly. Bags too old to carry
definitions (rosbag2 before iron) fall back to ``distro``'s definitions.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader as Reader2
from rosbags.typesys import Stores, get_typestore

from ros_ssl.errors import BagError

DISTROS = {s.value.removeprefix("ros2_"): s for s in Stores if s.value.startswith("ros2_")}


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    # Time the recorder received the message (bag time), integer nanoseconds.
    log_ns: int
    msg: Any


class BagReader:
    """Context manager over one recording. ``messages()`` streams; nothing is loaded whole."""

    def __init__(self, path: str | Path, distro: str = "humble") -> None:
        self.path = Path(path)
        if distro not in DISTROS:
            raise BagError(f"unknown ROS distro {distro!r} for {self.path}; "
                           f"expected one of {sorted(DISTROS)}")
        self._distro = DISTROS[distro]
        self._reader: AnyReader | None = None
        # Messages ``messages(unique=True)`` dropped as exact copies of an earlier one, per topic.
        self.duplicates: Counter[str] = Counter()

    def __enter__(self) -> BagReader:
        if not self.path.exists():
            raise BagError(f"bag {self.path} not found")
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise BagError(f"bag {self.path} is empty (0 bytes)")
        if self.path.is_dir() and not (self.path / "metadata.yaml").exists():
            files = sorted(self.path.glob("*.mcap")) + sorted(self.path.glob("*.db3"))
            if not files:
                raise BagError(f"bag {self.path} is a directory with neither metadata.yaml "
                               "nor .mcap/.db3 files")
        try:
            reader = AnyReader([self.path], default_typestore=get_typestore(self._distro))
            if self.path.is_dir() and not reader.is2:
                # AnyReader takes any "*.bag" path for ROS 1; a rosbag2 directory may be named so too.
                reader.is2, reader.readers = True, [Reader2(self.path)]
            reader.open()
        except Exception as err:  # rosbags raises several unrelated types for broken files
            raise BagError(f"bag {self.path} cannot be opened: corrupt, truncated or not a bag "
                           f"({_short(err)})") from err
        self._reader = reader
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> AnyReader:
        if self._reader is None:
            raise BagError(f"bag {self.path} is not open; use 'with BagReader(path) as bag:'")
        return self._reader

    def topics(self) -> list[TopicInfo]:
        """Topics with type and message count (connections of one topic are merged)."""
        merged: dict[str, TopicInfo] = {}
        for c in self.reader.connections:
            prev = merged.get(c.topic)
            merged[c.topic] = TopicInfo(c.topic, c.msgtype, c.msgcount + (prev.count if prev else 0))
        return sorted(merged.values(), key=lambda t: t.name)

    @property
    def start_ns(self) -> int:
        return int(self.reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self.reader.end_time)

    def msgtype(self, topic: str) -> str | None:
        for t in self.topics():
            if t.name == topic:
                return t.msgtype
        return None

    def messages(self, topics: Iterable[str] | None = None, deserialize: bool = True,
                 unique: bool = False) -> Iterator[BagMessage]:
        """Stream messages of ``topics`` (all if None) in bag-time order.

        With ``deserialize=False`` the ``msg`` field holds the raw serialized bytes (cheap scans).
        With ``unique=True`` a message whose topic and serialized bytes (so also its header stamp) equal
        an earlier one's is dropped and counted in ``duplicates``: a bag recorded by two recorders at
        once, or merged twice, holds every message twice, and storing both would double the data.
        """
        wanted = None if topics is None else set(topics)
        conns = [c for c in self.reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        it = self.reader.messages(connections=conns)
        seen: dict[str, set[bytes]] = {}
        last_ns = self.start_ns
        while True:
            try:
                conn, t_ns, raw = next(it)
            except StopIteration:
                return
            except Exception as err:
                raise BagError(f"bag {self.path} is corrupt or truncated after "
                               f"{(last_ns - self.start_ns) / 1e9:.2f} s "
                               f"({_short(err)})") from err
            last_ns = t_ns
            if unique:
                digests = seen.setdefault(conn.topic, set())
                digest = hashlib.blake2b(raw, digest_size=16).digest()
                if digest in digests:
                    self.duplicates[conn.topic] += 1
                    continue
                digests.add(digest)
            if not deserialize:
                yield BagMessage(conn.topic, conn.msgtype, t_ns, raw)
                continue
            try:
                msg = self.reader.deserialize(raw, conn.msgtype)
            except Exception as err:
                raise BagError(f"bag {self.path}: a {conn.msgtype} message on {conn.topic} at "
                               f"{t_ns} ns cannot be decoded ({_short(err)})") from err
            yield BagMessage(conn.topic, conn.msgtype, t_ns, msg)


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]
