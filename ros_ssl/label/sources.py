"""Find what a robot recorded: its camera, its proximity sensors and its odometry, from the bag alone.

``find_sources`` looks at topic types (and one message of each candidate) across the bags, so a user
with an unknown robot gets a first profile without knowing the topic names. Sensor mounts come from
/tf_static in the bag or a URDF (``--from-urdf``); what cannot be known is left as ``None`` so the
writer marks it for the user to fill in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.bag.reader import BagReader, TopicInfo
from ros_ssl.config.profile import COMPRESSED_FORMATS, RAW_ENCODINGS
from ros_ssl.errors import ConfigError, MessageError
from ros_ssl.label.mounts import FrameTree, Mount, urdf_tree
from ros_ssl.msgs.images import UndecodableImage, decode_image

COMPRESSED = "sensor_msgs/msg/CompressedImage"
RAW = "sensor_msgs/msg/Image"
RANGE = "sensor_msgs/msg/Range"
SCAN = "sensor_msgs/msg/LaserScan"
ODOMETRY = "nav_msgs/msg/Odometry"
TF = "tf2_msgs/msg/TFMessage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
# Topics that carry a simulator's or a mocap's truth, never the robot's own odometry.
TRUTH_HINTS = ("ground_truth", "/sim/", "groundtruth", "mocap", "vicon")
DEFAULT_SCAN_BEAMS = 5  # beams picked from a LaserScan when the user names none (like the Thymio's 5 IRs)
RING_BEAMS = 16  # a scan of at most this many beams is a ring of proximity sensors: every beam is one


@dataclass
class CameraSource:
    topic: str
    type: str  # "raw" or "compressed"
    encoding: str
    width: int
    height: int
    frame_id: str
    fov_deg: float | None = None  # from a CameraInfo topic, if recorded
    mount: Mount | None = None


@dataclass
class SensorSource:
    name: str
    topic: str  # Range topic, or the scan topic
    beam: int = -1  # LaserScan beam index, -1 for Range
    frame_id: str = ""
    declared_min: float = 0.0
    declared_max: float = math.inf
    fov: float | None = None  # radians: Range.field_of_view or the scan's angle increment
    beam_angle: float = 0.0  # LaserScan: angle of the beam in the scan frame
    x: float | None = None  # pose on the base frame, None = unknown
    y: float | None = None
    yaw: float | None = None
    pose_from: str = ""


@dataclass
class OdometrySource:
    source: str  # "odometry" or "tf"
    topic: str
    odom_frame: str
    base_frame: str


@dataclass
class Sources:
    """What the bags hold that a profile needs; notes say what was guessed or is missing."""

    camera: CameraSource | None
    proximity: str  # "range", "laser_scan" or "" (none found)
    scan_topic: str
    sensors: list[SensorSource]
    odometry: OdometrySource | None
    topics: dict[str, str]  # name -> type, across bags
    notes: list[str] = field(default_factory=list)


def find_sources(paths: Sequence[str | Path], sensors: Sequence[str] = (), urdf: str | Path | None = None,
                 base_frame: str | None = None) -> Sources:
    """Look at the bags' topics and a first message of each candidate; read /tf_static and a URDF.

    ``sensors`` names proximity sources: Range topics, or ``SCAN_TOPIC[:b1,b2,...]`` for beams of a
    LaserScan (default: DEFAULT_SCAN_BEAMS beams spread over the scan).
    """
    infos: dict[str, TopicInfo] = {}
    for p in paths:
        with BagReader(p) as bag:
            for t in bag.topics():
                prev = infos.get(t.name)
                infos[t.name] = TopicInfo(t.name, t.msgtype, t.count + (prev.count if prev else 0))
    topics = {n: t.msgtype for n, t in infos.items()}
    notes: list[str] = []
    first, tf_edges = _first_messages(paths, infos)
    tree = FrameTree()
    for msg in first.get("/tf_static", []):
        tree.add_tf_message(msg)
    if urdf is not None:
        tree.edges.update(urdf_tree(urdf).edges)
    odom = _odometry(infos, first, tf_edges, notes)
    base = base_frame or _base_frame(odom, tree)
    if odom is not None:
        odom.base_frame = base
    camera = _camera(infos, first, notes)
    if camera is not None:
        camera.mount = tree.mount(camera.frame_id, base) if camera.frame_id else None
    kind, scan_topic, found = _proximity(infos, first, sensors, notes)
    for s in found:
        _place(s, tree, base, kind)
    if kind == "range" and all(s.yaw is not None for s in found):
        found.sort(key=lambda s: -(s.yaw or 0.0))  # left to right, as the mirror augmentation expects
    return Sources(camera, kind, scan_topic, found, odom, topics, notes)


def _first_messages(paths: Sequence[str | Path],
                    infos: dict[str, TopicInfo]) -> tuple[dict[str, list[Any]], Counter[tuple[str, str]]]:
    """All /tf_static messages, the first message of every other topic a profile may use, and the
    parent -> child edges of the first /tf messages with how often each came."""
    kinds = (COMPRESSED, RAW, RANGE, SCAN, ODOMETRY, CAMERA_INFO)
    wanted = {n for n, t in infos.items() if t.msgtype in kinds}
    wanted |= {"/tf_static"} if "/tf_static" in infos else set()
    tf_topic = {"/tf"} if "/tf" in infos else set()
    out: dict[str, list[Any]] = {}
    tf_edges: Counter[tuple[str, str]] = Counter()
    for p in paths:
        with BagReader(p) as bag:
            present = {t.name for t in bag.topics()}
            todo = (wanted - {k for k, v in out.items() if v and k != "/tf_static"}) & present
            tf_left = 200 if tf_topic & present else 0  # /tf: count edges over the first messages
            if not todo and not tf_left:
                continue
            for m in bag.messages(todo | (tf_topic & present)):
                if m.topic == "/tf":
                    if tf_left > 0:
                        tf_left -= 1
                        for ts in m.msg.transforms:
                            tf_edges[(ts.header.frame_id.lstrip("/"), ts.child_frame_id.lstrip("/"))] += 1
                elif m.topic == "/tf_static" or m.topic in todo:
                    out.setdefault(m.topic, []).append(m.msg)
                    if m.topic != "/tf_static":
                        todo.discard(m.topic)
                if not todo - {"/tf_static"} and tf_left <= 0 and "/tf_static" not in todo:
                    break
    return out, tf_edges


def _most(infos: dict[str, TopicInfo], msgtype: str, prefer: Sequence[str] = ()) -> list[TopicInfo]:
    cands = [t for t in infos.values() if t.msgtype == msgtype]
    return sorted(cands, key=lambda t: (t.name not in prefer, -t.count, t.name))


def _odometry(infos: dict[str, TopicInfo], first: dict[str, list[Any]], edges: Counter[tuple[str, str]],
              notes: list[str]) -> OdometrySource | None:
    cands = [t for t in _most(infos, ODOMETRY, ("/odom",))
             if not any(h in t.name.lower() for h in TRUTH_HINTS)]
    if cands:
        t = cands[0]
        msg = first[t.name][0] if first.get(t.name) else None
        frame = getattr(getattr(msg, "header", None), "frame_id", "odom") or "odom"
        child = getattr(msg, "child_frame_id", "base_link") or "base_link"
        if len(cands) > 1:
            notes.append(f"odometry: {len(cands)} Odometry topics; chose {t.name} ({t.count} messages)")
        return OdometrySource("odometry", t.name, frame.lstrip("/"), child.lstrip("/"))
    odom_edges = [(e, n) for e, n in edges.most_common() if e[0] == "odom"] or \
        [(e, n) for e, n in edges.most_common() if "base" in e[1]]
    truth = [t.name for t in infos.values() if t.msgtype == ODOMETRY]
    if truth:
        notes.append(f"odometry: {', '.join(truth)} carry ground truth, not the robot's odometry; not used")
    if odom_edges:
        (parent, child), _ = odom_edges[0]
        notes.append(f"odometry: no nav_msgs/Odometry topic; using /tf {parent} -> {child}")
        return OdometrySource("tf", "/odom", parent, child)
    return None


def _base_frame(odom: OdometrySource | None, tree: FrameTree) -> str:
    """base_link when the static tree links it below the odometry's child frame, else that child."""
    child = odom.base_frame if odom is not None else "base_link"
    # The bag reader walks static edges from the base up to the odometry child: base_link must be below it.
    return "base_link" if child != "base_link" and child in tree.ancestors("base_link")[1:] else child


def _camera(infos: dict[str, TopicInfo], first: dict[str, list[Any]],
            notes: list[str]) -> CameraSource | None:
    cands = _most(infos, COMPRESSED) + _most(infos, RAW)
    if not cands:
        return None
    t = cands[0]
    if len(cands) > 1:
        notes.append(f"camera: {len(cands)} image topics; chose {t.name} ({t.count} messages)")
    msg = first[t.name][0] if first.get(t.name) else None
    frame_id = str(getattr(getattr(msg, "header", None), "frame_id", "")).lstrip("/")
    if t.msgtype == COMPRESSED:
        fmt = str(getattr(msg, "format", "jpeg")).lower()
        enc = "png" if "png" in fmt else "jpeg"
        height, width = _image_size(msg)
        camera = CameraSource(t.name, "compressed", enc if enc in COMPRESSED_FORMATS else "jpeg", width,
                              height, frame_id)
    else:
        enc = str(getattr(msg, "encoding", "rgb8"))
        if enc not in RAW_ENCODINGS:
            notes.append(f"camera: raw encoding {enc!r} is not one of {', '.join(RAW_ENCODINGS)}")
        camera = CameraSource(t.name, "raw", enc, int(getattr(msg, "width", 0)),
                              int(getattr(msg, "height", 0)), frame_id)
    for info in _most(infos, CAMERA_INFO):
        ci = first[info.name][0] if first.get(info.name) else None
        fx = float(ci.k[0]) if ci is not None and len(ci.k) else 0.0
        if fx > 0 and camera.width:
            camera.fov_deg = math.degrees(2 * math.atan(camera.width / (2 * fx)))
            break
    return camera


def _image_size(msg: Any) -> tuple[int, int]:
    """(height, width) of a compressed image message, (0, 0) if it cannot be decoded."""
    if msg is None:
        return 0, 0
    try:
        rgb = decode_image(msg)
    except (UndecodableImage, MessageError):
        return 0, 0
    return int(rgb.shape[0]), int(rgb.shape[1])


def _proximity(infos: dict[str, TopicInfo], first: dict[str, list[Any]], named: Sequence[str],
               notes: list[str]) -> tuple[str, str, list[SensorSource]]:
    if named:
        return _named(infos, first, named)
    ranges = _most(infos, RANGE)
    if ranges:
        return "range", "", [_range_sensor(t.name, first) for t in sorted(ranges, key=lambda t: t.name)]
    scans = _most(infos, SCAN)
    if scans:
        if len(scans) > 1:
            notes.append(f"proximity: {len(scans)} LaserScan topics; chose {scans[0].name}")
        return "laser_scan", scans[0].name, _scan_sensors(scans[0].name, first, None)
    return "", "", []


def _named(infos: dict[str, TopicInfo], first: dict[str, list[Any]],
           named: Sequence[str]) -> tuple[str, str, list[SensorSource]]:
    kinds = set()
    out: list[SensorSource] = []
    scan_topic = ""
    for item in named:
        topic, _, beams = item.partition(":")
        info = infos.get(topic)
        if info is None:
            raise ConfigError(f"--sensors {item}: no topic {topic} in the bags; topics: {sorted(infos)}")
        if info.msgtype == RANGE and not beams:
            kinds.add("range")
            out.append(_range_sensor(topic, first))
        elif info.msgtype == SCAN:
            kinds.add("laser_scan")
            scan_topic = topic
            try:
                chosen = [int(b) for b in beams.split(",")] if beams else None
            except ValueError as err:
                raise ConfigError(f"--sensors {item}: beams must be integers, "
                                  f"e.g. {topic}:0,160,320") from err
            out += _scan_sensors(topic, first, chosen)
        else:
            raise ConfigError(f"--sensors {item}: {topic} is a {info.msgtype}; expected a sensor_msgs/Range "
                              "topic or a sensor_msgs/LaserScan topic with optional :beam,beam,...")
    if len(kinds) > 1 or (kinds == {"laser_scan"} and len({s.topic for s in out}) > 1):
        raise ConfigError("--sensors: a profile takes either Range topics or beams of one LaserScan, "
                          "not both")
    return kinds.pop(), scan_topic, out


def _range_sensor(topic: str, first: dict[str, list[Any]]) -> SensorSource:
    msg = first[topic][0] if first.get(topic) else None
    name = topic.rstrip("/").rsplit("/", 1)[-1] or topic.strip("/").replace("/", "_")
    s = SensorSource(name, topic)
    if msg is not None:
        s.frame_id = str(msg.header.frame_id).lstrip("/")
        s.declared_min, s.declared_max = float(msg.min_range), float(msg.max_range)
        s.fov = float(msg.field_of_view)
    return s


def _scan_sensors(topic: str, first: dict[str, list[Any]], beams: list[int] | None) -> list[SensorSource]:
    msg = first[topic][0] if first.get(topic) else None
    if msg is None:
        return []
    n = len(msg.ranges)
    a0, inc = float(msg.angle_min), float(msg.angle_increment)
    if beams is None:  # spread over the beams that read something (a depth camera's edges often do not)
        k = n if n <= RING_BEAMS else DEFAULT_SCAN_BEAMS
        live = np.flatnonzero(np.isfinite(np.asarray(msg.ranges, np.float64)))
        lo, hi = (int(live[0]), int(live[-1])) if len(live) > k else (0, n - 1)
        beams = sorted({lo + round(i * (hi - lo) / max(k - 1, 1)) for i in range(k)})
    bad = [b for b in beams if not 0 <= b < n]
    if bad:
        raise ConfigError(f"--sensors {topic}: beams {bad} outside the scan's 0..{n - 1}")
    out = []
    for b in sorted(beams, key=lambda b: -(a0 + b * inc)):  # left (largest angle) to right
        s = SensorSource(f"beam_{b}", topic, beam=b, frame_id=str(msg.header.frame_id).lstrip("/"),
                         declared_min=float(msg.range_min), declared_max=float(msg.range_max),
                         fov=abs(inc), beam_angle=a0 + b * inc)
        out.append(s)
    return out


def _place(s: SensorSource, tree: FrameTree, base: str, kind: str) -> None:
    """Fill the sensor's pose on the base frame from the tree (a scan beam: the scan's mount + its angle)."""
    mount = tree.mount(s.frame_id, base) if s.frame_id else None
    if mount is None and s.frame_id == base:
        mount = Mount((0.0, 0.0, 0.0), np.eye(3))
    if mount is None:
        return
    s.x, s.y = round(mount.xyz[0], 4), round(mount.xyz[1], 4)
    axis = (math.cos(s.beam_angle), math.sin(s.beam_angle), 0.0) if kind == "laser_scan" else (1.0, 0.0, 0.0)
    s.yaw = round(mount.planar_yaw(axis), 4)
    s.pose_from = "/tf_static or URDF" if s.frame_id != base else f"scan frame is {base}"
