"""Small bags for tests, written with our own writer (no binary fixtures in the repo)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.config import RobotProfile

T0 = 1_700_000_000_000_000_000


def write_robot_bag(path: Path, profile: RobotProfile, seconds: float = 2.0, speed: float = 0.1,
                    wall_x: float | None = 0.3, raw_camera: bool = False, tf_odometry: bool = False) -> Path:
    """A robot driving straight along +x towards a wall at ``wall_x``; every profile topic present."""
    cam = profile.camera.topic.removesuffix("/compressed") if raw_camera else profile.camera.topic
    with BagWriter(path) as w:
        for k in range(int(seconds * 50)):
            t = T0 + k * 20_000_000
            x = speed * k * 0.02
            if tf_odometry:
                w.write("/tf", t, M.tf_msg(t, [(profile.odometry.odom_frame, profile.odometry.base_frame, x, 0.0, 0.0)]))
            else:
                w.write(profile.odometry.topic, t, M.odometry_msg(t, "odom", "base_link", x, 0.0, 0.0, v=speed))
            if k % 5 == 0:
                rgb = np.full((24, 32, 3), (k * 3) % 256, np.uint8)
                msg = M.image_msg(t, "camera_link", rgb) if raw_camera else M.compressed_msg(t, "camera_link", rgb)
                w.write(cam, t, msg)
            if k % 2 == 0:
                readings = []
                for s in profile.proximity.sensors:
                    gap = (wall_x - x - s.x) if wall_x is not None else math.inf
                    readings.append(gap if gap < profile.proximity.max_range else math.inf)
                if profile.proximity.source == "laser_scan":
                    beams = [math.inf] * (max(s.beam for s in profile.proximity.sensors) + 1)
                    for s, r in zip(profile.proximity.sensors, readings):
                        beams[s.beam] = r
                    w.write(profile.proximity.scan_topic, t,
                            M.scan_msg(t, "prox", beams, -0.7, 0.35, profile.proximity.max_range))
                else:
                    for s, r in zip(profile.proximity.sensors, readings):
                        w.write(s.topic, t, M.range_msg(t, "proximity_" + s.name, r, profile.proximity.max_range))
    return path
