"""Small bags for tests, written with our own writer (no binary fixtures in the repo)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from mcap.exceptions import EndOfFile
from mcap.reader import make_reader
from mcap.records import Channel, Schema
from mcap.stream_reader import StreamReader
from mcap_ros2.decoder import DecoderFactory

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.config import RobotProfile

T0 = 1_700_000_000_000_000_000


def write_robot_bag(path: Path, profile: RobotProfile, seconds: float = 2.0, speed: float = 0.1,
                    wall_x: float | None = 0.3, raw_camera: bool = False, tf_odometry: bool = False) -> Path:
    """A robot driving straight along +x towards a wall at ``wall_x``; every profile topic present."""
    cam = profile.camera.topic.removesuffix("/compressed") if raw_camera else profile.camera.topic
    with BagWriter(path) as w:
        for k in range(int(seconds * 50)):
            t = T0 + k * 20_000_000
            x = speed * k * 0.02
            if tf_odometry:
                odom_base = (profile.odometry.odom_frame, profile.odometry.base_frame)
                w.write("/tf", t, M.tf_msg(t, [(*odom_base, x, 0.0, 0.0)]))
            else:
                w.write(profile.odometry.topic, t,
                        M.odometry_msg(t, "odom", "base_link", x, 0.0, 0.0, v=speed))
            if k % 5 == 0:
                rgb = np.full((24, 32, 3), (k * 3) % 256, np.uint8)
                msg = (M.image_msg(t, "camera_link", rgb) if raw_camera
                       else M.compressed_msg(t, "camera_link", rgb))
                w.write(cam, t, msg)
            if k % 2 == 0:
                readings = []
                for s in profile.proximity.sensors:
                    gap = (wall_x - x - s.x) if wall_x is not None else math.inf
                    readings.append(gap if gap < profile.proximity.max_range else math.inf)
                if profile.proximity.source == "laser_scan":
                    beams = [math.inf] * (max(s.beam for s in profile.proximity.sensors) + 1)
                    for s, r in zip(profile.proximity.sensors, readings, strict=True):
                        beams[s.beam] = r
                    w.write(profile.proximity.scan_topic, t,
                            M.scan_msg(t, "prox", beams, -0.7, 0.35, profile.proximity.max_range))
                else:
                    for s, r in zip(profile.proximity.sensors, readings, strict=True):
                        w.write(s.topic, t,
                                M.range_msg(t, "proximity_" + s.name, r, profile.proximity.max_range))
    return path


def decode_rosbag2(bag: Path, killed: bool = False) -> Counter[str]:
    """Messages per topic of every ``.mcap`` file in ``bag``, each decoded by mcap-ros2-support from the
    schema stored in the file (not our types), after checking the schemas are what rosbag2 writes: one
    ``ros2msg`` schema per message type, ROS 2 definitions (no ROS 1 ``time``), a type hash per channel.
    Records are scanned linearly, so a file cut short by a crash (no summary section) is checked too;
    with ``killed`` its last record may be cut mid-way (a kill -9 during a write), and what precedes
    the cut is checked."""
    counts: Counter[str] = Counter()
    for file in sorted(bag.glob("*.mcap")):
        records: list[Any] = []
        with open(file, "rb") as f:
            try:
                for record in StreamReader(f, skip_magic=False).records:
                    records.append(record)
            except EndOfFile:
                if not killed:
                    raise
        schemas = {r.id: r for r in records if isinstance(r, Schema)}
        names = [r.name for r in schemas.values()]
        assert len(names) == len(set(names)), f"{file}: more than one schema per type: {sorted(names)}"
        for schema in schemas.values():
            assert schema.encoding == "ros2msg"
            text = schema.data.decode()
            assert not re.search(r"^(time|duration) ", text, re.M), f"ROS 1 primitive in {schema.name}"
            header = "std_msgs/Header header" in text
            assert not header or "MSG: builtin_interfaces/Time" in text, schema.name
        channels = {r.id: r for r in records if isinstance(r, Channel)}
        for channel in channels.values():
            assert channel.metadata.get("topic_type_hash", "").startswith("RIHS01_"), channel.topic
        with open(file, "rb") as f:
            for _, channel, _, decoded in make_reader(f, decoder_factories=[DecoderFactory()]) \
                    .iter_decoded_messages(log_time_order=False):
                assert decoded is not None
                counts[channel.topic] += 1
    return counts
