"""Labeler speed and memory: vectorised association against the naive loop, end to end from a bag against
today's labelling path, decode quality, and peak memory of labelling a 1-hour bag.

Run::

    .venv/bin/python benchmarks/bench_label.py                   # full run (about 6 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_label.py --minutes 10 --bag-seconds 30 --rss-minutes 10

Association: a synthetic robot (0.1 m/s straight runs, turns in place, short reversals) with odometry
at 50 Hz and five Range topics at 20 Hz on their own stamps (the worst case: no shared instants),
camera frames at 30 Hz. The naive loop runs on the first ``--naive-frames`` frames and its rate is
extrapolated. End to end: a synthetic rosbag2 MCAP with a 320x240 JPEG camera at 15 Hz labelled into a
dataset by ``label_bag_into`` (streamed in chunks, JPEGs decoded at half size in the DCT domain) beside
today's path (``label_bag_today``: whole bag in memory, full-size decode + area resize, then
``DatasetWriter.append``), alternated and best of ``--repeat``; times are CPU seconds of this process
(process_time, one core: numpy, OpenCV single-threaded), so a busy shared machine inflates them little.
Decode quality: PSNR / SSIM of both decoders against the area-resized uncompressed image. Memory: peak
RSS (VmHWM) of a fresh process labelling a ``--rss-minutes`` bag (default 60) each way.
Targets: one hour of 30 Hz frames associated in under 10 s; association >= 50x the naive loop;
end to end >= 2x today's frames/s per core; peak RSS labelling a 1-hour bag < 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2
import numpy as np

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.bag.streams import iter_frames, read_streams
from ros_ssl.config import RobotProfile, load_profile
from ros_ssl.config.profile import profile_from_dict
from ros_ssl.data.store import UNKNOWN_TRUTH, DatasetWriter
from ros_ssl.errors import BagError
from ros_ssl.label import (
    MatchParams,
    associate,
    associate_naive,
    clean_trajectory,
    grid_labels,
    label_streams,
    posed_readings,
)
from ros_ssl.label.pipeline import _report, bag_id, label_bag_into, true_labels
from ros_ssl.label.trajectory import NS as TRAJ_NS
from ros_ssl.msgs.decode_quality import decode_quality, psnr
from ros_ssl.msgs.images import UndecodableImage, encode_compressed, resize_rgb
from ros_ssl.msgs.poses import wrap_angle

cv2.setNumThreads(1)
NS = 1_000_000_000


def synthetic_run(seconds: float, seed: int = 0) -> dict[str, np.ndarray | list[np.ndarray]]:
    """Odometry (50 Hz), 5 Range streams (20 Hz, own stamps) and 30 Hz frame stamps of a wandering robot."""
    rng = np.random.default_rng(seed)
    dt = 0.02
    n = int(seconds / dt)
    # Piecewise commands: 70 % straight ahead, 20 % turn in place, 10 % reverse; 1-6 s each.
    v, w = np.zeros(n), np.zeros(n)
    i = 0
    while i < n:
        k = int(rng.uniform(1, 6) / dt)
        kind = rng.choice(3, p=[0.7, 0.2, 0.1])
        v[i:i + k] = (0.1, 0.0, -0.05)[kind]
        w[i:i + k] = (rng.normal(0, 0.05), rng.choice([-0.8, 0.8]), 0.0)[kind]
        i += k
    th = np.cumsum(w * dt)
    odom = np.column_stack([np.cumsum(v * np.cos(th) * dt), np.cumsum(v * np.sin(th) * dt), th])
    odom_ns = (np.arange(n) * dt * NS).astype(np.int64)
    range_ns, ranges = [], []
    for s in range(5):
        m = int(seconds * 20)
        range_ns.append((np.arange(m) * NS // 20 + s * 7_000_000).astype(np.int64))
        values = rng.uniform(0.0, 0.3, m)
        ranges.append(np.where(values < 0.12, values, np.inf))
    frame_ns = (np.arange(int(seconds * 30)) * NS // 30).astype(np.int64)
    return {"odom_ns": odom_ns, "odom": odom, "range_ns": range_ns, "ranges": ranges, "frame_ns": frame_ns}


def bench_association(minutes: float, naive_frames: int, params: MatchParams) -> tuple[float, float]:
    run = synthetic_run(minutes * 60)
    frame_ns = run["frame_ns"]
    t0 = time.process_time()
    traj = clean_trajectory(run["odom_ns"], run["odom"], 2.0, 0.5)
    readings = posed_readings(traj, run["range_ns"], run["ranges"])
    frames = traj.poses_at(frame_ns)
    t1 = time.process_time()
    fast = associate(frame_ns, frames, traj, readings, params)
    t2 = time.process_time()
    sub = frame_ns[:naive_frames]
    ref = associate_naive(sub, traj, run["range_ns"], run["ranges"], params)
    t3 = time.process_time()
    same = bool((ref.mask == fast.mask[:naive_frames]).all()
                and (ref.labels == fast.labels[:naive_frames]).all())
    total = t2 - t0
    fast_fps, naive_fps = len(frame_ns) / total, len(sub) / (t3 - t2)
    print(f"association, {minutes:g} min of 30 Hz frames ({len(frame_ns)} frames, 5 sensors x "
          f"{len(params.distances)} distances, {100 * fast.mask.mean():.1f}% cells known)")
    print(f"  vectorised: {total:7.2f} s  ({t1 - t0:.2f} s cleaning + posing, {t2 - t1:.2f} s matching)"
          f"  {fast_fps:9.0f} frames/s")
    print(f"  naive loop: {t3 - t2:7.2f} s for {len(sub)} frames              {naive_fps:9.1f} frames/s"
          f"   (identical output: {same})")
    print(f"  speed-up {fast_fps / naive_fps:.0f}x; one hour of 30 Hz frames: {108_000 / fast_fps:.2f} s "
          f"vectorised, {108_000 / naive_fps / 3600:.1f} h naive")
    grid = grid_profile()
    n_grid = min(len(frame_ns), 18_000)
    t4 = time.process_time()
    grid_labels(frame_ns[:n_grid], traj.poses_at(frame_ns[:n_grid]), traj, readings, grid)
    t5 = time.process_time()
    cells = grid.label_geometry().shape
    print(f"  grid labels ({cells[0]}x{cells[1]} cells, no naive counterpart): "
          f"{n_grid / (t5 - t4):.0f} frames/s on {n_grid} frames")
    return fast_fps, naive_fps


def grid_profile() -> RobotProfile:
    data = load_profile("sim").to_dict()
    data["labels"]["geometry"] = "grid"
    return profile_from_dict(data)


def write_bag(path: Path, seconds: float, camera_hz: float = 15.0) -> Path:
    """A 320x240 JPEG camera, odometry at 50 Hz, five Range topics at 20 Hz.

    Fast enough for an hour: 30 JPEGs are encoded once (a sliding blurred texture, about 10 KB each,
    quality 90, 4:2:0 like cameras and image_transport) and reused with their own stamps.
    """
    profile = load_profile("sim")
    run = synthetic_run(seconds, seed=1)
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 3)  # something JPEG-like, not pure noise
    payloads = [encode_compressed(np.roll(base, 7 * k, axis=1)) for k in range(30)]
    t0 = 1_700_000_000 * NS
    with BagWriter(path) as w:
        for t, (x, y, yaw) in zip(run["odom_ns"], run["odom"], strict=True):
            w.write("/odom", t0 + t, M.odometry_msg(t0 + t, "odom", "base_link", x, y, yaw))
        for s, (ts, vs) in zip(profile.proximity.sensors, zip(run["range_ns"], run["ranges"], strict=True),
                                  strict=True):
            for t, v in zip(ts, vs, strict=True):
                w.write(s.topic, t0 + t, M.range_msg(t0 + t, "proximity_" + s.name, v, 0.12))
        for k in range(int(seconds * camera_hz)):
            t = t0 + int(k * NS / camera_hz)
            msg = M.CompressedImage(header=M.header(t, "camera_link"), format="jpeg", data=payloads[k % 30])
            w.write(profile.camera.topic, t, msg)
    return path


def label_bag_today(path: Path, profile: RobotProfile) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The labelling path before streaming (the baseline, verbatim): every frame of the bag decoded at
    full size, area-resized and held in one array, then returned whole for ``DatasetWriter.append``."""
    streams = read_streams(path, profile)
    traj, frames, labels, readings = label_streams(streams, profile)
    n = len(streams.camera_ns)
    keep = frames.ok.copy()
    height, width = profile.image.height, profile.image.width
    row = np.cumsum(keep) - 1
    images = np.zeros((int(keep.sum()), height, width, 3), np.uint8)
    undecodable = np.zeros(n, bool)
    errors: list[UndecodableImage] = []
    for i, t_ns, rgb, err in iter_frames(path, streams.camera_topic):
        if i >= n or t_ns != streams.camera_ns[i]:
            raise BagError(f"bag {path}: camera messages came in a different order on the second read")
        if not keep[i]:
            continue
        if err is not None:
            undecodable[i] = True
            errors.append(err)
        elif rgb is not None:
            images[row[i]] = resize_rgb(rgb, width, height)
    decoded = ~undecodable[frames.ok]
    keep &= ~undecodable
    stamps_ns = streams.camera_ns[keep]
    pose = frames.pose[keep]
    arrays = {
        "frames": images[decoded] if not decoded.all() else images,
        "labels": labels.labels[keep],
        "mask": labels.mask[keep].astype(np.uint8),
        "truth": true_labels(streams, profile, stamps_ns, labels.labels.shape[1:]),
        "stamps": stamps_ns / TRAJ_NS,
        "poses": np.column_stack([pose[:, :2], wrap_angle(pose[:, 2])]) if len(pose) else np.zeros((0, 3)),
    }
    report = _report(str(path), streams, profile, (traj, frames, labels, readings), keep, errors)
    report["frames_with_truth"] = int((arrays["truth"] != UNKNOWN_TRUTH).any(axis=(1, 2)).sum())
    rid = bag_id(path)
    seed = (streams.world or {}).get("seed")
    meta = {"id": rid, "group": f"world-{seed}" if seed is not None else rid,
            "bag": str(Path(path).resolve()), "frames": int(keep.sum()), "report": report}
    return arrays, meta


def new_writer(path: Path, profile: RobotProfile) -> DatasetWriter:
    return DatasetWriter(path, profile.label_geometry(), (profile.image.height, profile.image.width), profile)


def label_into_dataset(way: str, bag: Path, out: Path, profile: RobotProfile) -> dict[str, Any]:
    """Label ``bag`` into a new dataset at ``out``: ``today`` (whole bag, then append) or ``streaming``."""
    writer = new_writer(out, profile)
    if way == "today":
        arrays, meta = label_bag_today(bag, profile)
        writer.append(meta, arrays)
        return meta
    meta, _ = label_bag_into(bag, profile, writer.open_shard)
    return meta


def bench_decode_quality() -> None:
    print("decode quality, 320x240 JPEG (4:2:0) -> 80x64, against the area-resized uncompressed image "
          "(mean of 6 scenes)")
    for q in (50, 75, 90, 95):
        r = decode_quality(q)
        print(f"  quality {q:3d}: full decode + area  PSNR {r['psnr_full']:5.2f} dB SSIM {r['ssim_full']:.4f}"
              f"   half-size DCT decode + area  PSNR {r['psnr_new']:5.2f} dB SSIM {r['ssim_new']:.4f}")


def bench_end_to_end(bag_seconds: float, naive_frames: int, repeat: int) -> None:
    profile = load_profile("sim")
    params = MatchParams.from_profile(profile)
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_bag(Path(tmp) / "bench", bag_seconds)
        best = {"today": float("inf"), "streaming": float("inf")}
        metas = {}
        for k in range(repeat):
            for way in ("today", "streaming"):
                t0 = time.process_time()
                metas[way] = label_into_dataset(way, bag, Path(tmp) / f"ds-{way}-{k}", profile)
                best[way] = min(best[way], time.process_time() - t0)
        from ros_ssl.data import load_dataset

        a, b = load_dataset(Path(tmp) / "ds-today-0"), load_dataset(Path(tmp) / "ds-streaming-0")
        same = all(np.array_equal(getattr(a, k), getattr(b, k))
                   for k in ("labels", "mask", "truth", "stamps", "poses"))
        same_report = json.dumps(metas["today"]["report"]) == json.dumps(metas["streaming"]["report"])
        frames_psnr = psnr(np.asarray(a.frames[:]), np.asarray(b.frames[:]))
        t1 = time.process_time()
        streams = read_streams(bag, profile)
        t2 = time.process_time()
        traj, _, _, _ = label_streams(streams, profile)
        t3 = time.process_time()
        for _ in iter_frames(bag, streams.camera_topic, (profile.image.width, profile.image.height)):
            pass
        t4 = time.process_time()
        sub = streams.camera_ns[:naive_frames]
        associate_naive(sub, traj, streams.range_ns, streams.ranges, params)
        t5 = time.process_time()
    n = metas["streaming"]["frames"]
    today, new = n / best["today"], n / best["streaming"]
    naive_total = (t2 - t1) + (t4 - t3) + (t5 - t4) * n / len(sub)
    print(f"end to end from a bag into a dataset: {bag_seconds:g} s, {n} frames 320x240 JPEG -> "
          f"{profile.image.width}x{profile.image.height}, best of {repeat}")
    print(f"  today (whole bag, full decode):        {best['today']:6.2f} s  {today:7.0f} frames/s per core")
    print(f"  streaming + half-size DCT decode:      {best['streaming']:6.2f} s  {new:7.0f} frames/s per core"
          f"   phases: read streams {t2 - t1:.2f} s, associate {t3 - t2:.2f} s, "
          f"decode + resize {t4 - t3:.2f} s")
    print(f"  with the naive association loop:       {naive_total:6.2f} s  {n / naive_total:7.0f} "
          f"frames/s")
    verdict = "met" if new / today >= 2 else "NOT met"
    print(f"  TARGET end to end >= 2x today: {new / today:.2f}x  ({verdict})")
    print(f"  labels, mask, truth, stamps, poses identical: {same}; report identical: {same_report}; "
          f"frames differ from today's by PSNR {frames_psnr:.1f} dB")


def rss_child(way: str, bag: str, out: str) -> None:
    """Run in a fresh process: label ``bag`` one way, print peak RSS (VmHWM) as JSON."""
    t0 = time.perf_counter()
    meta = label_into_dataset(way, Path(bag), Path(out), load_profile("sim"))
    wall = time.perf_counter() - t0
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    print(json.dumps({"way": way, "peak_rss_mb": hwm_kb / 1024, "frames": meta["frames"], "wall_s": wall}))


def bench_memory(minutes: float, camera_hz: float, ways: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        bag = write_bag(Path(tmp) / "long", minutes * 60, camera_hz)
        size_mb = sum(f.stat().st_size for f in bag.rglob("*") if f.is_file()) / 1e6
        print(f"peak memory labelling a {minutes:g}-minute bag ({camera_hz:g} Hz camera 320x240 JPEG, "
              f"{size_mb:.0f} MB, written in {time.perf_counter() - t0:.0f} s), fresh process each, VmHWM")
        for way in ways:
            cmd = [sys.executable, __file__, "--rss-child", way, str(bag), str(Path(tmp) / f"ds-{way}")]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            target = (f"   TARGET < 500 MB for 1 h: {'met' if r['peak_rss_mb'] < 500 else 'NOT met'}"
                      if way == "streaming" and minutes >= 60 else "")
            print(f"  {way:9s}: peak RSS {r['peak_rss_mb']:7.0f} MB  ({r['frames']} frames, "
                  f"{r['wall_s']:.0f} s)"
                  f"{target}")


def bench_executor(executor: str, bag_seconds: float = 120.0, bags: int = 4) -> None:
    """2 workers of ``executor`` against 1: wall time of ``bags`` bags labelled into a dataset, each worker
    count on its own local cluster; start-up and a warm-up bag per worker are not counted. Target >= 1.7x."""
    from ros_ssl.data.location import open_writer
    from ros_ssl.label.executors import ExecutorKind, make_executor
    from ros_ssl.label.jobs import BagJob, label_to_shard

    profile = load_profile("sim")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = [write_bag(root / f"bag{i}", bag_seconds) for i in range(bags)]
        frames = 0
        wall: dict[int, float] = {}
        for workers in (1, 2):
            out, warm = root / f"ds{workers}", root / f"warm{workers}"
            open_writer(str(out), profile)
            open_writer(str(warm), profile)
            warmups = [BagJob(str(write_bag(root / f"warm{workers}_{i}", 2.0)), str(warm), profile)
                       for i in range(workers)]
            with make_executor(ExecutorKind(executor), workers, bags) as runner:
                list(runner.map(label_to_shard, warmups))
                start = time.perf_counter()
                ends = list(runner.map(label_to_shard, [BagJob(str(p), str(out), profile) for p in paths]))
                wall[workers] = time.perf_counter() - start
            failed = [e.error or (e.result.error if e.result else "") for e in ends
                      if e.result is None or e.result.error]
            if failed:
                raise SystemExit(f"--executor {executor}: {failed[0]}")
            frames = sum(int(e.result.meta["frames"]) for e in ends if e.result and e.result.meta)
        print(f"executor {executor}: {bags} bags of {bag_seconds:.0f} s ({frames} frames)")
        for workers, seconds in wall.items():
            print(f"  {workers} worker{'s' if workers > 1 else ' '}  {seconds:6.2f} s wall  "
                  f"{frames / seconds:7.0f} frames/s")
        ratio = wall[1] / wall[2]
        print(f"  2 workers / 1 worker: {ratio:.2f}x  (target >= 1.7x: {'PASS' if ratio >= 1.7 else 'MISS'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="synthetic recording for association alone")
    parser.add_argument("--bag-seconds", type=float, default=60.0, help="synthetic bag for end to end")
    parser.add_argument("--naive-frames", type=int, default=200, help="frames the naive loop labels")
    parser.add_argument("--repeat", type=int, default=2, help="end-to-end runs of each path (best counts)")
    parser.add_argument("--rss-minutes", type=float, default=60.0,
                        help="bag length for peak memory (0: skip)")
    parser.add_argument("--camera-hz", type=float, default=15.0, help="camera rate of the peak-memory bag")
    parser.add_argument("--no-today-rss", action="store_true",
                        help="skip today's path in the memory run (it holds every frame: ~0.9 GB per hour)")
    parser.add_argument("--executor", choices=["none", "ray"], default="none",
                        help="also measure labelling workers of this executor (2 against 1)")
    parser.add_argument("--rss-child", nargs=3, metavar=("WAY", "BAG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    bench_association(args.minutes, args.naive_frames, MatchParams.from_profile(load_profile("sim")))
    print()
    bench_end_to_end(args.bag_seconds, args.naive_frames, args.repeat)
    print()
    bench_decode_quality()
    if args.rss_minutes > 0:
        print()
        ways = ["streaming"] if args.no_today_rss else ["today", "streaming"]
        bench_memory(args.rss_minutes, args.camera_hz, ways)
    if args.executor != "none":
        print()
        bench_executor(args.executor)


if __name__ == "__main__":
    main()
