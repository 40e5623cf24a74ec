"""A rosbag2 (MCAP) directory written from serialized messages, split by size or duration, crash safe.

The bag is ``<name>/<name>_<i>.mcap`` plus ``metadata.yaml`` (rosbag2 format version 9, what
``ros2 bag info/play`` read). Each file is a :class:`DurableMcapFile`; ``commit()`` makes buffered
messages durable and then rewrites ``metadata.yaml`` atomically (write + rename), so after a kill the
metadata never counts a message that is not on disk; it may miss the last commit's messages (readers
still read them; ``ros2 bag reindex`` recounts). The recorder node feeds it bytes from DDS;
:class:`ros_ssl.bag.BagWriter` feeds it messages serialized offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ros_ssl.bag.durable import DurableMcapFile
from ros_ssl.errors import BagError, ConfigError
from ros_ssl.fsync import fsync_path

MIB = 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    """What rosbag2 records about a topic."""

    name: str
    msgtype: str  # e.g. "sensor_msgs/msg/Image"
    msgdef: str = ""  # ros2msg definition text (with dependencies), stored as the MCAP schema
    type_hash: str = ""  # RIHS01_... type description hash
    # Publishers' QoS as rosbag2 v9 dicts (history, depth, reliability, durability, ...): ``ros2 bag
    # play`` republishes with them (transient-local topics stay latched).
    offered_qos: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SplitPolicy:
    # A file holds at most this many bytes (also its size on disk, sparse, until closed).
    max_file_bytes: int = 512 * MIB
    # Start a new file after this many seconds of log time; 0 = no limit.
    max_file_s: float = 0.0
    # fdatasync at every commit: survives power loss, not just a killed process.
    fsync: bool = True

    def validate(self) -> SplitPolicy:
        if not 1 * MIB <= self.max_file_bytes <= 4096 * MIB:
            raise ConfigError(f"max file size {self.max_file_bytes} bytes is outside [1 MiB, 4 GiB]")
        if self.max_file_s < 0:
            raise ConfigError(f"max file duration {self.max_file_s} s is negative; use 0 for no limit")
        return self


@dataclass
class _FileInfo:
    path: str
    start_ns: int = 0
    end_ns: int = 0
    count: int = 0


@dataclass
class _Open:
    """The file being written and the channel id of each topic in it."""

    mcap: DurableMcapFile
    info: _FileInfo
    channels: dict[str, int] = field(default_factory=dict)
    schemas: dict[str, int] = field(default_factory=dict)  # message type -> schema id: one per type


class RecordingBag:
    """Append serialized messages to a new rosbag2 bag; a context manager that always closes it."""

    def __init__(self, path: str | Path, policy: SplitPolicy | None = None) -> None:
        self.path = Path(path)
        self.policy = (policy or SplitPolicy()).validate()
        if self.path.exists():
            raise BagError(f"bag {self.path} already exists; choose another output or delete it first")
        self.path.mkdir(parents=True)
        self.topics: dict[str, TopicSpec] = {}
        self.counts: dict[str, int] = {}  # committed messages per topic
        self.files: list[_FileInfo] = []
        self._last_ns = 0
        self._file: _Open | None = None
        self._open_next()
        self._write_metadata()

    def __enter__(self) -> RecordingBag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_topic(self, spec: TopicSpec) -> None:
        """Declare a topic before writing it; a second declaration must agree on the type."""
        known = self.topics.get(spec.name)
        if known is not None and known.msgtype != spec.msgtype:
            raise BagError(f"bag {self.path}: topic {spec.name} is {known.msgtype}, cannot also record "
                           f"{spec.msgtype}")
        if known is None:
            self.topics[spec.name] = spec
            self.counts[spec.name] = 0

    def write(self, topic: str, log_ns: int, data: bytes | memoryview) -> None:
        """Buffer one message at receive time ``log_ns``; it is on disk after the next ``commit()``.

        Log times are made non-decreasing (a clock step back would otherwise break readers that
        scan a crashed file in order).
        """
        if topic not in self.topics:
            raise BagError(f"bag {self.path}: topic {topic} was not declared with add_topic()")
        log_ns = max(int(log_ns), self._last_ns)
        self._last_ns = log_ns
        f = self._current()
        limit_ns = self.policy.max_file_s * 1e9
        if limit_ns and f.info.count and log_ns - f.info.start_ns >= limit_ns:
            f = self._rotate()
        new_records = 0 if topic in f.channels else self._topic_record_bytes(self.topics[topic])
        if not f.mcap.fits(len(data), new_records):
            if not f.channels and not f.mcap.buffered_bytes:
                raise BagError(f"a {len(data)}-byte message on {topic} does not fit in a "
                               f"{self.policy.max_file_bytes}-byte bag file; raise the maximum file size")
            f = self._rotate()
        cid = f.channels.get(topic) or self._add_channel(f, self.topics[topic])
        f.mcap.add_message(cid, log_ns, data)
        if not f.info.count:
            f.info.start_ns = log_ns
        f.info.end_ns = log_ns
        f.info.count += 1

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet committed."""
        return self._current().mcap.buffered_bytes

    def commit(self) -> None:
        """Make every buffered message durable, then update metadata.yaml to match."""
        f = self._current()
        if not f.mcap.buffered_bytes:
            return
        f.mcap.commit()
        self._write_metadata()

    def close(self) -> None:
        """Finish the current file (with its index) and write the final metadata.yaml. Idempotent."""
        if self._file is None:
            return
        f, self._file = self._file, None
        f.mcap.close()
        self._absorb(f)
        self._write_metadata()

    # -- internals ---------------------------------------------------------------------------------
    def _current(self) -> _Open:
        if self._file is None:
            raise BagError(f"bag {self.path} is closed")
        return self._file

    def _open_next(self) -> None:
        name = f"{self.path.name}_{len(self.files)}.mcap"
        mcap = DurableMcapFile(self.path / name, self.policy.max_file_bytes, fsync=self.policy.fsync)
        info = _FileInfo(name)
        self.files.append(info)
        self._file = _Open(mcap, info)

    def _rotate(self) -> _Open:
        f = self._current()
        f.mcap.close()
        self._absorb(f)
        self._open_next()
        self._write_metadata()
        return self._current()

    def _absorb(self, f: _Open) -> None:
        """Fold a closed file's counts into the bag totals."""
        for topic, cid in f.channels.items():
            self.counts[topic] += f.mcap.committed[cid]
        f.channels.clear()

    def _add_channel(self, f: _Open, spec: TopicSpec) -> int:
        """A channel for ``spec`` in the open file; topics of one type share one schema, as rosbag2 writes."""
        sid = f.schemas.get(spec.msgtype)
        if sid is None:
            sid = f.schemas[spec.msgtype] = len(f.schemas) + 1
            f.mcap.add_schema(sid, spec.msgtype, "ros2msg", spec.msgdef)
        cid = len(f.channels) + 1
        metadata = {"offered_qos_profiles": _qos_yaml(spec.offered_qos)}
        if spec.type_hash:
            metadata["topic_type_hash"] = spec.type_hash
        f.mcap.add_channel(cid, sid, spec.name, metadata)
        f.channels[spec.name] = cid
        return cid

    @staticmethod
    def _topic_record_bytes(spec: TopicSpec) -> int:
        text = spec.msgtype + spec.name + spec.msgtype + _qos_yaml(spec.offered_qos) + spec.type_hash
        return 128 + len(text.encode()) + len(spec.msgdef.encode())

    def _committed_counts(self) -> dict[str, int]:
        counts = dict(self.counts)
        if self._file is not None:
            for topic, cid in self._file.channels.items():
                counts[topic] += self._file.mcap.committed[cid]
        return counts

    def _write_metadata(self) -> None:
        counts = self._committed_counts()
        # The open file counts only what its last commit made durable.
        spans = [_FileInfo(info.path, self._file.mcap.start_ns, self._file.mcap.end_ns,
                           sum(self._file.mcap.committed.values()))
                 if self._file is not None and info is self._file.info else info
                 for info in self.files]
        live = [s for s in spans if s.count]
        start = min((s.start_ns for s in live), default=0)
        end = max((s.start_ns + max(s.end_ns - s.start_ns, 0) for s in live), default=0)
        files = [{"path": s.path, "starting_time": {"nanoseconds_since_epoch": s.start_ns if s.count else 0},
                  "duration": {"nanoseconds": max(s.end_ns - s.start_ns, 0) if s.count else 0},
                  "message_count": s.count}
                 for s in spans]
        meta = {"rosbag2_bagfile_information": {
            "version": 9,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": end - start},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": sum(counts.values()),
            "topics_with_message_count": [
                {"topic_metadata": {"name": s.name, "type": s.msgtype, "serialization_format": "cdr",
                                    "offered_qos_profiles": [dict(q) for q in s.offered_qos],
                                    "type_description_hash": s.type_hash},
                 "message_count": counts[s.name]}
                for s in self.topics.values()],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [s.path for s in spans],
            "files": files,
            "custom_data": {"recorder": "ros_ssl"},
            "ros_distro": "kilted",
        }}
        tmp = self.path / "metadata.yaml.tmp"
        with open(tmp, "w") as fh:
            yaml.safe_dump(meta, fh, sort_keys=False)
            if self.policy.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, self.path / "metadata.yaml")
        if self.policy.fsync:
            fsync_path(self.path)


def _qos_yaml(qos: tuple[dict[str, Any], ...]) -> str:
    return yaml.safe_dump([dict(q) for q in qos], sort_keys=False).strip() if qos else ""

