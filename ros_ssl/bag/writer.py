"""rosbag2 MCAP writer: a context manager that refuses to overwrite and always closes the bag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_typestore

from ros_ssl.errors import BagError

TYPESTORE = get_typestore(Stores.ROS2_KILTED)


class BagWriter:
    """Write messages (rosbags objects, or already-serialized CDR bytes) to a new rosbag2 MCAP bag.

    The bag is a directory with ``metadata.yaml`` and one ``.mcap`` file, readable by ``ros2 bag``.
    """

    def __init__(self, path: str | Path, compress: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag {self.path} already exists; choose another --out or delete it first")
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        if compress:
            self._writer.set_compression(CompressionMode.FILE, CompressionFormat.ZSTD)
        self._conns: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def _conn(self, topic: str, msgtype: str) -> Any:
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self._conns[topic] = conn
            self.counts[topic] = 0
        elif conn.msgtype != msgtype:
            raise BagError(f"bag {self.path}: topic {topic} is {conn.msgtype}, cannot also write {msgtype}")
        return conn

    def write(self, topic: str, t_ns: int, msg: Any) -> None:
        """Serialize a rosbags message object and write it at bag time ``t_ns``."""
        msgtype = msg.__msgtype__
        self.write_raw(topic, msgtype, t_ns, TYPESTORE.serialize_cdr(msg, msgtype))

    def write_raw(self, topic: str, msgtype: str, t_ns: int, data: bytes | memoryview) -> None:
        """Write CDR bytes as received from DDS: no deserialize/serialize round trip."""
        self._writer.write(self._conn(topic, msgtype), int(t_ns), data)
        self.counts[topic] += 1
