"""How fast ``ros-ssl simulate`` records, and where the time goes; plus ground-truth labelling speed.

Run::

    .venv/bin/python benchmarks/bench_simulate.py --duration 60 --workers 1 2

For each render-worker count: simulated seconds per wall second (real time = 1.0, the baseline a
live robot runs at), wall seconds for the run, and the time spent driving (kinematics, policy,
messages), ray casting, rendering, JPEG encoding and writing (render and encode are summed over the
worker processes). Then ``true_sensor_labels`` / ``true_grid_labels`` throughput on the run's poses.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from ros_ssl.bag.streams import read_streams
from ros_ssl.config import load_profile
from ros_ssl.sim.record import simulate
from ros_ssl.sim.truth import true_grid_labels, true_sensor_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="simulated seconds per run")
    parser.add_argument("--seed", type=int, default=1, help="world seed")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="render worker counts to compare")
    args = parser.parse_args()
    profile = load_profile("sim")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for workers in args.workers:
            cpu0 = _cpu_s()
            stats = simulate(Path(tmp) / f"w{workers}", args.duration, args.seed, profile, progress=False,
                             workers=workers)
            rows.append((workers, stats, _cpu_s() - cpu0))
        frames = rows[0][1].counts[profile.camera.topic]
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall figures vary with load; "
              f"CPU seconds do not)")
        print(f"simulate {args.duration:g} s, seed {args.seed}, {frames} frames "
              f"({profile.camera.width}x{profile.camera.height} @ {profile.camera.rate_hz:g} Hz)")
        print(f"{'workers':>7} {'wall s':>7} {'CPU s':>6} {'sim s/wall s':>12} {'x 1 worker':>10} | "
              f"{'drive':>6} {'raycast':>7} {'render':>7} {'encode':>7} {'write':>6}  (seconds)")
        base = rows[0][1].wall_s
        for workers, st, cpu in rows:
            t = st.timings
            print(f"{workers:>7} {st.wall_s:>7.1f} {cpu:>6.1f} {st.speedup:>12.2f} "
                  f"{base / st.wall_s:>10.2f} | "
                  f"{t['drive']:>6.2f} {t['raycast']:>7.2f} {t['render']:>7.2f} {t['encode']:>7.2f} "
                  f"{t['write']:>6.2f}")
        render_ms = 1000 * rows[0][1].timings["render"] / frames
        print(f"render {render_ms:.1f} ms/frame ({1000 / render_ms:.0f} fps) in-process; "
              f"{args.duration / rows[0][2]:.2f} simulated s per CPU s")
        streams = read_streams(rows[0][1].path, profile)
    poses = np.repeat(streams.truth, 20, axis=0)  # ~1 h at 15 Hz worth of poses for 60 s at 50 Hz
    poses[:, :2] += np.random.default_rng(0).normal(0, 1e-3, (len(poses), 2))
    t0 = time.perf_counter()
    labels = true_sensor_labels(streams.world, poses, profile, profile.labels.distances())
    dt = time.perf_counter() - t0
    print(f"true_sensor_labels: {len(poses)} poses x {labels.shape[1]} sensors x {labels.shape[2]} distances "
          f"in {dt:.2f} s ({len(poses) / dt:,.0f} frames/s)")
    lab = profile.labels
    gx = np.arange(lab.grid_x_min + lab.grid_cell / 2, lab.grid_x_max, lab.grid_cell)
    gy = np.arange(lab.grid_y_min + lab.grid_cell / 2, lab.grid_y_max, lab.grid_cell)
    t0 = time.perf_counter()
    grid = true_grid_labels(streams.world, poses, gx, gy)
    dt = time.perf_counter() - t0
    print(f"true_grid_labels: {len(poses)} poses x {grid.shape[1]}x{grid.shape[2]} cells in {dt:.2f} s "
          f"({len(poses) / dt:,.0f} frames/s)")


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (render workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
