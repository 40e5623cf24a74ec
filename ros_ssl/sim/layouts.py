"""Robots unlike the default: a profile with another sensor count, range, source and stream rates.

The simulator drives whatever the profile describes (sensor poses, max range, rates, Range topics or
one LaserScan), so a new layout is only a new profile. ``layout_profile`` makes one from a base
profile: ``n`` sensors spread evenly over the front arc (Range sensors on the body's edge, or beams of
one scanner at the front), their max range and obstacle threshold, and the rates of each stream.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ros_ssl.config.profile import RobotProfile, SensorConfig

BODY_RADIUS = 0.082  # distance of the front sensors from base_link (the Thymio's front edge)
SCAN_X = 0.07  # a scanner's mount, ahead of base_link
THRESHOLD_FRACTION = 0.83  # obstacle threshold as a fraction of max range (0.10 of 0.12 on the Thymio)


def layout_profile(base: RobotProfile, sensors: int | None = None, max_range: float | None = None,
                   scan: bool | None = None, spread: float = 1.32, camera_hz: float | None = None,
                   proximity_hz: float | None = None, odometry_hz: float | None = None) -> RobotProfile:
    """``base`` with ``sensors`` front sensors over ``spread`` radians, a new range and new rates.

    Unset arguments keep the base's value; the result is validated.
    """
    prox = base.proximity
    scan = prox.source == "laser_scan" if scan is None else scan
    n = len(prox.sensors) if sensors is None else sensors
    max_range = prox.max_range if max_range is None else max_range
    threshold = (prox.obstacle_threshold if max_range == prox.max_range
                 else round(THRESHOLD_FRACTION * max_range, 4))
    if sensors is not None or scan != (prox.source == "laser_scan"):
        prox = dataclasses.replace(prox, source="laser_scan" if scan else "range",
                                   sensors=_front_sensors(n, spread, scan))
    prox = dataclasses.replace(prox, max_range=max_range, obstacle_threshold=threshold,
                               rate_hz=proximity_hz or prox.rate_hz)
    camera = dataclasses.replace(base.camera, rate_hz=camera_hz or base.camera.rate_hz)
    odometry = dataclasses.replace(base.odometry, rate_hz=odometry_hz or base.odometry.rate_hz)
    return dataclasses.replace(base, proximity=prox, camera=camera, odometry=odometry).validate()


def _front_sensors(n: int, spread: float, scan: bool) -> tuple[SensorConfig, ...]:
    """``n`` sensors left to right; a scan's beams share one mount, index 0 the rightmost."""
    yaws = np.linspace(spread / 2, -spread / 2, n) if n > 1 else np.zeros(1)
    out = []
    for i, yaw in enumerate(yaws):
        name = f"s{i}"
        if scan:
            out.append(SensorConfig(name=name, x=SCAN_X, y=0.0, yaw=round(float(yaw), 4), beam=n - 1 - i))
        else:
            out.append(SensorConfig(name=name, x=round(BODY_RADIUS * float(np.cos(yaw)), 4),
                                    y=round(BODY_RADIUS * float(np.sin(yaw)), 4), yaw=round(float(yaw), 4),
                                    topic=f"/proximity/{name}"))
    return tuple(out)
