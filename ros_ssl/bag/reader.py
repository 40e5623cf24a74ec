"""Streaming bag reader: one API for rosbag2 (MCAP or sqlite3, directory or bare file) and ROS 1 bags.

Messages are deserialised with the definitions stored in the bag itself, so a Range recorded on
humble (no ``variance``) and one recorded on kilted both read correctly. Bags too old to carry
definitions (rosbag2 before iron) fall back to ``distro``'s definitions. rosbag2 MCAP files are read
chunk by chunk as their messages come due (``ros_ssl.bag.mcap_stream``), so memory does not grow with
the bag's length.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection, Nodetype
from rosbags.rosbag2 import Reader as Reader2
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from ros_ssl.bag.mcap_stream import lazy_messages
from ros_ssl.errors import BagError

DISTROS = {s.value.removeprefix("ros2_"): s for s in Stores if s.value.startswith("ros2_")}
# The distros whose layouts ros_ssl.msgs.cdr's parsers are written and tested for.
CDR_LAYOUTS = (Stores.ROS2_HUMBLE, Stores.ROS2_KILTED)


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
        self._known_layout: dict[str, bool] = {}
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
        it = self._raw_messages(conns)
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
            m = BagMessage(conn.topic, conn.msgtype, t_ns, raw)
            yield self.decode(m) if deserialize else m

    def decode(self, m: BagMessage) -> BagMessage:
        """``m`` (from ``messages(deserialize=False)``) deserialised by the bag's own definitions."""
        try:
            msg = self.reader.deserialize(m.msg, m.msgtype)
        except Exception as err:
            raise BagError(f"bag {self.path}: a {m.msgtype} message on {m.topic} at "
                           f"{m.log_ns} ns cannot be decoded ({_short(err)})") from err
        return BagMessage(m.topic, m.msgtype, m.log_ns, msg)

    def known_cdr_layout(self, msgtype: str) -> bool:
        """True if this bag's ``msgtype`` messages are CDR laid out field for field as humble's or kilted's
        (so ``ros_ssl.msgs.cdr`` may read their bytes); False for ROS 1 bags and any other definition."""
        if msgtype not in self._known_layout:
            ours = self.reader.typestore
            self._known_layout[msgtype] = self.reader.is2 and any(
                _same_layout(ours, get_typestore(ref), msgtype) for ref in CDR_LAYOUTS)
        return self._known_layout[msgtype]

    def _raw_messages(self, conns: list[Connection]) -> Iterator[tuple[Connection, int, bytes]]:
        """rosbag2 MCAP files chunk by chunk as their messages come due (bounded memory for any length);
        sqlite3 and ROS 1 bags through rosbags, which already stream them."""
        reader = self.reader
        if len(reader.readers) == 1 and isinstance(reader.readers[0], Reader2):
            lazy = lazy_messages(reader.readers[0], conns)
            if lazy is not None:
                return lazy
        return reader.messages(connections=conns)


def _same_layout(a: Typestore, b: Typestore, msgtype: str) -> bool:
    """Same fields (names, types, array sizes) in the same order, nested types included."""
    if msgtype not in a.fielddefs or msgtype not in b.fielddefs:
        return False
    fields = a.fielddefs[msgtype][1]
    return fields == b.fielddefs[msgtype][1] and all(
        _same_layout(a, b, name) for _, node in fields for name in _nested(node))


def _nested(node: Any) -> Iterator[str]:
    """Names of the message types inside one field description (plain, array or sequence)."""
    kind, rest = node
    if kind == Nodetype.NAME:
        yield rest
    elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        yield from _nested(rest[0])


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]
