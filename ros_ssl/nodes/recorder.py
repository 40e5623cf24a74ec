"""Recorder node: the robot profile's camera, proximity and odometry topics (+ /tf) -> rosbag2 MCAP.

Example::

    ros-ssl-recorder --ros-args -p profile:=thymio -p out:=/data/run1 -p flush_interval:=1.0

Messages are taken serialized (``raw=True``) and written as they came, with no deserialization.
Types come from the ROS graph, so a topic is subscribed when its first publisher appears; a type
whose Python package is missing here (e.g. tf2_msgs for /tf) is skipped with a warning. Topics
follow the profile; remap them as usual (``-r /odom:=/diff_drive/odom``); they are recorded under
the profile's names so the bag labels with the same profile.

Hand-off: with ``split_s`` / ``split_mb`` the recording is a series of complete bags in ``out``; with
``drop_dir`` each one is moved there once closed (``ros_ssl.bag.handoff``), for a learner to pick up.

Ctrl-C, SIGTERM or ``ros2 launch`` shutdown close the bag completely (and hand it over); after SIGKILL
or power loss the bag (left in ``out``) holds everything up to the last flush (``flush_interval``).
Every ``report_interval`` the node logs each topic's rate, bandwidth, and messages dropped (writer
queue full) or lost (reported by DDS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node

from ros_ssl.bag.handoff import BagSeries, HandOffPolicy
from ros_ssl.bag.recorder_core import BagSink, FlushPolicy, RecorderCore, TopicRate
from ros_ssl.bag.recording import MIB, RecordingBag, SplitPolicy, TopicSpec
from ros_ssl.bag.writer import TYPESTORE, topic_spec
from ros_ssl.config.profile import RobotProfile, load_profile
from ros_ssl.errors import BagError, ConfigError, MessageError
from ros_ssl.nodes.params import check_fields, declare_config, param
from ros_ssl.nodes.qos import QOS_CHOICES, qos_dict, subscription_qos
from ros_ssl.nodes.runtime import main_for, msg_class


@dataclass(frozen=True)
class RecorderConfig:
    profile: str = field(default="sim", metadata=param(
        "Robot profile: a built-in name (sim, thymio, thymio_scan) or a YAML path (plain profile or a ROS "
        "parameter file wrapping one); it names the topics to record."))
    out: str = field(default="", metadata=param(
        "Bag directory to create (must not exist); empty: ./recording_<date>_<time>. With split_s, split_mb "
        "or drop_dir: the recording directory holding the bag being written (created if missing)."))
    split_s: float = field(default=0.0, metadata=param(
        "Close the bag and start a new one after this many seconds; 0 = one bag.", 0.0, 86400.0))
    split_mb: int = field(default=0, metadata=param(
        "Close the bag and start a new one at this size (MiB); 0 = no limit.", 0, 1048576))
    drop_dir: str = field(default="", metadata=param(
        "Hand-off folder: each closed, complete bag is moved here (atomically); empty = bags stay in out."))
    bag_prefix: str = field(default="bag", metadata=param(
        "With split_s, split_mb or drop_dir: bag ids are <bag_prefix>_<start date_time>_<seq>."))
    extra_topics: tuple[str, ...] = field(default=("/tf", "/tf_static"), metadata=param(
        "More topics to record when they appear, with QoS matched to their publishers (e.g. /sim/world)."))
    qos: str = field(default="auto", metadata=param(
        "QoS for the profile's sensor topics: auto (reliable if every publisher is, as ros2 bag record "
        "does), sensor_data (always best effort: large frames from reliable publishers get lost), or "
        "reliable.", choices=QOS_CHOICES))
    qos_depth: int = field(default=10, metadata=param("Subscription queue depth per topic.", 1, 1000))
    flush_interval: float = field(default=1.0, metadata=param(
        "Seconds between commits to disk: the most a SIGKILL or power loss can lose.", 0.01, 600.0))
    max_file_mb: int = field(default=512, metadata=param(
        "Split: start a new .mcap file at this size (MiB).", 1, 4096))
    max_file_duration: float = field(default=0.0, metadata=param(
        "Split: start a new .mcap file after this many seconds; 0 = no limit.", 0.0, 86400.0))
    max_queue_mb: int = field(default=256, metadata=param(
        "Writer queue limit (MiB); beyond it messages are dropped and counted.", 1, 65536))
    fsync: bool = field(default=True, metadata=param(
        "fdatasync at every commit, so the bag survives power loss as well as a killed process."))
    report_interval: float = field(default=5.0, metadata=param(
        "Seconds between rate/drop reports in the log; 0 = never.", 0.0, 3600.0))
    discovery_interval: float = field(default=0.5, metadata=param(
        "Seconds between looks at the ROS graph for topics not subscribed yet.", 0.05, 60.0))

    def validate(self) -> RecorderConfig:
        check_fields(self)
        bad = [t for t in self.extra_topics if not t.startswith("/")]
        if bad:
            raise ConfigError(f"parameter extra_topics has relative topic name(s) {bad}; use absolute names")
        self.hand_off_policy().validate()
        return self

    @property
    def series(self) -> bool:
        """Whether the recording is a series of bags (split and/or handed over) rather than one bag."""
        return bool(self.split_s or self.split_mb or self.drop_dir)

    def hand_off_policy(self) -> HandOffPolicy:
        return HandOffPolicy(self.split_s, self.split_mb * MIB, self.drop_dir, self.bag_prefix)

    def split_policy(self) -> SplitPolicy:
        return SplitPolicy(self.max_file_mb * MIB, self.max_file_duration, self.fsync)

    def flush_policy(self) -> FlushPolicy:
        return FlushPolicy(self.flush_interval, self.max_queue_mb * MIB)


def profile_topics(profile: RobotProfile) -> list[str]:
    """The sensor topics a profile needs: camera, proximity, and odometry (or /tf)."""
    odom = [profile.odometry.topic] if profile.odometry.source == "odometry" else ["/tf", "/tf_static"]
    return [profile.camera.topic, *profile.proximity_topics(), *odom]


def format_rates(rates: Sequence[TopicRate]) -> str:
    return "; ".join(f"{r.topic} {r.hz:.1f} Hz {r.mb_per_s:.2f} MB/s written {r.written} dropped {r.dropped} "
                     f"lost {r.lost}" for r in rates) or "no topic subscribed yet"


class RecorderNode(Node):
    """Subscribes (serialized) to the profile's topics as they appear and feeds a RecorderCore."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("recorder", **node_kwargs)
        self.cfg = declare_config(self, RecorderConfig)
        profile = load_profile(self.cfg.profile)
        self._sensor_topics = profile_topics(profile)
        self._wanted = list(dict.fromkeys([*self._sensor_topics, *self.cfg.extra_topics]))
        out = self.cfg.out or datetime.now().strftime("recording_%Y%m%d_%H%M%S")
        logger = self.get_logger()
        bag: BagSink = (BagSeries(out, self.cfg.hand_off_policy(), self.cfg.split_policy(),
                                  logger.info)
                        if self.cfg.series else RecordingBag(out, self.cfg.split_policy()))
        self.core = RecorderCore(bag, self.cfg.flush_policy())
        self._subs: dict[str, Any] = {}
        self._skipped: set[str] = set()
        self._discover()
        self.create_timer(self.cfg.discovery_interval, self._tick)
        if self.cfg.report_interval > 0:
            self.create_timer(self.cfg.report_interval, self._report)
        self.get_logger().info(f"recording {', '.join(self._wanted)} (profile {profile.name}) to "
                               f"{self.core.bag.path}")

    def _tick(self) -> None:
        if self.core.error is not None:  # stops the node: the executor re-raises, main() exits with 2
            raise BagError(f"bag writer for {self.core.bag.path} failed: {self.core.error}")
        self._discover()

    def _discover(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for topic in self._wanted:
            resolved = self.resolve_topic_name(topic)  # after remapping
            if topic in self._subs or topic in self._skipped or resolved not in types:
                continue
            msgtype = types[resolved][0]
            try:
                cls = msg_class(msgtype)
            except MessageError as err:
                self._skipped.add(topic)
                self.get_logger().warning(f"not recording {topic}: {err}")
                continue
            self._subscribe(topic, resolved, msgtype, cls)

    def _subscribe(self, topic: str, resolved: str, msgtype: str, cls: Any) -> None:
        infos = self.get_publishers_info_by_topic(resolved)
        offered = [i.qos_profile for i in infos]
        choice = self.cfg.qos if topic in self._sensor_topics else "auto"
        qos = subscription_qos(choice, offered, self.cfg.qos_depth)
        known = msgtype in TYPESTORE.types
        if not known:
            self.get_logger().warning(f"{topic}: no definition of {msgtype} here; its schema is left empty")
        type_hash = str(infos[0].topic_type_hash) if infos else ""
        offered_qos = tuple(qos_dict(q) for q in offered)
        self.core.add_topic(topic_spec(topic, msgtype, type_hash, offered_qos) if known
                            else TopicSpec(topic, msgtype, "", type_hash, offered_qos))
        events = SubscriptionEventCallbacks(message_lost=partial(self._on_message_lost, topic))
        self._subs[topic] = self.create_subscription(
            cls, topic, partial(self._on_message, topic), qos, raw=True, event_callbacks=events)
        self.get_logger().info(f"subscribed to {resolved} ({msgtype}, {qos.reliability.name.lower()}, "
                               f"{qos.durability.name.lower()})")

    def _on_message_lost(self, topic: str, info: Any) -> None:
        self.core.message_lost(topic, info.total_count_change)

    def _on_message(self, topic: str, data: bytes) -> None:
        self.core.put(topic, self.get_clock().now().nanoseconds, data)

    def _report(self) -> None:
        missing = [t for t in self._sensor_topics if t not in self._subs and t not in self._skipped]
        note = f" (waiting for {', '.join(missing)})" if missing else ""
        self.get_logger().info(format_rates(self.core.rates()) + note)

    def close(self) -> None:
        """Stop taking messages, write what is queued, and close the bag."""
        for sub in self._subs.values():
            self.destroy_subscription(sub)
        self._subs.clear()
        self.core.close()
        rates = self.core.rates()
        counts = ", ".join(f"{r.topic} {r.written}" for r in rates)
        self.get_logger().info(f"closed {self.core.bag.path}: {counts}")


def main(args: Sequence[str] | None = None) -> None:
    main_for(RecorderNode, args)


if __name__ == "__main__":
    main()
