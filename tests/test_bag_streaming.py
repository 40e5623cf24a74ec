"""MCAP bags are read chunk by chunk as their messages come due: bounded memory for any bag length,
and exactly the messages, order and duplicate counts rosbags' own reader gives."""

from __future__ import annotations

import hashlib
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from bagtools import T0, write_robot_bag
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from ros_ssl.bag import BagReader, BagWriter, RecordingBag, SplitPolicy
from ros_ssl.bag import messages as M
from ros_ssl.bag import reader as bag_reader
from ros_ssl.bag.streams import Streams, iter_frames, read_streams
from ros_ssl.bag.writer import TYPESTORE, topic_spec
from ros_ssl.config import RobotProfile, load_profile
from ros_ssl.errors import BagError
from ros_ssl.msgs import cdr
from ros_ssl.msgs.poses import stamp_ns

MS = 1_000_000
ODOM, RANGE, IMAGE = "nav_msgs/msg/Odometry", "sensor_msgs/msg/Range", "sensor_msgs/msg/CompressedImage"
Seen = tuple[list[tuple[str, int, str]], dict[str, int]]


def read_all(path: Path, topics: list[str] | None = None, lazy: bool = True,
             monkeypatch: pytest.MonkeyPatch | None = None) -> Seen:
    """(topic, log time, digest) of every message but duplicates, and the duplicates dropped."""
    with pytest.MonkeyPatch.context() as mp:
        if not lazy:
            mp.setattr(bag_reader, "lazy_messages", lambda *_: None)  # rosbags' reader, as before
        with BagReader(path) as bag:
            seen = [(m.topic, m.log_ns, hashlib.blake2b(m.msg).hexdigest())
                    for m in bag.messages(topics, deserialize=False, unique=True)]
            return seen, dict(bag.duplicates)


def same_as_rosbags(path: Path) -> int:
    for topics in (None, ["/odom"], ["/r", "/img"]):
        lazy = read_all(path, topics)
        assert lazy == read_all(path, topics, lazy=False), (path, topics)
    return len(read_all(path)[0])


def serialized(kind: str, t: int, k: int, rng: np.random.Generator) -> bytes:
    if kind == ODOM:
        return TYPESTORE.serialize_cdr(M.odometry_msg(t, "odom", "base_link", 0.01 * k, 0.0, 0.0), ODOM)
    if kind == RANGE:
        return TYPESTORE.serialize_cdr(M.range_msg(t, "p", 0.05, 0.12), RANGE)
    img = M.CompressedImage(header=M.header(t, "cam"), format="jpeg",
                            data=rng.integers(0, 256, 3000, dtype=np.uint8))
    return TYPESTORE.serialize_cdr(img, IMAGE)


def test_split_bag_with_duplicates_and_backwards_log_times_reads_as_rosbags_does(tmp_path: Path) -> None:
    """Several files, chunks mixing topics, equal and out-of-order log times, exact duplicates."""
    rng = np.random.default_rng(0)
    bag = tmp_path / "split"
    with RecordingBag(bag, SplitPolicy(max_file_bytes=1 << 20, max_file_s=2.0, fsync=False)) as rec:
        for topic, kind in (("/img", IMAGE), ("/odom", ODOM), ("/r", RANGE)):
            rec.add_topic(topic_spec(topic, kind))
        for k in range(1500):
            t = T0 + k * 5 * MS - (40 * MS if k % 7 == 0 else 0)
            rec.write("/odom", t, serialized(ODOM, t, k, rng))
            rec.write("/r", T0 + (k // 2) * 10 * MS, serialized(RANGE, T0 + (k // 2) * 10 * MS, k, rng))
            if k % 3 == 0:
                frame = serialized(IMAGE, t, k, rng)
                rec.write("/img", t, frame)
                rec.write("/img", t, frame)
    assert len(list(bag.glob("*.mcap"))) > 2
    assert same_as_rosbags(bag) == 1500 + 750 + 500
    assert read_all(bag)[1] == {"/img": 500, "/r": 750}


def test_zstd_chunks_of_another_writer_read_as_rosbags_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    writer = Writer(tmp_path / "w", version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer as w:
        odom = w.add_connection("/odom", ODOM, typestore=TYPESTORE)
        rng_c = w.add_connection("/r", RANGE, typestore=TYPESTORE)
        for k in range(6000):
            t = T0 + k * MS - (300 * MS if k % 2 else 0)  # chunks overlap in time
            w.write(odom, t, serialized(ODOM, t, k, rng))
            w.write(rng_c, t, serialized(RANGE, t, k, rng))
    assert same_as_rosbags(tmp_path / "w") == 12000


def test_realdata_mcap_reads_as_rosbags_does(realdata: Path) -> None:
    assert same_as_rosbags(realdata / "evo_nav2_turtlebot4_sim_odom.mcap") == 8197  # /odom, /tf and the rest


def test_chunks_sharing_a_start_time_are_read_one_after_another(tmp_path: Path) -> None:
    """Topics written one after the other (log times raised to the latest): ~12 MB of chunks that all
    start at the same log time. rosbags read every one of them up front; now about one at a time."""
    rng = np.random.default_rng(2)
    bag = tmp_path / "b"
    with BagWriter(bag) as w:
        for topic in ("/a", "/b", "/c"):
            for k in range(1000):
                t = T0 + k * 10 * MS
                w.write_raw(topic, IMAGE, t, serialized(IMAGE, t, k, rng))
    size = sum(f.stat().st_size for f in bag.glob("*.mcap"))

    def peak(lazy: bool) -> int:
        tracemalloc.start()
        try:
            with pytest.MonkeyPatch.context() as mp:
                if not lazy:
                    mp.setattr(bag_reader, "lazy_messages", lambda *_: None)
                with BagReader(bag) as reader:
                    n = sum(1 for _ in reader.messages(deserialize=False))
            assert n == 3000
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert size > 8 << 20
    assert peak(lazy=False) > 8 << 20  # the old behaviour this guards against
    assert peak(lazy=True) < 4 << 20


def test_mcap_without_summary_is_scanned(tmp_path: Path) -> None:
    """A file whose footer points at no summary (a crashed recorder's file) still reads, the same."""
    rng = np.random.default_rng(3)
    bag = tmp_path / "b"
    with BagWriter(bag) as w:
        for k in range(300):
            t = T0 + k * 10 * MS
            w.write_raw("/odom", ODOM, t, serialized(ODOM, t, k, rng))
            w.write_raw("/img", IMAGE, t, serialized(IMAGE, t, k, rng))
    (mcap,) = bag.glob("*.mcap")
    data = bytearray(mcap.read_bytes())
    data[-28:-8] = bytes(20)  # footer: summary start, summary offset start, CRC
    bare = tmp_path / "nosummary.mcap"
    bare.write_bytes(bytes(data))
    assert read_all(bare) == read_all(mcap) and len(read_all(bare)[0]) == 600


def test_corrupt_chunk_is_one_line_bag_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    bag = tmp_path / "b"
    with BagWriter(bag) as w:
        for k in range(1000):
            t = T0 + k * 10 * MS
            w.write_raw("/img", IMAGE, t, serialized(IMAGE, t, k, rng))
    (mcap,) = bag.glob("*.mcap")
    data = bytearray(mcap.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    mcap.write_bytes(bytes(data))
    with pytest.raises(BagError, match=r"b_0\.mcap is corrupt or truncated after [0-9.]+ s \(") as err:
        read_all(mcap)
    assert "\n" not in str(err.value)


# --- read_streams reads Range / Odometry / image headers straight from their CDR bytes ------------------

HUMBLE = get_typestore(Stores.ROS2_HUMBLE)
REORDERED_RANGE = """std_msgs/Header header
float32 range
float32 min_range
float32 max_range
uint8 radiation_type
float32 field_of_view
"""


def both_ways(path: Path, profile: RobotProfile) -> Streams:
    """read_streams and iter_frames as they are, asserted equal (arrays, frames, errors) to deserialising
    every message with rosbags."""
    fast = read_streams(path, profile)
    size = (profile.image.width, profile.image.height)
    fast_frames = [*iter_frames(path, fast.camera_topic), *iter_frames(path, fast.camera_topic, size)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(BagReader, "known_cdr_layout", lambda *_: False)
        slow = read_streams(path, profile)
        slow_frames = [*iter_frames(path, fast.camera_topic), *iter_frames(path, fast.camera_topic, size)]
    for name in ("camera_ns", "odom_ns", "odom", "truth_ns", "truth"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
    for a, b in zip(fast.range_ns + fast.ranges, slow.range_ns + slow.ranges, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    assert fast.world == slow.world and fast.duplicates == slow.duplicates
    assert fast.camera_topic == slow.camera_topic
    assert len(fast_frames) == len(slow_frames) == 2 * fast.camera_ns.size
    for f, g in zip(fast_frames, slow_frames, strict=True):
        assert (f.number, f.stamp_ns, str(f.error)) == (g.number, g.stamp_ns, str(g.error))
        assert (f.rgb is None and g.rgb is None) or np.array_equal(f.rgb, g.rgb)
    return fast


def sim_bag(path: Path, range_store: Typestore, range_def: str | None = None) -> Path:
    """Every sim-profile topic plus ground truth; Range by ``range_store``'s definition; odd values
    (zero header stamps, inf/NaN/too-close readings, long frame ids, an exact duplicate)."""
    sim = load_profile("sim")
    rng = np.random.default_rng(5)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        odom = w.add_connection("/odom", ODOM, typestore=TYPESTORE)
        truth = w.add_connection("/sim/ground_truth", ODOM, typestore=TYPESTORE)
        cam = w.add_connection(sim.camera.topic, IMAGE, typestore=TYPESTORE)
        ranges = [w.add_connection(s.topic, RANGE, typestore=range_store, msgdef=range_def)
                  for s in sim.proximity.sensors]
        values = [0.05, math.inf, math.nan, 0.001, 0.2, 0.11]
        for k in range(200):
            t = T0 + k * 20 * MS
            stamp = 0 if k % 17 == 0 else t - 3 * MS
            frame = "odom" * (k % 5)
            pose = M.odometry_msg(stamp, frame, "base_link" + "x" * (k % 3), 0.01 * k, -0.02 * k, 0.1 * k)
            w.write(odom, t, TYPESTORE.serialize_cdr(pose, ODOM))
            pose = M.odometry_msg(t, "world", "b", k, 1.0, -0.3 * k)
            w.write(truth, t, TYPESTORE.serialize_cdr(pose, ODOM))
            if k % 5 == 0:
                w.write(cam, t, serialized(IMAGE, stamp, k, rng))
            for j, conn in enumerate(ranges):
                msg = M.range_msg(stamp, "p" * (k % 4), values[(k + j) % len(values)], 0.12)
                w.write(conn, t, range_store.serialize_cdr(msg, RANGE))
                if k == 7:
                    w.write(conn, t, range_store.serialize_cdr(msg, RANGE))  # dropped as a duplicate
    return path


def test_kilted_and_humble_ranges_read_from_bytes_as_rosbags_decodes_them(tmp_path: Path) -> None:
    sim = load_profile("sim")
    for name, store in (("kilted", TYPESTORE), ("humble", HUMBLE)):
        bag = sim_bag(tmp_path / name, store)
        with BagReader(bag) as reader:
            assert all(reader.known_cdr_layout(t) for t in (ODOM, RANGE, IMAGE))
        s = both_ways(bag, sim)
        assert s.odom.shape == (200, 3) and s.truth.shape == (200, 3) and s.camera_ns.size == 40
        assert [r.size for r in s.ranges] == [200] * 5
        assert s.duplicates == dict.fromkeys(sim.proximity_topics(), 1)
        assert np.isnan(s.ranges[0]).any() and np.isinf(s.ranges[0]).any()
    thymio = load_profile("thymio")
    both_ways(write_robot_bag(tmp_path / "robot", thymio), thymio)
    both_ways(write_robot_bag(tmp_path / "raw", thymio, raw_camera=True), thymio)


def test_other_layouts_are_deserialised_by_their_own_definition(tmp_path: Path) -> None:
    """A Range defined otherwise (fields reordered) is not read by the byte parser."""
    custom = get_typestore(Stores.EMPTY)
    types = {n: HUMBLE.fielddefs[n] for n in ("std_msgs/msg/Header", "builtin_interfaces/msg/Time")}
    custom.register({**types, **get_types_from_msg(REORDERED_RANGE, RANGE)})
    msgdef, _ = custom.generate_msgdef(RANGE, ros_version=2)
    bag = sim_bag(tmp_path / "custom", custom, msgdef)
    with BagReader(bag) as reader:
        assert not reader.known_cdr_layout(RANGE) and reader.known_cdr_layout(ODOM)
    s = both_ways(bag, load_profile("sim"))
    assert np.isnan(s.ranges[0]).any()


def test_realdata_odometry_reads_from_bytes_as_rosbags_decodes_it(realdata: Path) -> None:
    with BagReader(realdata / "evo_nav2_turtlebot4_sim_odom.mcap") as bag:
        assert bag.known_cdr_layout(ODOM)
        n = 0
        for raw in bag.messages(["/odom"], deserialize=False):
            msg = bag.decode(raw).msg
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            assert cdr.odometry_fields(raw.msg) == (stamp_ns(msg.header), (p.x, p.y, p.z, q.x, q.y, q.z, q.w))
            n += 1
    assert n == 2639


def test_truncated_range_bytes_keep_todays_error(tmp_path: Path) -> None:
    sim = load_profile("sim")
    bag = sim_bag(tmp_path / "b", TYPESTORE)
    cut = tmp_path / "cut"
    with BagReader(bag) as reader, BagWriter(cut) as w:
        for m in reader.messages(deserialize=False):
            cut_here = m.topic == sim.proximity.sensors[0].topic and m.log_ns == T0 + 40 * MS
            w.write_raw(m.topic, m.msgtype, m.log_ns, m.msg[:20] if cut_here else m.msg)
    with pytest.raises(BagError, match=r"a sensor_msgs/msg/Range message on /proximity/left at "
                                       r"1700000000040000000 ns cannot be decoded \("):
        read_streams(cut, sim)
