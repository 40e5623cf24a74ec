"""The nodes over real DDS, each in its own process: recorder (SIGINT and SIGKILL), sim-record, sim-detect.

The test process is the other side: it publishes what a robot would and subscribes to what the nodes
publish. DDS stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and every test has its own
ROS_DOMAIN_ID, so tests (and other sessions) never hear each other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader

rclpy = pytest.importorskip("rclpy")
from bagtools import decode_rosbag2  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from ros_ssl.bag import BagReader  # noqa: E402
from ros_ssl.config import load_profile  # noqa: E402
from ros_ssl.config.geometry import LabelGeometry  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
PY = sys.executable
ROS_SSL = str(Path(sys.executable).with_name("ros-ssl"))  # the console script of this environment
BASE_DOMAIN = 160  # this file uses domains 160..169


def env(domain: int) -> dict[str, str]:
    return {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(domain),
            "PYTHONUNBUFFERED": "1"}


@contextmanager
def ros_side(domain: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Node, SingleThreadedExecutor]]:
    """A node of the test process in its own context on ``domain``."""
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("test_side", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        executor.spin_once(timeout_sec=0.05)


def start(cmd: list[str], domain: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env(domain), stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], sig: int, log: Path, timeout: float = 30) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"process did not exit after signal {sig}:\n{log.read_text()[-3000:]}") from None


def recorder_cmd(out: Path, *params: str, params_file: Path | None = None) -> list[str]:
    args = ["--params-file", str(params_file)] if params_file else []
    args += ["-p", f"out:={out}", "-p", "qos:=reliable", "-p", "qos_depth:=1000",
             "-p", "discovery_interval:=0.1", "-p", "extra_topics:=[/sim/world]",
             "-p", "report_interval:=1.0"]
    for p in params:
        args += ["-p", p]
    return [PY, "-m", "ros_ssl.nodes.recorder", "--ros-args", *args]


def wait_matched(executor: SingleThreadedExecutor, pubs: list[Any], log: Path) -> None:
    try:
        spin_until(executor, lambda: all(p.get_subscription_count() > 0 for p in pubs), 40, "the recorder")
    except AssertionError:
        raise AssertionError(f"recorder never subscribed:\n{log.read_text()[-3000:]}") from None


def bag_messages(path: Path, killed: bool = False) -> tuple[dict[str, list[bytes]], dict[str, list[bytes]]]:
    """Raw messages per topic as read by rosbags (BagReader) and by the independent mcap reader.

    metadata.yaml is rewritten after each commit, so after a kill it may lag the data by one commit.
    """
    ours: dict[str, list[bytes]] = {}
    with BagReader(path) as bag:
        counts = {t.name: t.count for t in bag.topics()}
        for x in bag.messages(deserialize=False):
            ours.setdefault(x.topic, []).append(bytes(x.msg))
    if killed:
        assert all(counts[t] <= len(v) for t, v in ours.items()), "metadata counts messages not on disk"
    else:
        assert counts == {t: len(v) for t, v in ours.items()}  # metadata agrees with the data
    theirs: dict[str, list[bytes]] = {}
    for topic, data in mcap_messages(path):
        theirs.setdefault(topic, []).append(data)
    # Every message also decodes by its stored schema with the MCAP ROS 2 decoder, as ROS 2 tools read it.
    assert decode_rosbag2(path, killed) == Counter({t: len(v) for t, v in theirs.items()})
    return ours, theirs


def mcap_messages(path: Path, writing: bool = False) -> Iterator[tuple[str, bytes]]:
    """(topic, raw message) from the bag's files in order, read by the independent mcap reader.

    With ``writing`` the recorder may still be appending: a file that ends mid-chunk yields what comes before.
    """
    for file in sorted(path.glob("*.mcap"), key=lambda p: int(p.stem.rsplit("_", 1)[1])):
        with open(file, "rb") as f:
            try:
                for _, channel, msg in make_reader(f).iter_messages():
                    yield channel.topic, bytes(msg.data)
            except Exception:
                if not writing:
                    raise


def on_disk(path: Path) -> dict[str, int]:
    """Messages per topic on disk now, while the recorder may still write."""
    return dict(Counter(topic for topic, _ in mcap_messages(path, writing=True)))


def wait_flushed(path: Path, sent: dict[str, list[Any]], log: Path, timeout: float = 60) -> None:
    """Wait until every message sent is in the bag on disk (DDS delivery plus one flush interval)."""
    end, want = time.monotonic() + timeout, {t: len(v) for t, v in sent.items()}
    while on_disk(path) != want:
        if time.monotonic() > end:
            raise AssertionError(f"bag has {on_disk(path)}, sent {want}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def same_messages(got: list[bytes], sent: list[tuple[Any, bytes]]) -> bool:
    """Equal message by message once deserialized (alignment padding bytes are unspecified in CDR)."""
    return len(got) == len(sent) and all(
        deserialize_message(g, cls) == deserialize_message(x, cls)
        for g, (cls, x) in zip(got, sent, strict=True))


class RobotSide:
    """Publishes a robot's topics (sim profile names) with reliable QoS; remembers what it sent."""

    def __init__(self, node: Node) -> None:
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import CompressedImage, Range
        from std_msgs.msg import String

        self.types = (Range, CompressedImage, Odometry)
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        camera = "/camera/image_raw/compressed"
        self.pubs = {"/proximity/center": node.create_publisher(Range, "/proximity/center", qos),
                     camera: node.create_publisher(CompressedImage, camera, qos),
                     "/odom": node.create_publisher(Odometry, "/odom", qos)}
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        world = String(data='{"seed": 7}')
        node.create_publisher(String, "/sim/world", latched).publish(world)  # before the recorder exists
        self.sent: dict[str, list[tuple[Any, bytes]]] = {"/sim/world": [(String, serialize_message(world))]}

    def publish_all(self, indices: range, pause: float = 0.0) -> None:
        for i in indices:
            self.publish(i)
            time.sleep(pause)

    def publish(self, i: int) -> None:
        Range, CompressedImage, Odometry = self.types
        r = Range(range=0.001 * i, max_range=0.12)
        r.header.stamp.sec, r.header.frame_id = i, f"seq{i}"
        self._send("/proximity/center", r)
        if i % 3 == 0:
            img = CompressedImage(format="jpeg", data=bytes([i % 256]) * (15000 + 7 * i))
            img.header.stamp.sec = i
            self._send("/camera/image_raw/compressed", img)
        if i % 2 == 0:
            o = Odometry(child_frame_id="base_link")
            o.pose.pose.position.x = float(i)
            self._send("/odom", o)

    def _send(self, topic: str, msg: Any) -> None:
        self.pubs[topic].publish(msg)
        self.sent.setdefault(topic, []).append((type(msg), serialize_message(msg)))


def test_recorder_sigint_writes_every_message_in_a_complete_bag(tmp_path: Path, monkeypatch) -> None:
    domain = BASE_DOMAIN
    out, log = tmp_path / "bag", tmp_path / "recorder.log"
    params = tmp_path / "recorder.yaml"  # an ordinary ROS 2 parameter file
    parameters = {"profile": "sim", "flush_interval": 0.5}
    params.write_text(yaml.safe_dump({"recorder": {"ros__parameters": parameters}}))
    with ros_side(domain, monkeypatch) as (node, executor):
        robot = RobotSide(node)
        proc = start(recorder_cmd(out, params_file=params), domain, log)
        try:
            wait_matched(executor, list(robot.pubs.values()), log)
            robot.publish_all(range(300), pause=0.002)
            wait_flushed(out, robot.sent, log)
        finally:
            code = stop(proc, signal.SIGINT, log)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "closed" in text and "dropped 0 lost 0" in text
    ours, theirs = bag_messages(out)
    assert theirs == ours and sorted(ours) == sorted(robot.sent)
    for topic, sent in robot.sent.items():
        assert same_messages(ours[topic], sent), f"{topic}: the bag differs from what was published"
    assert len(list(out.glob("*.mcap"))) == 1 and (out / "metadata.yaml").is_file()


def test_recorder_sigkill_keeps_everything_up_to_the_last_flush(tmp_path: Path, monkeypatch) -> None:
    domain = BASE_DOMAIN + 1
    out, log = tmp_path / "bag", tmp_path / "recorder.log"
    with ros_side(domain, monkeypatch) as (node, executor):
        robot = RobotSide(node)
        proc = start(recorder_cmd(out, "flush_interval:=0.2", "max_file_mb:=1"), domain, log)
        try:
            wait_matched(executor, list(robot.pubs.values()), log)
            robot.publish_all(range(200), pause=0.002)
            wait_flushed(out, robot.sent, log)
            flushed = {t: len(v) for t, v in robot.sent.items()}
            robot.publish_all(range(200, 400))  # killed while these arrive
        finally:
            code = stop(proc, signal.SIGKILL, log)
    assert code == -signal.SIGKILL
    ours, theirs = bag_messages(out, killed=True)
    assert theirs == ours
    assert len(list(out.glob("*.mcap"))) >= 2  # split by size (1 MiB) before the kill
    for topic, sent in robot.sent.items():
        got = ours.get(topic, [])
        assert len(got) >= flushed[topic], f"{topic}: lost flushed messages"
        assert same_messages(got, sent[: len(got)]), f"{topic}: the bag is not a prefix of what was sent"


def test_auto_qos_matches_the_publishers() -> None:
    from rclpy.qos import DurabilityPolicy as D
    from rclpy.qos import ReliabilityPolicy as R

    from ros_ssl.nodes.qos import LATCHED, publisher_qos, subscription_qos

    reliable, best_effort = publisher_qos("reliable"), publisher_qos("sensor_data")
    assert subscription_qos("auto", [reliable, reliable], 5).reliability == R.RELIABLE
    assert subscription_qos("auto", [reliable, best_effort], 5).reliability == R.BEST_EFFORT
    assert subscription_qos("auto", [], 5).reliability == R.BEST_EFFORT
    assert subscription_qos("auto", [LATCHED], 1).durability == D.TRANSIENT_LOCAL
    assert subscription_qos("sensor_data", [reliable], 7).reliability == R.BEST_EFFORT
    assert subscription_qos("reliable", [], 7).depth == 7


def test_a_bad_parameter_stops_the_node_naming_it(tmp_path: Path) -> None:
    out = subprocess.run([PY, "-m", "ros_ssl.nodes.recorder", "--ros-args", "-p", f"out:={tmp_path / 'b'}",
                          "-p", "flush_interval:=0.0"], env=env(BASE_DOMAIN + 4), capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "error: node recorder: parameter flush_interval" in out.stderr and "out of range" in out.stderr
    assert not (tmp_path / "b").exists()


def tiny_model_package(path: Path, profile: Any, width: int, height: int) -> Path:
    """A model package (format of ros_ssl.edge) whose ONNX graph is built by hand: mean colour -> logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ros_ssl.edge import InputSpec, ModelFile, ModelMetadata, OutputSpec, sha256_file, write_metadata

    sensors, distances = profile.sensor_names, profile.labels.distances()
    s, d = len(sensors), len(distances)
    rng = np.random.default_rng(0)
    weight = rng.normal(0.0, 3.0, (3, s * d)).astype(np.float32)
    bias = np.tile(np.linspace(2.0, -2.0, d, dtype=np.float32), s)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["mean", "w"], ["mm"]),
         helper.make_node("Add", ["mm", "b"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["p"]),
         helper.make_node("Reshape", ["p", "shape"], ["probabilities"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, height, width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", s, d])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
         numpy_helper.from_array(np.array([-1, s, d], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    path.mkdir(parents=True)
    onnx.save(model, path / "model.onnx")
    geometry = LabelGeometry.sensor_distance(sensors, distances)
    meta = ModelMetadata(
        input=InputSpec("image", height, width, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
                        source_width=profile.camera.width, source_height=profile.camera.height),
        output=OutputSpec("probabilities", "sensor_distance", (s, d), geometry),
        files={"fp32": ModelFile("model.onnx", sha256_file(path / "model.onnx"))},
        run={"dir": "tests", "model": "tiny"}, created=datetime.now(timezone.utc).isoformat(),
        ros_ssl_version="test", opset=17)
    write_metadata(path, meta)
    return path


@pytest.fixture
def small_profile(tmp_path: Path) -> Path:
    """The sim profile with a small, slower camera: keeps the simulator cheap on a loaded machine."""
    data = load_profile("sim").to_dict()
    data["camera"].update(width=160, height=120, rate_hz=10.0)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_sim_record_bag_is_accepted_by_the_labeler(tmp_path: Path, small_profile: Path) -> None:
    from ros_ssl.label.pipeline import label_bag

    out, log = tmp_path / "sim_bag", tmp_path / "run.log"
    proc = start([ROS_SSL, "run", "sim-record", "--duration", "12", "--out", str(out),
                  "--config", str(small_profile), "--seed", "3"], BASE_DOMAIN + 2, log)
    assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
    profile = load_profile(small_profile)
    arrays, meta = label_bag(out, profile)
    assert len(arrays["frames"]) >= 10 and meta["group"] == "world-3"
    assert meta["report"]["frames_with_truth"] > 0
    with BagReader(out) as bag:
        topics = {t.name: t.count for t in bag.topics()}
    assert topics["/sim/world"] == 1 and topics["/sim/ground_truth"] > 50
    assert all(topics.get(t, 0) > 10 for t in profile.proximity_topics())


def test_sim_detect_publishes_the_models_predictions_and_drives(tmp_path: Path, small_profile: Path,
                                                                monkeypatch) -> None:
    from geometry_msgs.msg import Twist
    from sensor_msgs.msg import CompressedImage, Range
    from std_msgs.msg import Float32MultiArray, String

    from ros_ssl.edge import EdgeModel
    from ros_ssl.msgs.images import decode_image
    from ros_ssl.msgs.poses import stamp_ns
    from ros_ssl.nodes.predictions import nearest_obstacle

    profile = load_profile(small_profile)
    package = tiny_model_package(tmp_path / "model", profile, 64, 48)
    domain, log = BASE_DOMAIN + 3, tmp_path / "run.log"
    frames: dict[int, bytes] = {}
    ranges: dict[int, dict[str, float]] = {}
    arrays: list[np.ndarray] = []
    geometry: list[dict[str, Any]] = []
    cmds: list[tuple[float, float]] = []
    with ros_side(domain, monkeypatch) as (node, executor):
        node.create_subscription(CompressedImage, profile.camera.topic,
                                 lambda m: frames.__setitem__(stamp_ns(m.header), bytes(m.data)),
                                 qos_profile_sensor_data)
        for name in profile.sensor_names:
            node.create_subscription(
                Range, f"/detector/range/{name}",
                lambda m, n=name: ranges.setdefault(stamp_ns(m.header), {}).__setitem__(n, m.range), 50)
        node.create_subscription(Float32MultiArray, "/detector/predictions",
                                 lambda m: arrays.append(np.asarray(m.data).reshape(
                                     m.layout.dim[0].size, m.layout.dim[1].size)), 50)
        node.create_subscription(String, "/detector/geometry", lambda m: geometry.append(json.loads(m.data)),
                                 QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        node.create_subscription(Twist, "/cmd_vel", lambda m: cmds.append((m.linear.x, m.angular.z)), 50)
        bad = node.create_publisher(CompressedImage, profile.camera.topic, qos_profile_sensor_data)
        proc = start([ROS_SSL, "run", "sim-detect", "--duration", "120", "--model", str(package), "--config",
                      str(small_profile)], domain, log)

        model = EdgeModel(package)
        expected: dict[int, np.ndarray] = {}  # the model's output on frames seen here, computed once each

        def probs(stamp: int) -> np.ndarray:
            if stamp not in expected:
                image = decode_image(CompressedImage(format="jpeg", data=frames[stamp]))
                expected[stamp] = model.predict(image)
            return expected[stamp]

        def matched() -> list[int]:  # frames seen here whose ranges arrived too
            return [t for t in frames if len(ranges.get(t, {})) == len(profile.sensor_names)]

        # Frames seen here whose prediction array arrived (topics are delivered independently).
        def arrays_seen() -> int:
            return sum(any(np.allclose(a, probs(t), atol=1e-6) for a in arrays) for t in matched())

        try:
            spin_until(executor, lambda: len(arrays) >= 5, 90, "first predictions")
            end = time.monotonic() + 30  # best effort QoS, a one-frame queue: send until one is seen
            while "skipped a camera frame" not in log.read_text(errors="replace"):
                assert time.monotonic() < end, f"no bad frame skipped:\n{log.read_text()[-3000:]}"
                bad.publish(CompressedImage(format="jpeg", data=b"not a jpeg"))
                executor.spin_once(timeout_sec=0.1)
            n = len(arrays)
            spin_until(executor,  # the controller stops until it has heard the detector (DDS discovery)
                       lambda: len(arrays) >= n + 10 and len(matched()) >= 5 and len(cmds) >= 10
                       and any(v != 0.0 or w != 0.0 for v, w in cmds), 60,
                       "predictions for frames seen here, and commands that drive")
            spin_until(executor, lambda: arrays_seen() >= 5, 30,
                       "prediction arrays equal to the model's output")
        finally:
            code = stop(proc, signal.SIGINT, log)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "skipped a camera frame" in text
    assert geometry and geometry[0]["sensors"] == profile.sensor_names and geometry[0]["threshold"] == 0.5
    for stamp in matched():
        want = nearest_obstacle(probs(stamp), geometry[0]["distances"], 0.5)
        got = [ranges[stamp][name] for name in profile.sensor_names]
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert any(v != 0.0 or w != 0.0 for v, w in cmds)  # the controller drove from the predictions


def test_recorder_hands_over_each_closed_bag_to_the_drop_folder(tmp_path: Path, monkeypatch) -> None:
    domain = BASE_DOMAIN + 5
    out, drop, log = tmp_path / "rec", tmp_path / "drop", tmp_path / "recorder.log"
    with ros_side(domain, monkeypatch) as (node, executor):
        robot = RobotSide(node)
        proc = start(recorder_cmd(out, "split_s:=1.0", f"drop_dir:={drop}", "bag_prefix:=robot1",
                                  "flush_interval:=0.2"), domain, log)
        try:
            wait_matched(executor, list(robot.pubs.values()), log)
            robot.publish_all(range(300), pause=0.01)  # about 3.5 s
            spin_until(executor, lambda: len(list(drop.iterdir())) >= 2, 30,
                       f"two bags handed over:\n{log.read_text()[-3000:]}")
            assert all(not p.name.startswith(".") for p in drop.iterdir())
        finally:
            code = stop(proc, signal.SIGINT, log)
    assert code == 0, log.read_text()[-3000:]
    assert list(out.iterdir()) == []  # the last bag was closed and handed over at shutdown too
    bags = sorted(drop.iterdir())
    assert len(bags) >= 3 and all(b.name.startswith("robot1_") for b in bags)
    got: dict[str, list[bytes]] = {}
    for bag in bags:
        ours, theirs = bag_messages(bag)  # complete: metadata agrees, every file decodes to its end
        assert theirs == ours
        for topic, data in ours.items():
            got.setdefault(topic, []).extend(data)
    for topic, sent in robot.sent.items():
        if topic == "/sim/world":  # latched: each bag opens with it, so each stands alone
            assert all(same_messages([data], sent) for data in got[topic]) and len(got[topic]) == len(bags)
        else:
            assert same_messages(got[topic], sent), f"{topic}: the bags differ from what was published"


def test_detector_hot_swaps_between_frames_and_keeps_running_on_a_broken_package(
        tmp_path: Path, small_profile: Path, monkeypatch) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import CompressedImage, Range
    from std_msgs.msg import String

    from ros_ssl.msgs.images import encode_compressed
    from ros_ssl.msgs.poses import stamp_ns

    profile = load_profile(small_profile)
    models = tmp_path / "models"
    tiny_model_package(models / "a", profile, 64, 48)
    tiny_model_package(models / "b", profile, 80, 60)  # another graph: another SHA-256
    (models / "broken").mkdir()
    (models / "broken" / "metadata.json").write_text("{}")
    os.symlink("a", models / "current")
    domain, log = BASE_DOMAIN + 6, tmp_path / "detector.log"
    sensor = profile.sensor_names[0]
    predicted: set[int] = set()
    status: list[dict[str, Any]] = []
    with ros_side(domain, monkeypatch) as (node, executor):
        node.create_subscription(Range, f"/detector/range/{sensor}",
                                 lambda m: predicted.add(stamp_ns(m.header)), 100)
        node.create_subscription(String, "/detector/model", lambda m: status.append(json.loads(m.data)),
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                            durability=DurabilityPolicy.TRANSIENT_LOCAL))
        cam = node.create_publisher(CompressedImage, profile.camera.topic,
                                    QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        grey = np.full((profile.camera.height, profile.camera.width, 3), 90, np.uint8)
        jpeg = bytes(encode_compressed(grey))
        sent: list[int] = []

        def stream(until: Callable[[], bool], what: str, limit: float = 60) -> None:
            """Frames at up to 20 Hz, each waited for (the detector is reliable), until ``until()`` holds
            after at least 10 of them: the swap happens while frames come."""
            end, first = time.monotonic() + limit, len(sent)
            while len(sent) < first + 10 or not until():
                assert time.monotonic() < end, f"{what} within {limit} s:\n{log.read_text()[-3000:]}"
                msg = CompressedImage(format="jpeg", data=jpeg)
                msg.header.stamp = node.get_clock().now().to_msg()
                cam.publish(msg)
                sent.append(stamp_ns(msg.header))
                spin_until(executor, lambda: sent[-1] in predicted, 10, f"a prediction for frame {len(sent)}")
                executor.spin_once(timeout_sec=0.05)

        proc = start([PY, "-m", "ros_ssl.nodes.detector", "--ros-args", "-p", f"profile:={small_profile}",
                      "-p", f"models_dir:={models}", "-p", "models_poll:=0.1", "-p", "report_interval:=0.0",
                      "-p", "max_frame_age:=0.0"],  # a frame delayed on a loaded machine is still predicted
                     domain, log)
        try:
            spin_until(executor, lambda: cam.get_subscription_count() > 0 and bool(status), 60,
                       f"the detector:\n{log.read_text()[-3000:]}")
            assert status[-1]["model_id"] == "a" and status[-1]["swaps"] == 0
            stream(lambda: True, "frames predicted by a")
            os.symlink("b", models / ".current.tmp")
            os.replace(models / ".current.tmp", models / "current")
            stream(lambda: status[-1]["model_id"] == "b", "the swap to b")
            (models / "current").unlink()
            (models / "current").write_text("broken\n")  # a pointer file naming a broken package
            stream(lambda: status[-1]["failures"] == 1, "the broken package refused")
            assert status[-1]["model_id"] == "b"
            client = AsyncParameterClient(node, "detector")
            assert client.wait_for_services(10.0)
            future = client.set_parameters([Parameter("model", value=str(models / "a"))])
            executor.spin_until_future_complete(future, timeout_sec=10)
            result = future.result()
            assert result is not None and result.results[0].successful
            stream(lambda: status[-1]["swaps"] == 2, "the swap back to a")
            assert status[-1]["model_id"] == "a"
        finally:
            code = stop(proc, signal.SIGINT, log)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert set(sent) <= predicted  # every frame got a prediction, before, during and after each swap
    swapped = next(s for s in status if s["swaps"] == 1)
    assert swapped["frames_dropped_during_swap"] == 0 and swapped["swap_ms"] > 0
    assert swapped["sha256"] == json.loads((models / "b" / "metadata.json").read_text())["files"]["fp32"][
        "sha256"]
    assert len([x for x in text.splitlines() if "model broken (" in x and "keeping b" in x]) == 1
