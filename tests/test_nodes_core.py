"""The nodes' ROS-free cores: crash-safe MCAP, split rosbag2 writer, recorder queue, parameters, policies."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.rosbag2.storage_mcap import McapReader

from ros_ssl.bag import BagReader, durable
from ros_ssl.bag import messages as m
from ros_ssl.bag.durable import DurableMcapFile
from ros_ssl.bag.handoff import BagSeries, HandOffPolicy, hand_off
from ros_ssl.bag.recorder_core import FlushPolicy, RecorderCore
from ros_ssl.bag.recording import MIB, RecordingBag, SplitPolicy, TopicSpec
from ros_ssl.bag.writer import TYPESTORE
from ros_ssl.config.geometry import GeometryKind, LabelGeometry
from ros_ssl.errors import BagError, ConfigError, MessageError
from ros_ssl.msgs.cdr import parse_compressed_image, parse_image
from ros_ssl.msgs.images import decode_image
from ros_ssl.nodes.avoidance import Avoider, AvoidParams
from ros_ssl.nodes.params import check_fields
from ros_ssl.nodes.predictions import (
    LatencyWindow,
    geometry_json,
    layout_dims,
    nearest_obstacle,
    parse_geometry_json,
)

RANGE = "sensor_msgs/msg/Range"
IMAGE = "sensor_msgs/msg/Image"
QOS = ({"history": "keep_last", "depth": 5, "reliability": "best_effort", "durability": "volatile",
        "deadline": {"sec": 0, "nsec": 0}, "lifespan": {"sec": 0, "nsec": 0}, "liveliness": "automatic",
        "liveliness_lease_duration": {"sec": 0, "nsec": 0}, "avoid_ros_namespace_conventions": False},)


def spec(topic: str, msgtype: str) -> TopicSpec:
    return TopicSpec(topic, msgtype, TYPESTORE.generate_msgdef(msgtype)[0], TYPESTORE.hash_rihs01(msgtype),
                     QOS)


def range_cdr(i: int) -> bytes:
    msg = m.range_msg(i * 1_000_000, f"seq{i}", 0.01 * (i % 12), 0.12)
    return bytes(TYPESTORE.serialize_cdr(msg, RANGE))


def image_cdr(i: int, shape: tuple[int, int] = (60, 80)) -> bytes:
    rgb = np.full((*shape, 3), i % 256, np.uint8)
    return bytes(TYPESTORE.serialize_cdr(m.image_msg(i * 1_000_000, "cam", rgb), IMAGE))


def read_both(path: Path) -> tuple[list[tuple[str, int, bytes]], list[tuple[str, int, bytes]]]:
    """(topic, log time, data) of every message, by rosbags (through BagReader) and by the mcap library."""
    with BagReader(path) as bag:
        ours = [(x.topic, x.log_ns, bytes(x.msg)) for x in bag.messages(deserialize=False)]
    theirs = []
    files = (sorted(path.glob("*.mcap"), key=lambda p: int(p.stem.rsplit("_", 1)[1])) if path.is_dir()
             else [path])
    for file in files:
        with open(file, "rb") as f:
            reader = make_reader(f, validate_crcs=True)
            theirs += [(c.topic, msg.log_time, bytes(msg.data)) for _, c, msg in reader.iter_messages()]
    return ours, theirs


def scan_mcap(file: Path) -> int:
    """Messages in one .mcap file, counted by both readers (they must agree)."""
    reader = McapReader(file)
    reader.open()
    try:
        n = sum(1 for _ in reader.messages(reader.connections))
    finally:
        reader.close()
    with open(file, "rb") as f:
        assert sum(1 for _ in make_reader(f).iter_messages()) == n
    return n


@pytest.mark.parametrize("big", [False, True], ids=["small messages", "chunks filling between commits"])
def test_every_intermediate_file_state_is_a_valid_mcap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        big: bool) -> None:
    """Snapshot the file after every write/truncate syscall: a kill at any point leaves a readable file
    holding exactly the messages of the last completed commit (or of the close)."""
    path = tmp_path / "a.mcap"
    snapshots: list[bytes] = []
    real = {name: getattr(os, name) for name in ("pwrite", "pwritev", "ftruncate")}

    def spy(name: str):
        def call(*args):
            out = real[name](*args)
            if path.exists():  # the file is built under another name, then linked into place complete
                snapshots.append(path.read_bytes())
            return out
        return call

    for name in real:
        monkeypatch.setattr(durable.os, name, spy(name))
    f = DurableMcapFile(path, 8 * MIB, fsync=False)
    msgtype = IMAGE if big else RANGE
    f.add_schema(1, msgtype, "ros2msg", spec("/x", msgtype).msgdef)
    f.add_channel(1, 1, "/x", {"offered_qos_profiles": ""})
    committed = [0]
    for i in range(150):
        f.add_message(1, 1000 + i, image_cdr(i, (100, 120)) if big else range_cdr(i))  # 36 KB: 1 MiB = 29
        if i % 50 == 49:
            f.commit()
            committed.append(i + 1)
    f.close()
    writes_per_commit = 3  # records, the new pad prefix, the commit point
    assert len(snapshots) == 3 * writes_per_commit + 3 + (3 if big else 0)  # + 3 to close, + full chunks
    for k, blob in enumerate(snapshots):
        snap = tmp_path / f"snap{k}.mcap"
        snap.write_bytes(blob)
        assert scan_mcap(snap) in committed, (
            f"state {k} after a syscall is unreadable or holds a partial commit")
    assert scan_mcap(path) == 150
    assert path.stat().st_size < (6 * MIB if big else 64 * 1024)  # close() dropped the preallocated space


def test_commit_prefix_never_straddles_a_page(tmp_path: Path) -> None:
    f = DurableMcapFile(tmp_path / "a.mcap", 4 * MIB, fsync=False)
    f.add_schema(1, IMAGE, "ros2msg", "")
    f.add_channel(1, 1, "/img", {})
    for i in range(300):
        f.add_message(1, i, b"x" * (i * 37 % 5000))
        f.commit()
        assert f._pos % 4096 <= 4096 - 9  # the 9-byte commit write stays inside one page
    f.close()
    assert scan_mcap(tmp_path / "a.mcap") == 300


def test_bag_splits_by_size_and_reads_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "bag"
    sent = []
    with RecordingBag(path, SplitPolicy(max_file_bytes=1 * MIB, fsync=False)) as bag:
        bag.add_topic(spec("/r", RANGE))
        bag.add_topic(spec("/img", IMAGE))
        for i in range(400):
            topic, data = ("/img", image_cdr(i, (100, 120))) if i % 4 == 0 else ("/r", range_cdr(i))
            bag.write(topic, 10**9 + i * 10**7, data)
            sent.append((topic, 10**9 + i * 10**7, data))
            if i % 50 == 49:
                bag.commit()
    files = sorted(path.glob("*.mcap"))
    assert len(files) >= 3 and all(f.stat().st_size <= 1 * MIB for f in files)
    ours, theirs = read_both(path)
    assert ours == sent and theirs == sent
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    in_order = sorted(files, key=lambda p: int(p.stem.split("_")[1]))
    assert meta["relative_file_paths"] == [f.name for f in in_order]
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    assert counts == {"/r": 300, "/img": 100} and meta["message_count"] == 400
    assert sum(f["message_count"] for f in meta["files"]) == 400
    assert meta["topics_with_message_count"][0]["topic_metadata"]["offered_qos_profiles"] == list(QOS)


def test_bag_splits_by_duration_and_keeps_log_time_monotonic(tmp_path: Path) -> None:
    with RecordingBag(tmp_path / "bag", SplitPolicy(max_file_s=1.0, fsync=False)) as bag:
        bag.add_topic(spec("/r", RANGE))
        for i in range(30):
            bag.write("/r", 10**9 + i * 2 * 10**8 - (10**8 if i == 10 else 0), range_cdr(i))  # one step back
    assert len(list((tmp_path / "bag").glob("*.mcap"))) == 6
    ours, theirs = read_both(tmp_path / "bag")
    times = [t for _, t, _ in ours]
    assert times == sorted(times) and len(ours) == 30 and theirs == ours


def test_killed_bag_keeps_every_committed_message(tmp_path: Path) -> None:
    """A killed process leaves its current file with no summary and loses what was buffered: simulate it
    by copying the directory (what a kill leaves on disk) with messages buffered after a commit."""
    path = tmp_path / "bag"
    bag = RecordingBag(path, SplitPolicy(max_file_bytes=1 * MIB, fsync=False))
    bag.add_topic(spec("/img", IMAGE))
    for i in range(150):  # ~70 images per file: files 0 and 1 are closed when the copy is taken
        bag.write("/img", 10**9 + i, image_cdr(i))
        if i == 144:
            bag.commit()
    shutil.copytree(path, tmp_path / "killed")  # 145 committed, 5 buffered
    bag.close()
    assert len(list((tmp_path / "killed").glob("*.mcap"))) == 3
    ours, theirs = read_both(tmp_path / "killed")
    assert [t for _, t, _ in ours] == [10**9 + i for i in range(145)] and theirs == ours
    with BagReader(tmp_path / "killed") as r:
        assert r.topics()[0].count == 145


def test_bag_refuses_to_overwrite_and_oversized_messages(tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    with pytest.raises(BagError, match="already exists"):
        RecordingBag(tmp_path / "bag")
    with RecordingBag(tmp_path / "b2", SplitPolicy(max_file_bytes=1 * MIB, fsync=False)) as bag:
        bag.add_topic(spec("/img", IMAGE))
        with pytest.raises(BagError, match="does not fit"):
            bag.write("/img", 1, b"x" * (2 * MIB))
        with pytest.raises(BagError, match="not declared"):
            bag.write("/other", 1, b"x")
    with pytest.raises(ConfigError, match="max file size"):
        SplitPolicy(max_file_bytes=10).validate()


def test_recorder_core_counts_queue_drops_and_losses(tmp_path: Path) -> None:
    bag = RecordingBag(tmp_path / "bag", SplitPolicy(fsync=False))
    core = RecorderCore(bag, FlushPolicy(flush_interval_s=0.05, max_queue_bytes=1 * MIB))
    core.add_topic(spec("/img", IMAGE))
    big = image_cdr(0, (240, 320))  # ~230 KB: the writer thread cannot drain a burst of 40 in time
    accepted = sum(core.put("/img", 10**9 + i, big) for i in range(40))
    core.message_lost("/img", 3)
    core.close()
    (rate,) = core.rates()
    assert rate.received == 40 and rate.written == accepted and rate.dropped == 40 - accepted > 0
    assert rate.lost == 3
    with BagReader(tmp_path / "bag") as r:
        assert r.topics()[0].count == accepted


def wait_for(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def committed_count(path: Path) -> int:
    with BagReader(path) as r:
        return sum(t.count for t in r.topics())


def test_recorder_core_commits_on_its_own_and_reports_writer_errors(tmp_path: Path) -> None:
    bag = RecordingBag(tmp_path / "bag", SplitPolicy(fsync=False))
    core = RecorderCore(bag, FlushPolicy(flush_interval_s=0.05))
    core.add_topic(spec("/r", RANGE))
    for i in range(10):
        core.put("/r", 10**9 + i, range_cdr(i))
    wait_for(lambda: committed_count(tmp_path / "bag") == 10)  # committed by the timer, before close
    bag.add_topic(spec("/img", RANGE))
    core.add_topic(spec("/img", IMAGE))  # conflicting type: the writer thread fails
    core.put("/img", 2, b"x")
    wait_for(lambda: core.error is not None)
    assert not core.put("/r", 3, b"x")
    with pytest.raises(BagError, match="writing stopped at the last commit"):
        core.close()


def test_flush_policy_validation() -> None:
    with pytest.raises(ConfigError, match="flush interval"):
        FlushPolicy(flush_interval_s=0).validate()


def test_check_fields_names_the_parameter() -> None:
    from ros_ssl.nodes.recorder import RecorderConfig

    RecorderConfig().validate()
    with pytest.raises(ConfigError,
                       match=r"parameter flush_interval is 0.0; expected a value in \[0.01, 600.0\]"):
        check_fields(replace(RecorderConfig(), flush_interval=0.0))
    with pytest.raises(ConfigError,
                       match="parameter qos is 'fast'; expected one of auto, sensor_data, reliable"):
        replace(RecorderConfig(), qos="fast").validate()
    with pytest.raises(ConfigError, match="relative topic"):
        replace(RecorderConfig(), extra_topics=("tf",)).validate()
    with pytest.raises(ConfigError, match="expected an integer"):
        check_fields(replace(RecorderConfig(), qos_depth=1.5))


def test_nearest_obstacle_and_layout() -> None:
    probs = np.array([[0.1, 0.2, 0.9, 0.95], [0.0, 0.0, 0.0, 0.0], [0.7, 0.1, 0.1, 0.8]])
    assert nearest_obstacle(probs, [0.0, 0.1, 0.2, 0.3], 0.5).tolist() == [0.2, np.inf, 0.0]
    geometry = LabelGeometry.sensor_distance(["a", "b", "c"], [0, 0.1, 0.2, 0.3])
    assert layout_dims(geometry, (3, 4)) == [("sensor", 3, 12), ("distance", 4, 4)]
    grid = LabelGeometry.grid([0.1] * 5, [0.0] * 6)
    assert layout_dims(grid, (5, 6)) == [("x", 5, 30), ("y", 6, 6)]


def test_geometry_message_round_trip_and_bad_messages() -> None:
    geometry = LabelGeometry.sensor_distance(["a", "b"], [0.0, 0.1])
    text = geometry_json(geometry, 0.5)
    assert text == '{"kind":"sensor_distance","sensors":["a","b"],"distances":[0.0,0.1],"threshold":0.5}'
    assert parse_geometry_json(text) == geometry
    assert parse_geometry_json(geometry_json(LabelGeometry.grid([0.1], [0.0]), 0.5)).kind is GeometryKind.GRID
    with pytest.raises(ConfigError, match=r"^/detector/geometry is not valid JSON"):
        parse_geometry_json("{")
    with pytest.raises(ConfigError, match=r"^/detector/geometry has kind 'cone'"):
        parse_geometry_json('{"kind": "cone"}')
    with pytest.raises(ConfigError, match=r"^/detector/geometry is list"):
        parse_geometry_json("[]")


def test_latency_window() -> None:
    w = LatencyWindow()
    for i in range(101):
        w.add(i / 10, 0.010 + (0.1 if i in (50, 60) else 0.0), 0.002)
    s = w.summary()
    assert s.frames == 101 and s.hz == pytest.approx(10.0) and s.median_ms == pytest.approx(10.0)
    assert s.p99_ms > 10.0 and s.infer_ms == pytest.approx(2.0)


def test_avoider_slows_turns_away_and_keeps_its_direction() -> None:
    yaws = [0.66, 0.33, 0.0, -0.33, -0.66]  # left ... right
    a = Avoider(yaws, AvoidParams(max_speed=0.1, max_turn=1.0, stop_distance=0.03, slow_distance=0.2))
    assert a.command(np.full(5, 0.3)) == (0.1, 0.0)
    v, w = a.command(np.array([0.3, 0.3, 0.115, 0.05, 0.02]))  # obstacle ahead-right: slow, turn left
    assert 0 < v < 0.1 and w > 0
    v, w = a.command(np.array([0.02, 0.02, 0.02, 0.3, 0.3]))  # blocked: keeps turning left, no dithering
    assert v == 0.0 and w == pytest.approx(1.0)
    assert a.command(np.full(5, 0.3)) == (0.1, 0.0)
    v, w = a.command(np.array([0.02, 0.02, 0.02, 0.3, 0.3]))  # new manoeuvre: right has more room
    assert w == pytest.approx(-1.0)


# -- hand-off: a series of complete bags moved into a drop folder ------------------------------------------
def _raw(bag: Path) -> list[bytes]:
    with BagReader(bag) as reader:
        return [bytes(x.msg) for x in reader.messages(deserialize=False)]


def _flushed(out: Path, count: int) -> bool:
    """``out`` holds one bag, being written, whose flushed part reads back as ``count`` messages."""
    bags = list(out.iterdir())
    try:
        return len(bags) == 1 and len(_raw(bags[0])) == count
    except (BagError, OSError):
        return False


def _complete(bag: Path) -> int:
    """Messages in a closed bag, after checking it is complete: metadata counts, MCAP summary and footer."""
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    total = 0
    for rel in meta["relative_file_paths"]:
        with open(bag / rel, "rb") as f:
            summary = make_reader(f).get_summary()  # reads the footer: None/error for an unfinished file
        assert summary is not None and summary.statistics is not None
        total += summary.statistics.message_count
    assert total == meta["message_count"] > 0
    return total


def test_bag_series_splits_by_duration_and_hands_over_complete_bags(tmp_path: Path) -> None:
    out, drop = tmp_path / "rec", tmp_path / "drop"
    lines: list[str] = []
    series = BagSeries(out, HandOffPolicy(split_s=1.0, drop_dir=str(drop), prefix="robot1"),
                       SplitPolicy(fsync=False), lines.append)
    series.add_topic(spec("/proximity/center", RANGE))
    for i in range(35):  # 3.5 s of log time at 10 Hz
        series.write("/proximity/center", i * 100_000_000, range_cdr(i))
        series.commit()
        assert all(not p.name.startswith(".") for p in drop.iterdir())
        assert len(list(out.iterdir())) == 1  # only the bag being written
    series.close()
    series.close()
    bags = sorted(drop.iterdir())
    assert [b.name.rsplit("_", 1)[1] for b in bags] == ["0000", "0001", "0002", "0003"]
    assert all(b.name.startswith("robot1_") for b in bags) and list(out.iterdir()) == []
    assert [_complete(b) for b in bags] == [10, 10, 10, 5] and series.handed == bags
    got = [data for b in bags for data in _raw(b)]
    assert got == [range_cdr(i) for i in range(35)]
    assert len([x for x in lines if x.startswith("handed over")]) == 4


def test_bag_series_splits_by_size_and_deletes_an_empty_last_bag(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with BagSeries(out, HandOffPolicy(split_bytes=MIB), SplitPolicy(fsync=False)) as series:
        series.add_topic(spec("/camera/image_raw", IMAGE))
        for i in range(40):
            series.write("/camera/image_raw", i * 1_000_000, image_cdr(i, (240, 320)))  # 230 KB each
    bags = sorted(out.iterdir())
    assert len(bags) == 10 and [_complete(b) for b in bags] == [4] * 10
    assert all(sum(f.stat().st_size for f in b.glob("*.mcap")) < 1.1 * MIB for b in bags)
    with BagSeries(tmp_path / "empty", HandOffPolicy(split_s=1.0, drop_dir=str(tmp_path / "d"))):
        pass
    assert list((tmp_path / "empty").iterdir()) == [] and list((tmp_path / "d").iterdir()) == []


def test_hand_off_across_filesystems_copies_then_renames(tmp_path: Path, monkeypatch) -> None:
    real_rename = os.rename
    renames: list[tuple[str, str]] = []

    def rename(src, dst) -> None:
        renames.append((Path(src).name, Path(dst).name))
        if not Path(src).name.startswith(".incoming-"):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(src, dst)

    bag = tmp_path / "rec" / "b_0000"
    with RecordingBag(bag, SplitPolicy(fsync=False)) as rb:
        rb.add_topic(spec("/proximity/center", RANGE))
        rb.write("/proximity/center", 1, range_cdr(1))
    (tmp_path / "drop").mkdir()
    monkeypatch.setattr(os, "rename", rename)
    target = hand_off(bag, tmp_path / "drop")
    assert renames == [("b_0000", "b_0000"), (".incoming-b_0000", "b_0000")]
    assert not bag.exists() and _complete(target) == 1 and os.listdir(tmp_path / "drop") == ["b_0000"]
    with pytest.raises(BagError, match="already exists"):
        hand_off(target, tmp_path / "drop")


def test_a_failed_hand_off_keeps_the_bag_and_retries_with_the_next(tmp_path: Path, monkeypatch) -> None:
    out, drop = tmp_path / "rec", tmp_path / "drop"
    lines: list[str] = []
    series = BagSeries(out, HandOffPolicy(split_s=1.0, drop_dir=str(drop)), SplitPolicy(fsync=False),
                       lines.append)
    series.add_topic(spec("/proximity/center", RANGE))
    real_rename = os.rename

    def unwritable(src, dst) -> None:  # the drop folder briefly unwritable (chmod does not stop root)
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(os, "rename", unwritable)
    for i in range(15):
        series.write("/proximity/center", i * 100_000_000, range_cdr(i))
    assert len(list(out.iterdir())) == 2 and list(drop.iterdir()) == []
    assert any("stays in" in x and "retried" in x for x in lines)
    monkeypatch.setattr(os, "rename", real_rename)
    series.close()
    assert list(out.iterdir()) == [] and [_complete(b) for b in sorted(drop.iterdir())] == [10, 5]


def test_a_killed_recording_leaves_its_partial_bag_out_of_the_drop_folder(tmp_path: Path) -> None:
    out, drop = tmp_path / "rec", tmp_path / "drop"
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_nodes_core import spec, range_cdr, RANGE
from ros_ssl.bag.handoff import BagSeries, HandOffPolicy
from ros_ssl.bag.recorder_core import FlushPolicy, RecorderCore
core = RecorderCore(BagSeries({str(out)!r}, HandOffPolicy(split_s=1.0, drop_dir={str(drop)!r})),
                    FlushPolicy(flush_interval_s=0.05))
core.add_topic(spec("/proximity/center", RANGE))
for i in range(25):
    core.put("/proximity/center", i * 100_000_000, range_cdr(i))
print("written", flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"written\n"
        end = time.monotonic() + 30  # two bags handed over and the third's 5 messages flushed (fsyncs)
        while not (len(list(drop.glob("*"))) == 2 and _flushed(out, 5)) and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    handed = sorted(drop.iterdir())
    assert [_complete(b) for b in handed] == [10, 10]
    (partial,) = out.iterdir()  # the bag being written stays where it was
    assert partial.name.endswith("_0002") and not (drop / partial.name).exists()
    assert _raw(partial) == [range_cdr(i) for i in range(20, 25)]
    lines: list[str] = []
    BagSeries(out, HandOffPolicy(split_s=1.0, drop_dir=str(drop)), log=lines.append).close()
    assert lines == [f"1 bag(s) from an earlier run left in {out} (not handed over): {partial.name}"]
    assert list(out.iterdir()) == [partial]


def test_hand_off_policy_and_recorder_parameters_are_checked(tmp_path: Path) -> None:
    from ros_ssl.nodes.recorder import RecorderConfig

    with pytest.raises(ConfigError, match="bag prefix"):
        RecorderConfig(bag_prefix=".hidden").validate()
    with pytest.raises(ConfigError, match="split size"):
        HandOffPolicy(split_bytes=10).validate()
    with pytest.raises(ConfigError, match="is the recording directory"):
        BagSeries(tmp_path, HandOffPolicy(drop_dir=str(tmp_path)))
    cfg = RecorderConfig(split_s=30.0, split_mb=100, drop_dir="/d").validate()
    assert cfg.series and cfg.hand_off_policy() == HandOffPolicy(30.0, 100 * MIB, "/d", "bag")
    assert not RecorderConfig().series


def test_cdr_image_views_match_the_serialized_messages() -> None:
    rgb = np.arange(60 * 80 * 3, dtype=np.uint32).astype(np.uint8).reshape(60, 80, 3)
    msg = m.image_msg(1_500_000_007, "cam_frame", rgb)
    view = parse_image(bytes(TYPESTORE.serialize_cdr(msg, IMAGE)))
    assert (view.stamp.sec, view.stamp.nanosec, view.stamp.ns) == (1, 500_000_007, 1_500_000_007)
    assert (view.frame_id, view.height, view.width, view.encoding, view.step) == (
        "cam_frame", 60, 80, "rgb8", 240)
    assert np.array_equal(decode_image(view), rgb) and not view.data.flags.owndata
    jpeg = m.compressed_msg(5, "cam", rgb)
    cview = parse_compressed_image(bytes(TYPESTORE.serialize_cdr(jpeg, "sensor_msgs/msg/CompressedImage")))
    assert cview.format == jpeg.format and bytes(cview.data) == bytes(jpeg.data)
    assert np.array_equal(decode_image(cview), decode_image(jpeg))
    for bad in (b"", b"\x01\x00\x00\x00" + bytes(20), bytes(TYPESTORE.serialize_cdr(msg, IMAGE))[:-10]):
        with pytest.raises(MessageError):
            parse_image(bad)
