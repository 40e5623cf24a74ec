"""Offline rosbag2 MCAP writing from message objects: the simulator and tests build bags with it.

A thin layer over :class:`RecordingBag` (the recorder's crash-safe writer), so every bag ros_ssl
writes comes from one MCAP writer. This layer only serializes messages with the kilted typestore and
declares each topic (ROS 2 message definition, type hash) the first time it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rosbags.typesys import Stores, get_typestore

from ros_ssl.bag.recording import RecordingBag, SplitPolicy, TopicSpec
from ros_ssl.errors import BagError

TYPESTORE = get_typestore(Stores.ROS2_KILTED)


def topic_spec(name: str, msgtype: str, type_hash: str = "",
               offered_qos: tuple[dict[str, Any], ...] = ()) -> TopicSpec:
    """A topic as rosbag2 stores it: the ROS 2 definition of ``msgtype`` with every dependency
    (``builtin_interfaces/Time stamp``, not ROS 1's ``time``), so any MCAP ROS 2 reader decodes it.

    ``type_hash`` defaults to the typestore's RIHS01 hash; a recorder passes the publisher's.
    """
    msgdef, _ = TYPESTORE.generate_msgdef(msgtype, ros_version=2)
    return TopicSpec(name, msgtype, msgdef, type_hash or TYPESTORE.hash_rihs01(msgtype), offered_qos)


class BagWriter:
    """Write messages (rosbags objects, or already-serialized CDR bytes) to a new rosbag2 MCAP bag.

    The bag is a directory with ``metadata.yaml`` and its ``.mcap`` file(s), readable by ``ros2 bag``.
    Nothing is created before ``with`` enters, so a failure in between leaves no half-made bag.
    Log times must not go backwards (the recorder's writer raises them to the latest one written).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag {self.path} already exists; choose another --out or delete it first")
        self._bag: RecordingBag | None = None
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        # No fdatasync: an offline bag is rewritten from scratch if the machine dies.
        self._bag = RecordingBag(self.path, SplitPolicy(fsync=False))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bag is not None:
            self._bag.close()

    def write(self, topic: str, t_ns: int, msg: Any) -> None:
        """Serialize a rosbags message object and write it at bag time ``t_ns``."""
        msgtype = msg.__msgtype__
        self.write_raw(topic, msgtype, t_ns, TYPESTORE.serialize_cdr(msg, msgtype))

    def write_raw(self, topic: str, msgtype: str, t_ns: int, data: bytes | memoryview) -> None:
        """Write CDR bytes as received from DDS: no deserialize/serialize round trip."""
        if self._bag is None:
            raise BagError(f"bag {self.path} is not open; write inside 'with BagWriter(...)'")
        known = self._bag.topics.get(topic)
        if known is None:
            self._bag.add_topic(topic_spec(topic, msgtype))
            self.counts[topic] = 0
        elif known.msgtype != msgtype:
            raise BagError(f"bag {self.path}: topic {topic} is {known.msgtype}, cannot also write {msgtype}")
        self._bag.write(topic, int(t_ns), data)
        self.counts[topic] += 1
