"""Drive a simulated robot through a random world and record a rosbag2 MCAP bag like a real robot's.

Topics (names and frames from the robot profile): camera (CompressedImage or Image), proximity (one
Range per sensor, or one LaserScan), odometry (nav_msgs/Odometry) and /tf (odom -> base_link),
/tf_static (sensor and camera mounts), plus the simulator's ground truth (/sim/ground_truth, frame
"world") and the world description (/sim/world, JSON, once at the start). Every stream ticks at its
own rate on a shared clock that starts at a fixed epoch, so stamps look like a real recording's.

The robot drives ahead one chunk of simulated time at a time; its camera frames render in worker
processes while it drives the next chunk (see ``render_pool``).
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ros_ssl.bag import messages as m
from ros_ssl.bag.streams import TRUTH_TOPIC, WORLD_TOPIC
from ros_ssl.bag.writer import BagWriter
from ros_ssl.config.profile import RobotProfile
from ros_ssl.errors import RosSslError
from ros_ssl.sim.policy import WanderPolicy
from ros_ssl.sim.render_pool import FrameRenderer, Rendered
from ros_ssl.sim.robot import DriveParams, SimRobot
from ros_ssl.sim.world import generate_world

EPOCH_NS = 1_700_000_000 * 1_000_000_000  # sim time zero, as a plausible wall-clock stamp
CHUNK_S = 1.0  # simulated seconds driven ahead of the renderer
WORLD_FRAME = "world"
SENSOR_FOV = 0.3  # Range.field_of_view of the IR sensors (rad)

Record = tuple[str, int, Any]  # topic, stamp ns, message
# A driven chunk waiting for its frames: messages, (stamp, pose) per frame, the frames, chunk end ns.
_Chunk = tuple[list[Record], list[tuple[int, Any]], Iterator[Rendered], int]


@dataclass(frozen=True)
class SimStats:
    """What a simulation produced and where its time went (seconds of wall clock / CPU)."""

    path: Path
    seed: int
    duration_s: float
    wall_s: float
    counts: dict[str, int]
    distance_m: float  # true path length
    bumps: int  # steps refused because the footprint would have touched a surface
    timings: dict[str, float] = field(default_factory=dict)  # drive, raycast, render, encode, write

    @property
    def speedup(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.duration_s / self.wall_s if self.wall_s > 0 else math.inf


def simulate(out: str | Path, duration_s: float, seed: int, profile: RobotProfile, progress: bool = True,
             workers: int = 1) -> SimStats:
    """Simulate ``duration_s`` seconds in world ``seed`` and write the bag ``out`` (must not exist)."""
    if not duration_s > 0:
        raise RosSslError(f"simulation duration must be > 0 seconds, got {duration_s!r}")
    t_start = time.perf_counter()
    world = generate_world(seed)
    timings = dict.fromkeys(("drive", "raycast", "render", "encode", "write"), 0.0)
    clock = _Clock(profile, duration_s)
    policy = WanderPolicy(profile.proximity.obstacle_threshold, seed)
    distance, bumps = 0.0, 0
    writer = BagWriter(out)  # refuses an existing bag before any work starts
    # The renderer first, so its forked workers start without the robot's pybullet client.
    with FrameRenderer(world, profile.camera, workers) as renderer, SimRobot(world, profile, seed) as robot, \
            writer as bag, tqdm(total=round(duration_s, 3), unit="sim s", disable=not progress,
                                desc=f"simulate seed {seed}") as bar:
        out_msgs = _Messages(profile, bag, timings)
        out_msgs.start(world)
        pending: deque[_Chunk] = deque()
        for chunk_end_ns, chunk in clock.chunks():
            t0 = time.perf_counter()
            msgs: list[Record] = []
            frames: list[tuple[int, Any]] = []  # camera stamp, true pose
            for t_ns, kinds in chunk:
                prev = robot.true_pose
                robot.step((t_ns - EPOCH_NS) / 1e9 - robot.time_s)
                distance += math.hypot(robot.true_pose[0] - prev[0], robot.true_pose[1] - prev[1])
                bumps += robot.bumped
                if "odom" in kinds:
                    msgs += out_msgs.odometry(t_ns, robot)
                if "proximity" in kinds:
                    t_ray = time.perf_counter()
                    readings = robot.read_proximity()
                    timings["raycast"] += time.perf_counter() - t_ray
                    msgs += out_msgs.proximity(t_ns, readings)
                    robot.step(0.0, policy.command(robot.time_s, readings, robot.odometry, robot.bumped))
                if "camera" in kinds:
                    frames.append((t_ns, robot.true_pose))
            timings["drive"] += time.perf_counter() - t0
            pending.append((msgs, frames, renderer.submit([pose for _, pose in frames]), chunk_end_ns))
            if len(pending) > 1:  # keep one chunk rendering while the next one drives
                _flush(pending.popleft(), out_msgs, bar, timings)
        while pending:
            _flush(pending.popleft(), out_msgs, bar, timings)
        counts = dict(bag.counts)
    timings["drive"] -= timings["raycast"]
    return SimStats(path=Path(out), seed=int(seed), duration_s=float(duration_s),
                    wall_s=time.perf_counter() - t_start, counts=counts, distance_m=distance, bumps=bumps,
                    timings=timings)


def _flush(item: _Chunk, out: _Messages, bar: tqdm[Any], timings: dict[str, float]) -> None:
    """Write one chunk: its messages and its rendered frames, merged in stamp order."""
    msgs, frames, rendered, end_ns = item
    cams = [out.camera(t_ns, data)
            for (t_ns, _), data in zip(frames, _collect(rendered, timings), strict=True)]
    t0 = time.perf_counter()
    for topic, t_ns, msg in heapq.merge(msgs, cams, key=lambda r: r[1]):
        out.bag.write(topic, t_ns, msg)
    timings["write"] += time.perf_counter() - t0
    bar.update(round((end_ns - EPOCH_NS) / 1e9 - bar.n, 3))


def _collect(rendered: Iterator[Rendered], timings: dict[str, float]) -> Iterator[Any]:
    for data, render_s, encode_s in rendered:
        timings["render"] += render_s
        timings["encode"] += encode_s
        yield data


class _Clock:
    """Tick times (integer ns) of every stream, merged, in chunks of CHUNK_S simulated seconds."""

    def __init__(self, profile: RobotProfile, duration_s: float) -> None:
        self.periods = {"odom": _period(profile.odometry.rate_hz),
                        "proximity": _period(profile.proximity.rate_hz),
                        "camera": _period(profile.camera.rate_hz)}
        self.end_ns = round(duration_s * 1e9)

    def chunks(self) -> Iterator[tuple[int, list[tuple[int, set[str]]]]]:
        """(chunk end, [(tick time, streams that tick)]) per chunk; absolute times in ns."""
        chunk_ns = int(CHUNK_S * 1e9)
        for lo in range(0, self.end_ns, chunk_ns):
            hi = min(lo + chunk_ns, self.end_ns)
            ticks: dict[int, set[str]] = {}
            for kind, period in self.periods.items():
                for t in range(-(-lo // period) * period, hi, period):
                    ticks.setdefault(t, set()).add(kind)
            yield EPOCH_NS + hi, [(EPOCH_NS + t, ticks[t]) for t in sorted(ticks)]


def _period(rate_hz: float) -> int:
    return max(1, round(1e9 / rate_hz))


class _Messages:
    """Builds the bag's messages from the profile's topics and frames."""

    def __init__(self, profile: RobotProfile, bag: BagWriter, timings: dict[str, float]) -> None:
        self.profile, self.bag, self.timings = profile, bag, timings
        prox = profile.proximity
        self.frames = [prox.frame_prefix + s.name for s in prox.sensors]
        self.scan_frame = profile.odometry.base_frame
        if prox.source == "laser_scan":
            beams = {s.beam: s.yaw for s in prox.sensors}
            self.n_beams = max(beams) + 1
            lo, hi = min(beams), max(beams)
            self.angle_inc = (beams[hi] - beams[lo]) / (hi - lo) if hi > lo else 0.0
            self.angle_min = beams[lo] - lo * self.angle_inc
            # A scanner whose beams share one origin publishes in its own frame, mounted there on the base.
            origins = {(s.x, s.y) for s in prox.sensors}
            if len(origins) == 1:
                self.scan_frame = prox.frame_prefix + "scan"

    def start(self, world: dict[str, Any]) -> None:
        """The world description and the static transforms, at time zero."""
        self.bag.write(WORLD_TOPIC, EPOCH_NS, m.string_msg(json.dumps(world, separators=(",", ":"))))
        self.bag.write("/tf_static", EPOCH_NS, self._static_tf())

    def odometry(self, t_ns: int, robot: SimRobot) -> list[Record]:
        odo = self.profile.odometry
        v, w = robot.velocity
        ox, oy, oyaw = robot.odometry
        tx, ty, tyaw = robot.true_pose
        return [
            (odo.topic, t_ns, m.odometry_msg(t_ns, odo.odom_frame, odo.base_frame, ox, oy, oyaw, v, w)),
            ("/tf", t_ns, m.tf_msg(t_ns, [(odo.odom_frame, odo.base_frame, ox, oy, oyaw)])),
            (TRUTH_TOPIC, t_ns, m.odometry_msg(t_ns, WORLD_FRAME, odo.base_frame, tx, ty, tyaw, v, w,
                                               pose_var=0.0)),
        ]

    def proximity(self, t_ns: int, readings: np.ndarray) -> list[Record]:
        prox = self.profile.proximity
        if prox.source == "laser_scan":
            values = np.full(self.n_beams, np.nan)
            for s, r in zip(prox.sensors, readings, strict=True):
                values[s.beam] = r
            msg = m.scan_msg(t_ns, self.scan_frame, values, self.angle_min, self.angle_inc, prox.max_range)
            return [(prox.scan_topic, t_ns, msg)]
        return [(s.topic, t_ns, m.range_msg(t_ns, f, float(r), prox.max_range, fov=SENSOR_FOV))
                for s, f, r in zip(prox.sensors, self.frames, readings, strict=True)]

    def camera(self, t_ns: int, data: np.ndarray) -> tuple[str, int, Any]:
        cam = self.profile.camera
        if cam.type == "raw":
            return cam.topic, t_ns, m.image_msg(t_ns, cam.frame_id, data, cam.encoding)
        msg = m.CompressedImage(header=m.header(t_ns, cam.frame_id), format=cam.encoding, data=data)
        return cam.topic, t_ns, msg

    def _static_tf(self) -> Any:
        """base_link -> camera (x, z, pitch) and -> each proximity sensor (x, y, yaw) at ray height."""
        base, cam = self.profile.odometry.base_frame, self.profile.camera
        z = DriveParams().sensor_z
        pitch = (0.0, math.sin(cam.pitch / 2), 0.0, math.cos(cam.pitch / 2))
        mounts = [(cam.frame_id, cam.x, 0.0, cam.z, pitch)]
        mounts += [(f, s.x, s.y, z, (0.0, 0.0, math.sin(s.yaw / 2), math.cos(s.yaw / 2)))
                   for f, s in zip(self.frames, self.profile.proximity.sensors, strict=True)]
        if self.scan_frame != base:
            first = self.profile.proximity.sensors[0]
            mounts.append((self.scan_frame, first.x, first.y, z, (0.0, 0.0, 0.0, 1.0)))
        return m.TFMessage(transforms=[
            m.TransformStamped(header=m.header(EPOCH_NS, base), child_frame_id=child,
                               transform=m.Transform(translation=m.Vector3(x=x, y=y, z=zz),
                                                     rotation=m.Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])))
            for child, x, y, zz, q in mounts])
