"""Pull the streams the labeler needs out of a bag, as numpy arrays, per the robot profile.

Two passes keep memory flat: ``read_streams`` collects the small streams (odometry, proximity, frame
stamps, simulator ground truth); ``iter_frames`` then decodes camera frames one at a time.
Stamps are header stamps (sensor time); a zero header stamp falls back to the bag time. Both passes drop
exact duplicate messages (same topic, same bytes) the same way, so frame i of one is frame i of the other.
Range, Odometry and image messages are read straight from their CDR bytes (``ros_ssl.msgs.cdr``: ~10x
cheaper than deserialising them) when the bag defines them as humble or kilted do; any other definition,
or bytes that do not parse, go through rosbags with the bag's own definitions, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ros_ssl.bag.reader import BagMessage, BagReader
from ros_ssl.config.profile import RobotProfile
from ros_ssl.errors import BagError, MessageError
from ros_ssl.msgs import cdr
from ros_ssl.msgs.images import DecodeFailure, UndecodableImage, decode_image, decode_resized
from ros_ssl.msgs.poses import compose, odometry_pose, stamp_ns, transform_pose, yaw_from_quaternion
from ros_ssl.msgs.ranges import normalise_reading, range_reading, scan_readings

# Simulator extras: ground-truth pose (nav_msgs/Odometry in frame "world") and the world (JSON string).
TRUTH_TOPIC = "/sim/ground_truth"
WORLD_TOPIC = "/sim/world"
RAW_CAMERA_SUFFIX = "/compressed"
IMAGE, COMPRESSED_IMAGE = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"
RANGE, ODOMETRY = "sensor_msgs/msg/Range", "nav_msgs/msg/Odometry"


@dataclass
class Streams:
    """Everything but the pixels of one recording. Times are int64 nanoseconds, in bag order."""

    path: Path
    camera_topic: str
    camera_ns: np.ndarray  # (F,)
    odom_ns: np.ndarray  # (K,)
    odom: np.ndarray  # (K, 3) x, y, yaw in the odometry frame
    range_ns: list[np.ndarray]  # per sensor (M_s,)
    ranges: list[np.ndarray]  # per sensor (M_s,) metres, REP 117 (+inf nothing, -inf too close, NaN invalid)
    truth_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    truth: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (T, 3) world-frame x, y, yaw
    world: dict[str, Any] | None = None  # simulator world description, if recorded
    duplicates: dict[str, int] = field(default_factory=dict)  # exact duplicate messages dropped, per topic


class CameraFrame(NamedTuple):
    """One camera message of ``iter_frames``: its pixels, or why it has none."""

    number: int  # position among the topic's messages, duplicates not counted
    stamp_ns: int
    rgb: np.ndarray | None
    error: UndecodableImage | None


def camera_topic(bag: BagReader, profile: RobotProfile) -> str:
    """The configured camera topic, or its raw/compressed sibling if only that one was recorded."""
    topic = profile.camera.topic
    names = {t.name for t in bag.topics()}
    if topic in names:
        return topic
    raw = topic.endswith(RAW_CAMERA_SUFFIX)
    sibling = topic[: -len(RAW_CAMERA_SUFFIX)] if raw else topic + RAW_CAMERA_SUFFIX
    if sibling in names:
        return sibling
    raise BagError(f"bag {bag.path} has no camera topic {topic} (nor {sibling}); topics: {sorted(names)}")


def read_streams(path: str | Path, profile: RobotProfile, require_camera: bool = True) -> Streams:
    """Read odometry, proximity, frame stamps and (if present) simulator ground truth.

    ``require_camera=False`` reads recordings without images (odometry/proximity analysis).
    """
    with BagReader(path) as bag:
        names = {t.name for t in bag.topics()}
        cam = camera_topic(bag, profile) if require_camera or profile.camera.topic in names else ""
        prox, odo = profile.proximity, profile.odometry
        odom_topics = {odo.topic} if odo.source == "odometry" else {"/tf", "/tf_static"}
        needed = set(profile.proximity_topics()) | ({odo.topic} if odo.source == "odometry" else {"/tf"})
        missing = sorted(needed - names)
        if missing:
            raise BagError(f"bag {bag.path} lacks configured topic(s) {missing}; topics: {sorted(names)}")
        topics = {cam, TRUTH_TOPIC, WORLD_TOPIC} | set(profile.proximity_topics()) | odom_topics
        sensor_of_topic = {s.topic: i for i, s in enumerate(prox.sensors)}
        beams = [s.beam for s in prox.sensors]
        cam_ns: list[int] = []
        odom_ns: list[int] = []
        odom: list[tuple[float, float, float]] = []
        rng_ns: list[list[int]] = [[] for _ in prox.sensors]
        rng: list[list[float]] = [[] for _ in prox.sensors]
        truth_ns: list[int] = []
        truth: list[tuple[float, float, float]] = []
        world = None
        tf = _TfChain(odo.odom_frame, odo.base_frame)
        route = {t: _route(t, cam, profile, sensor_of_topic) for t in topics}
        fast = _fast_topics(bag, route)
        for raw in bag.messages(topics, deserialize=False, unique=True):
            kind = route[raw.topic]
            if raw.topic in fast:
                try:
                    if kind == "camera":
                        cam_ns.append(_or_log(cdr.header_stamp(raw.msg), raw))
                    elif kind == "range":
                        t, lo, hi, value = cdr.range_fields(raw.msg)
                        i = sensor_of_topic[raw.topic]
                        rng_ns[i].append(_or_log(t, raw))
                        rng[i].append(normalise_reading(value, lo, hi))
                    else:  # odometry or truth
                        t, (x, y, _z, qx, qy, qz, qw) = cdr.odometry_fields(raw.msg)
                        stamps, poses = (truth_ns, truth) if kind == "truth" else (odom_ns, odom)
                        stamps.append(_or_log(t, raw))
                        poses.append((x, y, yaw_from_quaternion(qx, qy, qz, qw)))
                    continue
                except MessageError:
                    pass  # not what its definition promised: rosbags decodes it, or says why it cannot
            m = bag.decode(raw)
            if kind == "camera":
                cam_ns.append(_stamp(m))
            elif kind == "world":
                try:
                    world = json.loads(m.msg.data)
                except json.JSONDecodeError as err:
                    raise BagError(f"bag {bag.path}: {WORLD_TOPIC} is not valid JSON ({err.msg} at "
                                   f"char {err.pos})") from err
            elif kind == "truth":
                truth_ns.append(_stamp(m))
                truth.append(odometry_pose(m.msg))
            elif kind == "odometry":
                odom_ns.append(_stamp(m))
                odom.append(odometry_pose(m.msg))
            elif kind == "tf":
                for t_ns, pose in tf.feed(m.msg, static=m.topic == "/tf_static"):
                    odom_ns.append(t_ns)
                    odom.append(pose)
            elif kind == "scan":
                t = _stamp(m)
                for i, v in enumerate(scan_readings(m.msg, beams)):
                    rng_ns[i].append(t)
                    rng[i].append(float(v))
            elif kind == "range":
                i = sensor_of_topic[m.topic]
                rng_ns[i].append(_stamp(m))
                rng[i].append(range_reading(m.msg))
        if odo.source == "tf" and not odom_ns:
            raise BagError(f"bag {bag.path}: /tf has no transform chain "
                           f"{odo.odom_frame} -> {odo.base_frame}; edges seen: {sorted(tf.edges_seen)[:10]}")
    return Streams(
        path=Path(path), camera_topic=cam,
        camera_ns=np.asarray(cam_ns, np.int64),
        odom_ns=np.asarray(odom_ns, np.int64), odom=np.asarray(odom, np.float64).reshape(-1, 3),
        range_ns=[np.asarray(r, np.int64) for r in rng_ns],
        ranges=[np.asarray(r, np.float64) for r in rng],
        truth_ns=np.asarray(truth_ns, np.int64), truth=np.asarray(truth, np.float64).reshape(-1, 3),
        world=world, duplicates=dict(bag.duplicates),
    )


def _route(topic: str, cam: str, profile: RobotProfile, sensor_of_topic: dict[str, int]) -> str | None:
    """What ``read_streams`` takes from ``topic`` (first match wins, as the topics may coincide)."""
    odo, prox = profile.odometry, profile.proximity
    if topic == cam:
        return "camera"
    if topic == WORLD_TOPIC:
        return "world"
    if topic == TRUTH_TOPIC:
        return "truth"
    if odo.source == "odometry" and topic == odo.topic:
        return "odometry"
    if topic in ("/tf", "/tf_static") and odo.source == "tf":
        return "tf"
    if prox.source == "laser_scan" and topic == prox.scan_topic:
        return "scan"
    return "range" if topic in sensor_of_topic else None


def _fast_topics(bag: BagReader, route: dict[str, str | None]) -> set[str]:
    """Topics whose few fields ``ros_ssl.msgs.cdr`` reads straight from the bytes (about 10x faster than
    deserialising them): their type and the bag's definition of it are the ones those parsers know."""
    parsed = {"camera": (IMAGE, COMPRESSED_IMAGE), "range": (RANGE,), "odometry": (ODOMETRY,),
              "truth": (ODOMETRY,)}
    out = set()
    for topic, kind in route.items():
        msgtype = bag.msgtype(topic)
        if kind in parsed and msgtype in parsed[kind] and bag.known_cdr_layout(msgtype):
            out.add(topic)
    return out


def iter_frames(path: str | Path, topic: str, size: tuple[int, int] | None = None,
                every: int = 1) -> Iterator[CameraFrame]:
    """Yield every camera message but exact duplicates, decoded, in bag order.

    With ``size`` (width, height) frames come resized to it (``decode_resized``: cheaper than decoding
    at full size when the caller wants the training resolution anyway). With ``every`` > 1 only frames
    whose index is a multiple of it come, and only those are decoded. A frame that cannot be decoded
    comes without pixels and with the error saying why, so callers count and skip it.
    """
    with BagReader(path) as bag:
        msgtype = bag.msgtype(topic)
        views = msgtype in (IMAGE, COMPRESSED_IMAGE) and bag.known_cdr_layout(msgtype or "")
        for i, raw in enumerate(bag.messages([topic], deserialize=False, unique=True)):
            if i % every:
                continue
            if views:
                msg, t_ns = _image(bag, raw)
            else:
                m = bag.decode(raw)
                msg, t_ns = m.msg, _stamp(m)
            try:
                rgb = decode_image(msg) if size is None else decode_resized(msg, *size)
                yield CameraFrame(i, t_ns, rgb, None)
            except UndecodableImage as err:
                yield CameraFrame(i, t_ns, None, err)
            except MessageError as err:  # not an image message at all
                yield CameraFrame(i, t_ns, None, UndecodableImage(DecodeFailure.WRONG_FORMAT, str(err)))


def _image(bag: BagReader, raw: BagMessage) -> tuple[Any, int]:
    """(the image as a ``ros_ssl.msgs.cdr`` view of its bytes, its ``_stamp``); a message that does not
    parse as its definition promised is deserialised in full (which says why, if it cannot be)."""
    try:
        if raw.msgtype == IMAGE:
            view: cdr.ImageView | cdr.CompressedImageView = cdr.parse_image(raw.msg)
        else:
            view = cdr.parse_compressed_image(raw.msg)
    except MessageError:
        m = bag.decode(raw)
        return m.msg, _stamp(m)
    return view, _or_log(view.stamp.ns, raw)


def _or_log(stamp: int, m: BagMessage) -> int:
    """A header stamp, or the bag time if the header's is zero (as ``_stamp``)."""
    return stamp if stamp > 0 else m.log_ns


def _stamp(m: Any) -> int:
    h = getattr(m.msg, "header", None)
    t = stamp_ns(h) if h is not None else 0
    return t if t > 0 else m.log_ns


class _TfChain:
    """Planar pose of ``base`` in ``odom`` from /tf, via one dynamic edge plus static edges below it.

    Dynamic transforms that arrive before the static edges that link them to ``base`` are held back
    (up to ``MAX_PENDING``) and emitted once those edges arrive, so early odometry is not lost.
    """

    MAX_PENDING = 100_000

    def __init__(self, odom: str, base: str) -> None:
        self.odom, self.base = odom, base
        self.static: dict[str, tuple[str, tuple[float, float, float]]] = {}  # child -> (parent, pose)
        self.pending: list[tuple[int, str, tuple[float, float, float]]] = []  # (stamp, child, pose)
        self.edges_seen: set[str] = set()

    def feed(self, msg: Any, static: bool) -> Iterator[tuple[int, tuple[float, float, float]]]:
        for ts in msg.transforms:
            parent, child = ts.header.frame_id.lstrip("/"), ts.child_frame_id.lstrip("/")
            self.edges_seen.add(f"{parent}->{child}")
            pose = transform_pose(ts.transform)
            if static:
                self.static[child] = (parent, pose)
            elif parent == self.odom:
                tail = self._static_to_base(child)
                if tail is not None:
                    yield stamp_ns(ts.header), compose(pose, tail)
                elif len(self.pending) < self.MAX_PENDING:
                    self.pending.append((stamp_ns(ts.header), child, pose))
        if static and self.pending:  # only new static edges can link held-back transforms to base
            yield from self._resolve()

    def _resolve(self) -> Iterator[tuple[int, tuple[float, float, float]]]:
        """Emit every held-back transform whose child now links to ``base``; keep the others."""
        keep = []
        for t_ns, child, pose in self.pending:
            tail = self._static_to_base(child)
            if tail is None:
                keep.append((t_ns, child, pose))
            else:
                yield t_ns, compose(pose, tail)
        self.pending = keep

    def _static_to_base(self, frame: str) -> tuple[float, float, float] | None:
        """Pose of base in ``frame`` through static edges, or None if base is not below it."""
        chain: list[tuple[float, float, float]] = []
        node = self.base
        for _ in range(32):
            if node == frame:
                out = (0.0, 0.0, 0.0)
                for p in reversed(chain):
                    out = compose(out, p)
                return out
            if node not in self.static:
                return None
            parent, pose = self.static[node]
            chain.append(pose)
            node = parent
        return None
