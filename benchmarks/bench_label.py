"""Labeler speed: vectorised association against the naive per-frame loop, alone and end to end from a bag.

Run::

    .venv/bin/python benchmarks/bench_label.py                      # 1 h of 30 Hz frames + a 60 s bag
    .venv/bin/python benchmarks/bench_label.py --minutes 10 --bag-seconds 30 --naive-frames 100

Association: a synthetic robot (0.1 m/s straight runs, turns in place, short reversals) with odometry
at 50 Hz and five Range topics at 20 Hz on their own stamps (the worst case: no shared instants),
camera frames at 30 Hz. The naive loop runs on the first ``--naive-frames`` frames and its rate is
extrapolated. End to end: a synthetic rosbag2 MCAP with a 320x240 JPEG camera at 15 Hz, labelled by
``label_bag`` (read, associate, decode, resize), beside the same pipeline with the naive association;
the phase breakdown shows what bounds it. Everything runs in one process, numpy single-threaded;
times are CPU seconds of this process (process_time), so a busy shared machine inflates them little.
Targets: one hour of 30 Hz frames associated in under 10 s; association >= 50x the naive loop.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2
import numpy as np

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.bag.streams import iter_frames, read_streams
from ros_ssl.config import RobotProfile, load_profile
from ros_ssl.config.profile import profile_from_dict
from ros_ssl.label import (
    MatchParams,
    associate,
    associate_naive,
    clean_trajectory,
    grid_labels,
    label_bag,
    label_streams,
    posed_readings,
)
from ros_ssl.msgs.images import resize_rgb

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


def write_bag(path: Path, seconds: float) -> Path:
    """A 320x240 JPEG camera at 15 Hz, odometry at 50 Hz, five Range topics at 20 Hz."""
    profile = load_profile("sim")
    run = synthetic_run(seconds, seed=1)
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 3)  # something JPEG-like, not pure noise
    t0 = 1_700_000_000 * NS
    with BagWriter(path) as w:
        for t, (x, y, yaw) in zip(run["odom_ns"], run["odom"], strict=True):
            w.write("/odom", t0 + t, M.odometry_msg(t0 + t, "odom", "base_link", x, y, yaw))
        for s, (ts, vs) in zip(profile.proximity.sensors, zip(run["range_ns"], run["ranges"], strict=True),
                                  strict=True):
            for t, v in zip(ts, vs, strict=True):
                w.write(s.topic, t0 + t, M.range_msg(t0 + t, "proximity_" + s.name, v, 0.12))
        for k in range(int(seconds * 15)):
            t = t0 + k * NS // 15
            w.write(profile.camera.topic, t, M.compressed_msg(t, "camera_link", np.roll(base, k, axis=1)))
    return path


def bench_end_to_end(bag_seconds: float, naive_frames: int) -> None:
    profile = load_profile("sim")
    params = MatchParams.from_profile(profile)
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_bag(Path(tmp) / "bench", bag_seconds)
        t0 = time.process_time()
        _, meta = label_bag(bag, profile)
        t1 = time.process_time()
        streams = read_streams(bag, profile)
        t2 = time.process_time()
        traj, _, _, _ = label_streams(streams, profile)
        t3 = time.process_time()
        for _, _, rgb, _ in iter_frames(bag, streams.camera_topic):
            resize_rgb(rgb, profile.image.width, profile.image.height)
        t4 = time.process_time()
        sub = streams.camera_ns[:naive_frames]
        associate_naive(sub, traj, streams.range_ns, streams.ranges, params)
        t5 = time.process_time()
    n = meta["frames"]
    naive_total = (t2 - t1) + (t4 - t3) + (t5 - t4) * n / len(sub)
    print(f"end to end from a bag: {bag_seconds:g} s, {n} frames 320x240 JPEG -> {profile.image.width}x"
          f"{profile.image.height}")
    print(f"  label_bag (vectorised): {t1 - t0:6.2f} s  {n / (t1 - t0):7.0f} frames/s   phases: read streams "
          f"{t2 - t1:.2f} s, associate {t3 - t2:.2f} s, decode + resize {t4 - t3:.2f} s")
    print(f"  with the naive loop:    {naive_total:6.2f} s  {n / naive_total:7.0f} frames/s   "
          f"(naive association {(t5 - t4) / len(sub) * 1e3:.1f} ms/frame on {len(sub)} frames, extrapolated)")
    print(f"  speed-up {naive_total / (t1 - t0):.1f}x; decoding is {100 * (t4 - t3) / (t1 - t0):.0f}% of "
          f"label_bag, association {100 * (t3 - t2) / (t1 - t0):.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="synthetic recording for association alone")
    parser.add_argument("--bag-seconds", type=float, default=60.0, help="synthetic bag for end to end")
    parser.add_argument("--naive-frames", type=int, default=200, help="frames the naive loop labels")
    args = parser.parse_args()
    bench_association(args.minutes, args.naive_frames, MatchParams.from_profile(load_profile("sim")))
    print()
    bench_end_to_end(args.bag_seconds, args.naive_frames)


if __name__ == "__main__":
    main()
