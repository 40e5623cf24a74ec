"""Recorder throughput and detector latency over real DDS, each node in its own process.

    python benchmarks/bench_nodes.py --seconds 10 [--model runs/demo/model]

1. Bag writing without DDS, 640x480 rgb8 frames: rosbags' ``Writer`` (the baseline)
   vs the recorder's crash-safe writer, with and without fdatasync at each 1 s commit.
2. Recorder node live: 640x480 rgb8 Image at 30 Hz + 5 Range at 20 Hz + Odometry at 50 Hz from this process,
   published best effort (sensor-data QoS) and then reliable: messages/s, MB/s, messages lost between
   publisher and bag, recorder CPU. Then reliable images as fast as this process can publish them.
3. Detector node live: 640x480 frames at 30 Hz (rgb8 Image and JPEG CompressedImage, reliable) stamped at
   publish; latency = arrival of the Range output here minus the frame stamp (median, p99). Beside it the
   transport floor: a bare rclpy relay (receives each image as an rclpy message, publishes a Range with its
   stamp), and the model alone on the same frames. Every node process is pinned to one core.

Without --model a paper_cnn detector (untrained: same cost) is exported to a temporary package (needs torch).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
DOMAIN = 170
W, H = 640, 480
CORE = int(os.environ.get("BENCH_CORE", "1"))  # the core each node under test is pinned to


def child_env(domain: int) -> dict[str, str]:
    return {**os.environ, "ROS_DOMAIN_ID": str(domain), "PYTHONUNBUFFERED": "1"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_file(tmp: Path) -> Path:
    from ros_ssl.config import load_profile

    data = load_profile("sim").to_dict()
    data["camera"].update(topic="/camera/image_raw", type="raw", encoding="rgb8", width=W, height=H,
                          rate_hz=30.0)
    path = tmp / "bench_profile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    return [np.roll(base, 7 * i, axis=1) for i in range(n)]


# -- 1. writers without DDS ---------------------------------------------------------------------------
def bench_writers(tmp: Path) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    from ros_ssl.bag import messages as m
    from ros_ssl.bag.recording import RecordingBag, SplitPolicy, TopicSpec
    from ros_ssl.bag.writer import TYPESTORE

    imgs = frames(8)
    cdr = [bytes(TYPESTORE.serialize_cdr(m.image_msg(i, "cam", imgs[i % 8]), "sensor_msgs/msg/Image"))
           for i in range(8)]
    n = 300  # 10 s of camera at 30 Hz
    mb = n * len(cdr[0]) / 1e6

    def rosbags_writer() -> None:
        out = tmp / f"w_rosbags_{time.monotonic_ns()}"
        with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as bag:
            conn = bag.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
            for i in range(n):
                bag.write(conn, i * 33_000_000, cdr[i % 8])

    def ours(fsync: bool) -> None:
        name = f"w_ours_{fsync}_{time.monotonic_ns()}"
        spec = TopicSpec("/camera/image_raw", "sensor_msgs/msg/Image",
                         TYPESTORE.generate_msgdef("sensor_msgs/msg/Image")[0])
        with RecordingBag(tmp / name, SplitPolicy(fsync=fsync)) as bag:
            bag.add_topic(spec)
            for i in range(n):
                bag.write("/camera/image_raw", i * 33_000_000, cdr[i % 8])
                if i % 30 == 29:
                    bag.commit()  # the recorder's 1 s flush interval

    results: dict[str, float] = {}
    for _ in range(3):  # best of three, each after a sync: the page cache's writeback otherwise decides
        for label, fn in (("rosbags Writer (baseline)", rosbags_writer),
                          ("crash-safe, no fsync", lambda: ours(False)),
                          ("crash-safe, fdatasync/commit", lambda: ours(True))):
            os.sync()
            t0 = time.perf_counter()
            fn()
            results[label] = max(results.get(label, 0.0), mb / (time.perf_counter() - t0))
        for old in tmp.glob("w_*"):
            shutil.rmtree(old)
    base = results["rosbags Writer (baseline)"]
    print(f"\n1. bag writing, {n} frames of {W}x{H} rgb8 ({mb:.0f} MB), no DDS, best of 3")
    for label, rate in results.items():
        fps = rate * 1e6 / len(cdr[0])
        print(f"   {label:32s} {rate:8.0f} MB/s  {rate / base:5.2f}x baseline  ({fps:.0f} frames/s)")


# -- 2. recorder live ---------------------------------------------------------------------------------
def bench_recorder(tmp: Path, profile: Path, seconds: float) -> None:
    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.context import Context
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image, Range

    from ros_ssl.bag import BagReader
    from ros_ssl.config import load_profile

    prof = load_profile(profile)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    node = rclpy.create_node("bench_robot", context=ctx)
    imgs = [f.tobytes() for f in frames(8)]
    print(f"\n2. recorder node (qos auto), {W}x{H} rgb8 Image + 5 Range + Odometry published by another "
          f"process")
    try:
        runs = (("30 Hz", "best effort"), ("30 Hz", "reliable"), ("flat out", "reliable"))
        for run, (mode, qos) in enumerate(runs):
            pq = qos_profile_sensor_data if qos == "best effort" else QoSProfile(
                depth=10, reliability=ReliabilityPolicy.RELIABLE)
            cam = node.create_publisher(Image, prof.camera.topic, pq)
            rng_pubs = [node.create_publisher(Range, s.topic, pq) for s in prof.proximity.sensors]
            odom = node.create_publisher(Odometry, prof.odometry.topic, pq)
            out, log = tmp / f"rec_{run}", tmp / f"rec_{run}.log"
            proc = subprocess.Popen([sys.executable, "-m", "ros_ssl.nodes.recorder", "--ros-args",
                                     "-p", f"profile:={profile}", "-p", f"out:={out}",
                                     "-p", "discovery_interval:=0.1", "-p", "report_interval:=2.0"],
                                    env=child_env(DOMAIN), stdout=log.open("wb"), stderr=subprocess.STDOUT)
            pubs = [cam, odom, *rng_pubs]
            end = time.monotonic() + 30
            while not all(p.get_subscription_count() for p in pubs) and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)
            sent = {prof.camera.topic: 0, prof.odometry.topic: 0,
                    **{s.topic: 0 for s in prof.proximity.sensors}}
            cpu0, t0, blocked = cpu_seconds(proc.pid), time.monotonic(), 0
            next_t = {"cam": t0, "rng": t0, "odom": t0}
            periods = {"cam": 1 / 30, "rng": 1 / 20, "odom": 1 / 50}
            while (now := time.monotonic()) < t0 + seconds:
                if mode == "flat out" or now >= next_t["cam"]:
                    data = imgs[sent[prof.camera.topic] % 8]
                    msg = Image(height=H, width=W, encoding="rgb8", step=W * 3, data=data)
                    msg.header.stamp = node.get_clock().now().to_msg()
                    try:
                        cam.publish(msg)
                        sent[prof.camera.topic] += 1
                    except RCLError:  # a reliable writer whose history is full times out: back-pressure
                        blocked += 1
                    next_t["cam"] += periods["cam"]
                if now >= next_t["rng"]:
                    for s, p in zip(prof.proximity.sensors, rng_pubs, strict=True):
                        p.publish(Range(range=0.05, max_range=0.12))
                        sent[s.topic] += 1
                    next_t["rng"] += periods["rng"]
                if now >= next_t["odom"]:
                    odom.publish(Odometry())
                    sent[prof.odometry.topic] += 1
                    next_t["odom"] += periods["odom"]
                time.sleep(max(0.0, min(next_t.values()) - time.monotonic()) if mode == "30 Hz" else 0)
            elapsed = time.monotonic() - t0
            time.sleep(1.0)
            cpu = cpu_seconds(proc.pid) - cpu0
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
            with BagReader(out) as bag:
                got = {t.name: t.count for t in bag.topics()}
                size = sum(f.stat().st_size for f in out.glob("*.mcap"))
            total_sent, total_got = sum(sent.values()), sum(got.values())
            cam_t = prof.camera.topic
            dropped = re.findall(r"dropped (\d+) lost (\d+)", log.read_text())
            for p in (cam, odom, *rng_pubs):
                node.destroy_publisher(p)
            print(f"   {mode:8s} {qos:11s}: {total_got / elapsed:7.0f} msg/s, "
                  f"{size / elapsed / 1e6:6.1f} MB/s written, "
                  f"camera {got.get(cam_t, 0)}/{sent[cam_t]} frames ({sent[cam_t] / elapsed:.1f} Hz sent), "
                  f"all topics {total_got}/{total_sent}; recorder CPU {100 * cpu / elapsed:.0f}%; "
                  f"publishes refused by back-pressure {blocked}; "
                  f"last report (queue drops, DDS lost) {dropped[-1] if dropped else 'n/a'}")
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


# -- 3. detector live ---------------------------------------------------------------------------------
def paper_cnn_package(tmp: Path) -> Path:
    import torch

    from ros_ssl.config import load_profile
    from ros_ssl.config.geometry import LabelGeometry
    from ros_ssl.export.onnx_export import package_model
    from ros_ssl.models import IMAGENET_MEAN, IMAGENET_STD, Detector, build_encoder

    torch.set_num_threads(1)
    prof = load_profile("sim")
    hw = (prof.image.height, prof.image.width)
    geometry = LabelGeometry.sensor_distance(prof.sensor_names, prof.labels.distances())
    det = Detector(build_encoder("paper_cnn", hw), geometry.shape)
    package_model(det.eval(), tmp / "model", image_hw=hw, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                  geometry=geometry, run={"dir": "bench", "model": "paper_cnn", "epoch": 0, "val_auc": None},
                  data=None, auc=None, source_hw=(H, W), latency_repeats=5)
    return tmp / "model"


RELAY = """
import sys, rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, Range
rclpy.init()
node = rclpy.create_node("relay")
out = node.create_publisher(Range, sys.argv[3], 10)
def relay(msg):
    r = Range()
    r.header = msg.header
    out.publish(r)
node.create_subscription(CompressedImage if sys.argv[1] == "compressed" else Image, sys.argv[2], relay,
                         QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
ex = SingleThreadedExecutor()
ex.add_node(node)
try:
    ex.spin()
except KeyboardInterrupt:
    pass
"""


def bench_detector(tmp: Path, profile: Path, model: Path, seconds: float) -> None:
    from ros_ssl.config import load_profile
    from ros_ssl.edge import EdgeModel
    from ros_ssl.edge.config import EdgeConfig
    from ros_ssl.msgs.images import encode_compressed

    imgs = frames(8)
    edge = EdgeModel(model, providers=["cpu"], config=EdgeConfig(intra_op_threads=1))
    t_model = []
    for i in range(60):
        t0 = time.perf_counter()
        edge.predict(imgs[i % 8])
        t_model.append(time.perf_counter() - t0)
    base = float(np.median(t_model[10:])) * 1e3
    print(f"\n3. detector latency, {W}x{H} frames at 30 Hz, reliable, from another process; node on one core "
          f"(taskset -c {CORE}); model {model}")
    print(f"   model alone: median {base:.2f} ms per frame (resize + inference, no DDS, no decode)")
    prof = load_profile(profile)
    compressed = tmp / "bench_profile_compressed.yaml"
    data = yaml.safe_load(profile.read_text())
    data["camera"].update(topic="/camera/image_raw/compressed", type="compressed", encoding="jpeg")
    compressed.write_text(yaml.safe_dump(data, sort_keys=False))
    jpegs = [bytes(encode_compressed(f, "jpeg", 90)) for f in imgs]
    out_topic = f"/detector/range/{prof.sensor_names[0]}"
    print(f"   {'input':26s} {'node':22s} {'predicted':>10s} {'median ms':>10s} {'p99 ms':>8s} {'CPU':>5s}")
    for kind, prof_file, topic in (("raw rgb8 (900 KB)", profile, "/camera/image_raw"),
                                   (f"jpeg ({len(jpegs[0]) // 1000} KB)", compressed,
                                    "/camera/image_raw/compressed")):
        detector = [sys.executable, "-m", "ros_ssl.nodes.detector", "--ros-args",
                    *[x for p in (f"profile:={prof_file}", f"model:={model}", "threads:=1",
                                  "report_interval:=0.0", "qos:=reliable") for x in ("-p", p)]]
        relay = [sys.executable, "-c", RELAY, "compressed" if "jpeg" in kind else "raw", topic, out_topic]
        for run, (name, cmd) in enumerate((("bare rclpy relay (floor)", relay), ("detector", detector))):
            domain = DOMAIN + 1 + run + (2 if "jpeg" in kind else 0)
            detector_run(tmp, cmd, kind, name, topic, out_topic, seconds, domain, imgs, jpegs)


def detector_run(tmp: Path, cmd: list[str], kind: str, name: str, topic: str, out_topic: str,
                 seconds: float, domain: int, imgs: list[np.ndarray], jpegs: list[bytes]) -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image, Range

    from ros_ssl.msgs.poses import stamp_ns

    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("bench_camera", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    lat: list[float] = []

    def arrived(m: Range) -> None:
        lat.append((node.get_clock().now().nanoseconds - stamp_ns(m.header)) / 1e9)

    node.create_subscription(Range, out_topic, arrived, 100)
    jpeg = "jpeg" in kind
    cam = node.create_publisher(CompressedImage if jpeg else Image, topic,
                                QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    log = tmp / f"detector_{domain}.log"
    proc = subprocess.Popen(["taskset", "-c", str(CORE), *cmd], env=child_env(domain), stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    raw = [f.tobytes() for f in imgs]

    def frame(i: int) -> Image | CompressedImage:
        msg = (CompressedImage(format="jpeg", data=jpegs[i % 8]) if jpeg
               else Image(height=H, width=W, encoding="rgb8", step=W * 3, data=raw[i % 8]))
        msg.header.stamp = node.get_clock().now().to_msg()
        return msg

    try:
        end = time.monotonic() + 60
        while (cam.get_subscription_count() == 0 or len(lat) < 10) and time.monotonic() < end:
            cam.publish(frame(0))
            ex.spin_once(timeout_sec=0.1)
        lat.clear()
        cpu0, t0, sent = cpu_seconds(proc.pid), time.monotonic(), 0
        while time.monotonic() < t0 + seconds:
            cam.publish(frame(sent))
            sent += 1
            deadline = t0 + sent / 30
            while (left := deadline - time.monotonic()) > 0:
                ex.spin_once(timeout_sec=left)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        ex.spin_once(timeout_sec=0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    ms = np.asarray(lat) * 1e3
    if len(ms) == 0:
        print(f"   {kind:26s} {name:22s} 0/{sent} frames (lost in transport; see {log.name})")
        return
    print(f"   {kind:26s} {name:22s} {len(ms):4d}/{sent:<5d} {np.median(ms):10.1f} "
          f"{np.percentile(ms, 99):8.1f} {100 * cpu / elapsed:4.0f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="Length of each live run.")
    ap.add_argument("--model", type=Path,
                    help="Model package for the detector (default: a paper_cnn export).")
    ap.add_argument("--parts", default="1,2,3", help="Which parts to run, e.g. 3 for the detector only.")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="bench_nodes_") as d:
        tmp = Path(d)
        profile = profile_file(tmp)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if "1" in parts:
            bench_writers(tmp)
        if "2" in parts:
            bench_recorder(tmp, profile, args.seconds)
        if "3" in parts:
            bench_detector(tmp, profile, args.model or paper_cnn_package(tmp), args.seconds)


if __name__ == "__main__":
    main()
