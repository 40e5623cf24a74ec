"""Why a recording's frames and cells go unlabelled, and which profile field to change when one limit
costs it most of its labels.

Every warning rests on a count computed exactly: frames dropped per reason (``Trajectory.poses_at``
gives each one), or cells that labelling again with one limit relaxed would label and the profile's
limit leaves unknown. Nothing is estimated, so a warning never blames the wrong field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from ros_ssl.config.geometry import GeometryKind
from ros_ssl.config.profile import LabelConfig
from ros_ssl.label.trajectory import Reason, Trajectory

# A limit that costs a recording more than this share of its frames (or cells) is warned about.
MOST = 0.5
# How much each limit is relaxed to measure what it costs (window x10, tolerances x2).
WINDOW_FACTOR = 10.0
TOLERANCE_FACTOR = 2.0


def frame_warnings(bag: str, skipped: Mapping[str, int], undecodable: Mapping[str, int], frames: int,
                   traj: Trajectory, lab: LabelConfig) -> list[str]:
    """Warnings for each reason that drops more than ``MOST`` of the ``frames`` (duplicates excluded)."""
    if not frames:
        return []

    def share(count: int) -> str | None:
        return f"{100 * count / frames:.0f}%" if count > MOST * frames else None

    out: list[str] = []
    if pct := share(skipped.get("odom_gap", 0)):
        out.append(f"bag {bag}: {pct} of frames fall in odometry gaps longer than "
                   f"labels.max_odom_gap_s={lab.max_odom_gap_s:g} s (median odometry interval "
                   f"{traj.median_interval_s():.3g} s); raise labels.max_odom_gap_s")
    if pct := share(skipped.get("odom_reset", 0)):
        speeds = traj.step_speeds(Reason.ODOM_RESET)
        out.append(f"bag {bag}: {pct} of frames fall in odometry steps faster than "
                   f"labels.max_speed={lab.max_speed:g} m/s (median such step {np.median(speeds):.3g} m/s); "
                   f"raise labels.max_speed if the robot moves that fast")
    if pct := share(skipped.get("before_first_pose", 0) + skipped.get("after_last_pose", 0)):
        out.append(f"bag {bag}: {pct} of frames are stamped outside the odometry's time span; "
                   f"check that the camera and the odometry stamp with the same clock")
    if pct := share(skipped.get("undecodable", 0)):
        reasons = ", ".join(f"{k} {v}" for k, v in undecodable.items() if v)
        out.append(f"bag {bag}: {pct} of frames cannot be decoded ({reasons})")
    return out


def cell_warnings(bag: str, known: int, lab: LabelConfig, relabel: Callable[[LabelConfig], int]) -> list[str]:
    """Warnings for each label limit whose relaxed value labels more than twice the ``known`` cells.

    ``relabel`` labels the recording again with other label settings and returns its known cells
    (among the same kept frames), so each count is exact. Costs one extra association per limit, so
    callers ask only about recordings whose cells are mostly unknown.
    """
    trials = [("window_s", "s", replace(lab, window_s=lab.window_s * WINDOW_FACTOR))]
    if lab.geometry is GeometryKind.SENSOR_DISTANCE:
        trials += [("tol_x", "m", replace(lab, tol_x=lab.tol_x * TOLERANCE_FACTOR)),
                   ("tol_y", "m", replace(lab, tol_y=lab.tol_y * TOLERANCE_FACTOR)),
                   ("tol_theta", "rad", replace(lab, tol_theta=lab.tol_theta * TOLERANCE_FACTOR))]
    out: list[str] = []
    for name, unit, relaxed_lab in trials:
        now, looser = float(getattr(lab, name)), float(getattr(relaxed_lab, name))
        relaxed = relabel(relaxed_lab)
        if relaxed - known > MOST * relaxed:
            out.append(f"bag {bag}: labels.{name}={now:g} {unit} leaves most cells unknown: {known} known, "
                       f"{relaxed} with labels.{name}={looser:g} {unit}; raise labels.{name}")
    return out
