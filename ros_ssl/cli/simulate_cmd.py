"""``ros-ssl simulate``: record a rosbag2 MCAP bag of a simulated robot exploring a random world.

Example::

    ros-ssl simulate --out runs/sim1.bag --duration 60 --seed 1
    ros-ssl inspect runs/sim1.bag

The bag holds what a real robot records (camera, proximity, odometry, /tf) plus the simulator's
ground-truth pose (/sim/ground_truth) and the world (/sim/world), which score labels later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt, check_writable
from ros_ssl.config import load_profile


@app.command("simulate")
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Bag directory to create (must not exist).")],
    duration: Annotated[float, typer.Option("--duration", "-d", min=0.1,
                                            help="Simulated time to record, in seconds.")] = 60.0,
    seed: Annotated[int, typer.Option("--seed", "-s", help="World seed: the same seed gives the same world, "
                                                           "noise and bag.")] = 0,
    config: ConfigOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-j", min=0,
                                         help="Processes that render camera frames (0 = up to 2, one per "
                                              "CPU; 1 = render in this process).")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    sensors: Annotated[int | None, typer.Option(
        "--sensors", min=1, max=64,
        help="Another layout: this many proximity sensors over the front arc.")] = None,
    max_range: Annotated[float | None, typer.Option(
        "--max-range", min=0.01, max=10.0,
        help="Proximity max range (m); the obstacle threshold follows.")] = None,
    scan: Annotated[bool | None, typer.Option(
        "--scan/--range",
        help="Proximity as one LaserScan (beams from one mount) or as Range topics.")] = None,
    camera_hz: Annotated[float | None, typer.Option("--camera-hz", min=0.1, help="Camera rate (Hz).")] = None,
    proximity_hz: Annotated[float | None, typer.Option(
        "--proximity-hz", min=0.1, help="Proximity rate (Hz).")] = None,
    odometry_hz: Annotated[float | None, typer.Option(
        "--odometry-hz", min=0.1, help="Odometry rate (Hz).")] = None,
) -> None:
    """Drive a Thymio-like robot through random world SEED for DURATION seconds and write the bag OUT."""
    from ros_ssl.sim.layouts import layout_profile
    from ros_ssl.sim.record import simulate as run

    profile = layout_profile(load_profile(config), sensors=sensors, max_range=max_range, scan=scan,
                             camera_hz=camera_hz, proximity_hz=proximity_hz, odometry_hz=odometry_hz)
    check_writable(out)
    jobs = workers or min(2, os.cpu_count() or 1)
    stats = run(out, duration, seed, profile, progress=progress, workers=jobs)
    frames = stats.counts.get(profile.camera.topic, 0)
    typer.echo(f"{stats.path}: {stats.duration_s:g} s simulated in {stats.wall_s:.1f} s "
               f"({stats.speedup:.1f}x real time), {frames} frames, {sum(stats.counts.values())} messages, "
               f"{stats.distance_m:.1f} m driven")
