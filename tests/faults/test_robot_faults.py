"""Faults on the robot side: doubt means stop, model packages checked whole, no orphan processes.

- NaN/inf, missing or late predictions mean "cannot see": the controller's policy (Avoider, SafeDriver,
  Watchdog) without ROS, then one real controller node fed NaN predictions and then silence.
- Tampered model packages (NaN mean, edited metadata, swapped or truncated model, missing checksums)
  are refused with one line naming the file; ``ros-ssl infer`` exits 2 with it.
- ``label -j 2`` workers and ``ros-ssl run`` nodes stop when their parent is killed with SIGKILL.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ros_ssl.config import load_profile
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.edge import (
    CHECKSUMS,
    EdgeModel,
    InputSpec,
    ModelFile,
    ModelMetadata,
    OutputSpec,
    sha256_file,
    write_checksums,
    write_metadata,
)
from ros_ssl.errors import MessageError, ModelPackageError
from ros_ssl.lifetime import process_alive
from ros_ssl.nodes.avoidance import STOP, Avoider, SafeDriver
from ros_ssl.nodes.predictions import nearest_obstacle, prediction_array
from ros_ssl.nodes.watchdog import Watchdog

MS = 1_000_000
SENSORS = ["left", "center", "right"]
DISTANCES = [0.0, 0.05, 0.1, 0.2, 0.3]


# --- doubt means stop: the ROS-free policy ------------------------------------------------------------

def test_non_finite_probabilities_mean_cannot_see_not_free() -> None:
    probs = np.zeros((4, 5), np.float32)
    probs[0, 2] = 0.9  # an obstacle at 0.1 m
    probs[1, 3] = np.nan  # before the fix: +inf, "nothing ahead"
    probs[2, 0] = np.inf
    free = nearest_obstacle(probs, DISTANCES, 0.5)
    assert free[0] == 0.1 and math.isnan(free[1]) and math.isnan(free[2]) and free[3] == math.inf
    # A NaN after a confident hit still makes the whole reading invalid: the model is broken.
    probs[0, 4] = np.nan
    assert math.isnan(nearest_obstacle(probs, DISTANCES, 0.5)[0])


def test_avoider_stops_when_any_sensor_cannot_see() -> None:
    avoider = Avoider([0.5, 0.0, -0.5])
    assert avoider.command(np.array([1.0, 1.0, 1.0]))[0] > 0
    assert avoider.command(np.array([1.0, math.nan, 1.0])) == STOP
    assert avoider.command(np.array([math.nan, 1.0, 1.0])) == STOP  # a side sensor too: no blind turns
    assert avoider.command(np.array([0.01, 0.01, 0.5])) == (0.0, -avoider.params.max_turn)


def test_prediction_array_refuses_a_layout_the_data_does_not_fill() -> None:
    np.testing.assert_array_equal(prediction_array([2, 3], range(6)), np.arange(6).reshape(2, 3))
    with pytest.raises(MessageError, match="1 layout dimensions; expected 2"):
        prediction_array([6], range(6))
    with pytest.raises(MessageError, match="5 values for a 2 x 3"):
        prediction_array([2, 3], range(5))


def test_watchdog_is_ok_only_between_a_valid_input_and_its_timeout() -> None:
    dog = Watchdog(0.3, now_ns=0)
    assert not dog.ok(0) and dog.alarm(100 * MS) is None  # nothing yet, still within the start grace
    assert dog.alarm(301 * MS) is True and dog.alarm(400 * MS) is None  # never came: reported once
    dog.feed(500 * MS)
    assert dog.ok(500 * MS) and dog.ok(800 * MS) and not dog.ok(801 * MS)
    assert dog.alarm(600 * MS) is False and dog.alarm(700 * MS) is None  # back: reported once
    assert dog.alarm(801 * MS) is True and dog.silent_s(801 * MS) == pytest.approx(0.301)
    dog.feed(900 * MS)
    dog.invalidate(950 * MS)  # an invalid input: not ok at once, alarm only after the timeout
    assert not dog.ok(951 * MS) and dog.alarm(951 * MS) is False
    dog.feed(1000 * MS)
    assert dog.ok(1000 * MS) and dog.alarm(1000 * MS) is None
    dog.invalidate(1100 * MS)
    assert dog.alarm(1300 * MS) is None and dog.alarm(1401 * MS) is True


def driver(timeout_s: float = 0.3) -> SafeDriver:
    return SafeDriver(Avoider([0.5, 0.0, -0.5]), DISTANCES, 0.5, Watchdog(timeout_s, now_ns=0))


def test_safe_driver_drives_only_on_fresh_valid_predictions() -> None:
    d, free = driver(), np.zeros((3, 5), np.float32)
    assert d.command(0) == STOP  # no prediction yet
    d.update(free, 100 * MS)
    assert d.command(150 * MS)[0] == pytest.approx(d.avoider.params.max_speed)
    assert d.command(400 * MS) != STOP and d.command(401 * MS) == STOP  # late: stop, never "still free"
    d.update(free, 500 * MS)
    assert d.command(510 * MS) != STOP


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_safe_driver_stops_on_a_non_finite_prediction_until_a_valid_one(bad: float) -> None:
    d, free = driver(), np.zeros((3, 5), np.float32)
    d.update(free, 0)
    blind = free.copy()
    blind[1, 4] = bad
    with pytest.raises(MessageError, match="cannot see"):
        d.update(blind, 10 * MS)
    assert d.command(11 * MS) == STOP and d.command(200 * MS) == STOP  # the older valid one is not reused
    d.update(free, 250 * MS)
    assert d.command(260 * MS) != STOP


def test_safe_driver_stops_on_a_prediction_of_another_shape() -> None:
    d = driver()
    d.update(np.zeros((3, 5)), 0)
    with pytest.raises(MessageError, match=r"shape \(5, 3\).*3 sensors x 5 distances"):
        d.update(np.zeros((5, 3)), 10 * MS)
    assert d.command(20 * MS) == STOP


# --- doubt means stop: a real controller node ---------------------------------------------------------

@pytest.mark.ros
@pytest.mark.slow
def test_controller_node_stops_on_nan_predictions_and_on_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    rclpy = pytest.importorskip("rclpy")
    from geometry_msgs.msg import Twist
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

    from ros_ssl.nodes.controller import ControllerNode
    from ros_ssl.nodes.predictions import geometry_json
    from ros_ssl.nodes.qos import LATCHED

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    sensors = load_profile("sim").sensor_names
    geometry = LabelGeometry.sensor_distance(sensors, DISTANCES)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=170 + os.getpid() % 20)
    controller = ControllerNode(context=ctx, parameter_overrides=[
        Parameter("timeout", value=0.3), Parameter("rate", value=20.0)])
    side = rclpy.create_node("test_side", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    for n in (controller, side):
        executor.add_node(n)
    cmds: list[tuple[float, float, float]] = []  # (monotonic time, v, w)
    side.create_subscription(Twist, "/cmd_vel",
                             lambda m: cmds.append((time.monotonic(), m.linear.x, m.angular.z)), 100)
    side.create_publisher(String, "/detector/geometry", LATCHED).publish(
        String(data=geometry_json(geometry, 0.5)))
    pub = side.create_publisher(Float32MultiArray, "/detector/predictions", 10)

    def send(value: float, seconds: float) -> float:
        """Publish predictions filled with ``value`` at 20 Hz for ``seconds``; return the start time."""
        msg = Float32MultiArray(data=[value] * (len(sensors) * len(DISTANCES)))
        msg.layout.dim = [MultiArrayDimension(label="sensor", size=len(sensors)),
                          MultiArrayDimension(label="distance", size=len(DISTANCES))]
        start = end = time.monotonic()
        end += seconds
        while time.monotonic() < end:
            pub.publish(msg)
            executor.spin_once(timeout_sec=0.05)
        return start

    def commands_between(t0: float, t1: float) -> list[tuple[float, float]]:
        return [(v, w) for when, v, w in cmds if t0 <= when < t1]

    def stops_and_stays_stopped(phase: list[tuple[float, float]], max_drives: int) -> bool:
        """The phase's commands: at most ``max_drives`` drives (20 Hz ticks: 20 is a second), then only
        stops, several. Counts and order, not receipt times: on a loaded machine the predictions queued
        before a phase, and the commands they caused, may be handled well after it began."""
        first = next((i for i, c in enumerate(phase) if c == STOP), len(phase))
        return first <= max_drives and set(phase[first:]) == {STOP} and len(phase) - first >= 3

    try:
        send(0.0, 3.0)  # everything free: drives
        assert any(v > 0 for v, _ in commands_between(0.0, math.inf)), cmds[-5:]
        nan_from = send(math.nan, 1.0)  # before the fix: NaN read as "nothing ahead", driving on
        nan_phase = commands_between(nan_from, time.monotonic())
        assert stops_and_stays_stopped(nan_phase, max_drives=12), nan_phase
        send(0.0, 1.0)
        assert cmds[-1][1] > 0, cmds[-5:]  # fresh valid predictions: drives again
        silent_from = time.monotonic()
        end = silent_from + 1.5
        while time.monotonic() < end:  # silence: the detector stopped
            executor.spin_once(timeout_sec=0.05)
        silent_phase = commands_between(silent_from, end)
        assert stops_and_stays_stopped(silent_phase, max_drives=20), silent_phase  # timeout 0.3 s
    finally:
        executor.shutdown()
        controller.destroy_node()
        side.destroy_node()
        rclpy.shutdown(context=ctx)


@pytest.mark.ros
@pytest.mark.slow
def test_controller_node_places_obstacles_by_odometry_and_forgets_them_on_a_reset(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    rclpy = pytest.importorskip("rclpy")
    from nav_msgs.msg import Odometry
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

    from ros_ssl.nodes.controller import ControllerNode
    from ros_ssl.nodes.predictions import geometry_json
    from ros_ssl.nodes.qos import LATCHED

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    sensors = load_profile("sim").sensor_names
    ctx = Context()
    rclpy.init(context=ctx, domain_id=150 + os.getpid() % 10)
    controller = ControllerNode(context=ctx)  # the sim profile: nav_msgs/Odometry on /odom, memory_s 5
    side = rclpy.create_node("test_side", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    for n in (controller, side):
        executor.add_node(n)
    side.create_publisher(String, "/detector/geometry", LATCHED).publish(
        String(data=geometry_json(LabelGeometry.sensor_distance(sensors, DISTANCES), 0.5)))
    predictions = side.create_publisher(Float32MultiArray, "/detector/predictions", 10)
    odometry = side.create_publisher(Odometry, "/odom", 10)
    probs = np.zeros((len(sensors), len(DISTANCES)), np.float32)
    probs[0] = 1.0  # the leftmost sensor fires at every distance: an obstacle right there
    left_obstacle = Float32MultiArray(data=probs.ravel().tolist())
    left_obstacle.layout.dim = [MultiArrayDimension(label="sensor", size=len(sensors)),
                                MultiArrayDimension(label="distance", size=len(DISTANCES))]

    def drive_until(done: Callable[[], bool], x: float, what: str) -> None:
        """Odometry at (x, 0) and a prediction of an obstacle to the left, at 20 Hz, until ``done()``."""
        end = time.monotonic() + 30
        while not done():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            msg = Odometry()
            msg.pose.pose.position.x = x
            msg.pose.pose.orientation.w = 1.0
            odometry.publish(msg)
            predictions.publish(left_obstacle)
            executor.spin_once(timeout_sec=0.05)

    def remembered() -> int:
        driver = controller._driver
        return 0 if driver is None or driver.memory is None else len(driver.memory)

    try:
        drive_until(lambda: remembered() > 0, 0.0, "obstacle points placed by odometry")
        drive_until(lambda: remembered() == 0, 3.0, "the memory forgotten after the odometry jumped 3 m")
    finally:
        executor.shutdown()
        controller.destroy_node()
        side.destroy_node()
        rclpy.shutdown(context=ctx)
    log = capfd.readouterr().err
    assert "odometry on /odom: remembering predicted obstacles for 5 s, stall turn after 1 s" in log
    assert "odometry jumped 3.00 m, 0.00 rad between two messages (a reset?): forgot" in log


# --- model packages: checked whole before they run ----------------------------------------------------

def tiny_package(path: Path, seed: int = 0, poisoned: bool = False) -> Path:
    """A model package (24 x 32 input) whose ONNX graph is built by hand: mean colour -> (N, 3, 5).

    ``poisoned``: one weight is NaN, so one output cell is NaN for every frame (metadata all valid).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    s, d, height, width = len(SENSORS), len(DISTANCES), 24, 32
    weights = rng.normal(0, 3, (3, s * d)).astype(np.float32)
    if poisoned:
        weights[0, 7] = np.nan
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["mean", "w"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["p"]),
         helper.make_node("Reshape", ["p", "shape"], ["probabilities"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, height, width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", s, d])],
        [numpy_helper.from_array(weights, "w"),
         numpy_helper.from_array(np.array([-1, s, d], np.int64), "shape")])
    path.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9),
              path / "model.onnx")
    geometry = LabelGeometry.sensor_distance(SENSORS, DISTANCES)
    write_metadata(path, ModelMetadata(
        input=InputSpec("image", height, width, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
        output=OutputSpec("probabilities", "sensor_distance", (s, d), geometry),
        files={"fp32": ModelFile("model.onnx", sha256_file(path / "model.onnx"))},
        run={"dir": "tests", "model": "tiny"}, created=datetime.now(timezone.utc).isoformat(),
        ros_ssl_version="test", opset=17))
    return path


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return tiny_package(tmp_path / "model")


def edit(pkg: Path, change: Callable[[dict[str, Any]], Any], reseal: bool) -> None:
    meta = json.loads((pkg / "metadata.json").read_text())
    change(meta)
    (pkg / "metadata.json").write_text(json.dumps(meta))
    if reseal:  # as a tool that rewrites the checksums would: the field checks must catch it
        write_checksums(pkg, ["model.onnx"])


def refused(pkg: Path, match: str) -> str:
    with pytest.raises(ModelPackageError, match=match) as err:
        EdgeModel(pkg, providers=["cpu"])
    text = str(err.value)
    assert "\n" not in text
    return text


def test_an_exported_package_is_sealed_and_runs(package: Path) -> None:
    lines = (package / CHECKSUMS).read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["metadata.json", "model.onnx"]
    assert lines[1].split()[0] == sha256_file(package / "model.onnx")
    probs = EdgeModel(package, providers=["cpu"]).predict(np.full((24, 32, 3), 100, np.uint8))
    assert probs.shape == (3, 5) and np.isfinite(probs).all()
    if shutil.which("sha256sum"):  # the file is in the format of coreutils' sha256sum
        check = subprocess.run(["sha256sum", "-c", CHECKSUMS], cwd=package, capture_output=True, check=False)
        assert check.returncode == 0, check.stdout


def test_nan_mean_is_refused_sealed_or_not(package: Path) -> None:
    nan_mean = lambda m: m["input"].update(mean=[math.nan, 0.5, 0.5])  # noqa: E731
    edit(package, nan_mean, reseal=False)
    assert "metadata.json was edited or damaged" in refused(package, r"metadata\.json has SHA-256")
    edit(package, lambda m: None, reseal=True)
    refused(package, r"metadata\.json: field input\.mean is \(nan, 0\.5, 0\.5\); expected finite numbers")


@pytest.mark.parametrize(("change", "match"), [
    (lambda m: m["input"].update(std=[0.25, 0.0, 0.25]), r"input\.std .* expected finite numbers > 0"),
    (lambda m: m["input"].update(std=[0.25, math.inf, 0.25]), r"input\.std"),
    (lambda m: m["input"].update(scale=math.nan), r"input\.scale"),
    (lambda m: m["input"].update(height=-24), r"input\.height/width"),
    (lambda m: m["input"].update(source_width=320), r"input\.source_width/source_height"),
    (lambda m: m["input"].update(channels="BGR"), r"input\.channels"),
    (lambda m: m["output"].update(shape=[3, 4]), r"disagrees with the geometry"),
    (lambda m: m["output"].update(layout="grid"), r"output\.geometry\.kind"),
    (lambda m: m["output"]["geometry"].update(distances=[0.0, 0.05, math.nan, 0.2, 0.3]), r"non-finite"),
    (lambda m: m["files"]["fp32"].update(sha256="abc"), r"files\[\]\.sha256"),
    (lambda m: m["input"].update(height=48), r"belongs to another model"),  # the ONNX input disagrees
])
def test_invalid_metadata_fields_are_refused_naming_the_field(package: Path, change: Any, match: str) -> None:
    edit(package, change, reseal=True)
    assert str(package) in refused(package, match)


def test_tampered_or_unsealed_packages_are_refused_naming_the_file(package: Path, tmp_path: Path) -> None:
    edit(package, lambda m: m["run"].update(val_auc=0.99), reseal=False)  # any edit, even a harmless one
    refused(package, r"metadata\.json has SHA-256 .* checksums\.sha256 says")
    edit(package, lambda m: m["run"].update(val_auc=None), reseal=True)

    other = tiny_package(tmp_path / "other", seed=1)  # same contract, other weights
    shutil.copy(other / "model.onnx", package / "model.onnx")
    refused(package, r"model\.onnx has SHA-256 .* metadata says")
    edit(package, lambda m: m["files"]["fp32"].update(sha256=sha256_file(package / "model.onnx")),
         reseal=False)  # ... and the metadata edited to match the swapped file
    refused(package, r"metadata\.json has SHA-256")

    shutil.rmtree(package)
    tiny_package(package)
    data = (package / "model.onnx").read_bytes()
    (package / "model.onnx").write_bytes(data[: len(data) // 2])  # truncated (a copy cut short)
    refused(package, r"model\.onnx has SHA-256 .* the file was changed")
    (package / "model.onnx").write_bytes(data)

    sums = (package / CHECKSUMS).read_text()
    (package / CHECKSUMS).write_text(sums.splitlines()[0] + "\n")
    refused(package, r"checksums\.sha256 does not list it for model file model\.onnx")
    (package / CHECKSUMS).write_text("not a checksum\n")
    refused(package, r"checksums\.sha256 line 1 is not")
    (package / CHECKSUMS).unlink()
    assert str(package / CHECKSUMS) in refused(package, r"checksums\.sha256 not found")


def test_infer_exits_2_with_one_line_on_a_tampered_package(package: Path, tmp_path: Path) -> None:
    from bagtools import write_robot_bag

    bag = write_robot_bag(tmp_path / "bag", load_profile("sim"), seconds=0.5)
    edit(package, lambda m: m["input"].update(mean=[math.nan, 0.5, 0.5]), reseal=True)
    out = subprocess.run([sys.executable, "-m", "ros_ssl", "infer", str(package), str(bag), "--out",
                          str(tmp_path / "infer"), "--providers", "cpu"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("ros-ssl: error:")]
    assert len(errors) == 1 and "input.mean" in errors[0] and "Traceback" not in out.stderr


def test_infer_never_stores_non_finite_predictions(tmp_path: Path) -> None:
    from bagtools import write_robot_bag

    from ros_ssl.edge.infer import infer_bag

    profile = load_profile("sim")
    bag = write_robot_bag(tmp_path / "bag", profile, seconds=0.5)
    model = EdgeModel(tiny_package(tmp_path / "model", poisoned=True), providers=["cpu"])
    with pytest.raises(MessageError, match=r"first problem: frame 0: the model's output is not finite"):
        infer_bag(model, bag, profile.camera.topic, tmp_path / "infer", video=False)


# --- processes die with their parent -------------------------------------------------------------------

def children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def wait_for_children(proc: subprocess.Popen[Any], count: int, timeout: float, what: str) -> set[int]:
    """The descendants of ``proc`` once there are ``count`` of them (every one ever seen)."""
    seen: set[int] = set()

    def enough() -> bool:
        seen.update(children(proc.pid))
        return len(seen) >= count

    wait_for(enough, timeout, what)
    return seen


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def kill_and_check_orphans(proc: subprocess.Popen[bytes], kids: set[int], timeout: float) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        wait_for(lambda: not any(process_alive(k) for k in kids), timeout, "the children to exit")
    finally:
        for k in kids:
            if process_alive(k):
                os.kill(k, signal.SIGKILL)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")


@linux_only
def test_pool_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent("""
        import os, time
        from concurrent.futures import ProcessPoolExecutor
        from ros_ssl.lifetime import die_with_parent
        with ProcessPoolExecutor(2, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            for _ in range(2):
                pool.submit(time.sleep, 600)
            print("started", flush=True)
            time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
    kill_and_check_orphans(proc, wait_for_children(proc, 2, 30, "two workers"), 5)


@linux_only
@pytest.mark.slow
def test_label_workers_die_with_a_killed_label_parent(tmp_path: Path) -> None:
    from bagtools import write_robot_bag

    profile = load_profile("sim")
    bags = [str(write_robot_bag(tmp_path / f"bag{i}", profile, seconds=20.0)) for i in range(4)]
    proc = subprocess.Popen([sys.executable, "-m", "ros_ssl", "label", *bags, "--out", str(tmp_path / "ds"),
                             "-j", "2", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        kids = wait_for_children(proc, 2, 60, "two label workers")
    except AssertionError:
        proc.kill()
        said = proc.communicate()[1].decode()[-2000:]
        raise AssertionError(f"no workers seen; label said: {said}") from None
    kill_and_check_orphans(proc, kids, 5)


@linux_only
@pytest.mark.ros
@pytest.mark.slow
def test_run_nodes_die_with_a_killed_run_parent(tmp_path: Path) -> None:
    pytest.importorskip("rclpy")
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "ROS_DOMAIN_ID": str(190 + os.getpid() % 10)}
    log = tmp_path / "run.log"
    proc = subprocess.Popen([sys.executable, "-m", "ros_ssl", "run", "sim-record", "--out",
                             str(tmp_path / "bag"), "--duration", "120"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    kids = wait_for_children(proc, 2, 60, "recorder and simulator")
    # the recorder has its bag open (killed before, during its imports, it has nothing to close)
    wait_for(lambda: "recording " in log.read_text(errors="replace"), 60, "the recorder's start")
    kill_and_check_orphans(proc, kids, 20)
    text = log.read_text()
    assert "Traceback" not in text and f"closed {tmp_path / 'bag'}" in text, text[-3000:]  # bag complete
