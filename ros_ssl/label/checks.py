"""Checks that catch a wrong profile from the data: sensor poses, the camera clock, odometry drift.

* Pose sanity: a sensor that (almost) never reads an obstacle the others see is on the wrong topic or
  beam; a reading that puts an obstacle where the robot later drives through it is impossible for the
  pose the profile gives that sensor (wrong x/y/yaw, or a sensor mounted elsewhere).
* Camera-odometry time offset: image change between consecutive frames (mean absolute difference of
  small grey images) follows the robot's motion; the lag that best correlates the two is the offset
  of the camera stamps against odometry (positive: frames are stamped late).
* Odometry drift: forward-facing sensors closing on an obstacle while driving straight must shrink by
  exactly the distance odometry says was driven, so their ratio measures odometry's scale error; on
  simulator bags the drift against ground truth is measured directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ros_ssl.bag.streams import Streams, iter_frames
from ros_ssl.config.profile import RobotProfile
from ros_ssl.label.trajectory import NS, Trajectory, clean_trajectory

SILENT_SHARE = 0.1  # a sensor with fewer obstacle readings than this share of the others' median is silent
DRIVEN_THROUGH_LIMIT = 0.05  # share of a sensor's obstacle readings the robot may "drive through" (noise)
LOOKAHEAD_S = 5.0  # how long after a reading the robot's path is checked against the obstacle it saw
MAX_POSE_READINGS = 2000  # obstacle readings per sensor checked against the path (evenly subsampled)
OFFSET_RANGE_S = 1.0  # camera-odometry offsets searched, +-
OFFSET_STEP_S = 0.01
MAX_OFFSET_FRAMES = 2000
MIN_APPROACHES = 30  # straight-approach samples needed before a scale error is called a warning
FORWARD_YAW = 0.35  # rad: sensors looking this close to straight ahead measure odometry's scale


@dataclass
class CheckReport:
    """One line per finding; ``warnings`` are the ones that mean the profile (or the robot) needs a look."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    time_offset_s: float | None = None
    odometry_scale: float | None = None

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.lines.append(f"WARNING: {text}")

    def format(self) -> str:
        return "\n".join(self.lines)


def run_checks(streams: Streams, profile: RobotProfile, camera: bool = True) -> CheckReport:
    """Every check on one bag's streams (``camera=False`` skips the image-based time offset)."""
    report = CheckReport()
    lab = profile.labels
    traj = clean_trajectory(streams.odom_ns, streams.odom, lab.max_speed, lab.max_odom_gap_s)
    check_sensor_poses(streams, profile, traj, report)
    if camera and len(streams.camera_ns) > 10:
        camera_time_offset(streams, traj, report)
    check_odometry(streams, profile, traj, report)
    return report


def check_sensor_poses(streams: Streams, profile: RobotProfile, traj: Trajectory,
                       report: CheckReport) -> None:
    prox = profile.proximity
    hits = [int(np.count_nonzero((r < prox.obstacle_threshold) & ~np.isnan(r))) for r in streams.ranges]
    for s, n in zip(prox.sensors, hits, strict=True):
        others = [h for t, h in zip(prox.sensors, hits, strict=True) if t is not s]
        typical = float(np.median(others)) if others else 0.0
        if typical >= 10 and n < SILENT_SHARE * typical:
            report.warn(f"sensor {s.name} reads an obstacle {n} times while the others do "
                        f"{typical:.0f} times (median): wrong topic/beam, or a sensor that faces away")
    body = 0.5 * min(math.hypot(s.x, s.y) for s in prox.sensors)
    for s, t_ns, r in zip(prox.sensors, streams.range_ns, streams.ranges, strict=True):
        seen = np.flatnonzero(np.isfinite(r) & (r < prox.obstacle_threshold))
        seen = seen[:: max(1, len(seen) // MAX_POSE_READINGS)]
        if not len(seen) or body <= 0:
            continue
        q = traj.poses_at(t_ns[seen])
        ok = np.flatnonzero(q.ok)
        through = 0
        for k in ok:
            x, y, yaw = q.pose[k]
            a = yaw + s.yaw
            ox = x + math.cos(yaw) * s.x - math.sin(yaw) * s.y + r[seen[k]] * math.cos(a)
            oy = y + math.sin(yaw) * s.x + math.cos(yaw) * s.y + r[seen[k]] * math.sin(a)
            lo, hi = np.searchsorted(traj.t_ns, [t_ns[seen[k]], t_ns[seen[k]] + LOOKAHEAD_S * NS])
            seg = traj.segment[lo:hi] == q.segment[k]
            path = traj.pose[lo:hi][seg]
            if len(path) and np.hypot(path[:, 0] - ox, path[:, 1] - oy).min() < body:
                through += 1
        share = through / max(len(ok), 1)
        line = (f"sensor {s.name}: the robot later drove through {through} of {len(ok)} obstacles it read "
                f"({100 * share:.1f} %)")
        if share > DRIVEN_THROUGH_LIMIT:
            report.warn(line + ": its pose (x, y, yaw) in the profile is likely wrong")
        else:
            report.lines.append(line + ": consistent with its pose")


def camera_time_offset(streams: Streams, traj: Trajectory, report: CheckReport) -> None:
    """Lag between image change and odometry motion that correlates best (see the module doc)."""
    import cv2

    energy: list[float] = []
    stamps: list[int] = []
    prev: np.ndarray | None = None
    prev_ns = 0
    step = max(1, len(streams.camera_ns) // MAX_OFFSET_FRAMES)
    for _, t_ns, rgb, _ in iter_frames(streams.path, streams.camera_topic, (40, 30), every=step):
        if rgb is None:
            continue
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if prev is not None:
            energy.append(float(np.abs(grey - prev).mean()))
            stamps.append((t_ns + prev_ns) // 2)  # the change happened between the two frames
        prev, prev_ns = grey, t_ns
    if len(energy) < 10 or len(traj) < 3:
        report.lines.append("camera-odometry offset: too few frames or poses to estimate")
        return
    t = np.asarray(stamps, np.int64)
    e = np.asarray(energy)
    # Motion per odometry step: translation and rotation, each scaled to unit spread.
    dt = np.diff(traj.t_ns) / NS
    v = np.hypot(*np.diff(traj.pose[:, :2], axis=0).T) / dt
    w = np.abs(np.diff(traj.pose[:, 2])) / dt
    motion = v / (v.std() or 1.0) + w / (w.std() or 1.0)
    mid = (traj.t_ns[:-1] + traj.t_ns[1:]) // 2
    lags = np.arange(-OFFSET_RANGE_S, OFFSET_RANGE_S + OFFSET_STEP_S / 2, OFFSET_STEP_S)
    corr = np.full(len(lags), np.nan)
    for i, lag in enumerate(lags):
        at = t - round(lag * NS)
        inside = (at >= mid[0]) & (at <= mid[-1])
        if inside.sum() < 10:
            continue
        m = np.interp(at[inside], mid, motion)
        if m.std() > 0 and e[inside].std() > 0:
            corr[i] = float(np.corrcoef(m, e[inside])[0, 1])
    if np.all(np.isnan(corr)):
        report.lines.append("camera-odometry offset: no motion to correlate with")
        return
    best = int(np.nanargmax(corr))
    report.time_offset_s = float(lags[best])
    line = (f"camera-odometry offset: {1000 * lags[best]:+.0f} ms (image change correlates best with "
            f"odometry motion at this lag, r = {corr[best]:.2f}; positive = frames stamped late)")
    frame_dt = float(np.median(np.diff(t))) / NS
    if abs(lags[best]) > max(2 * frame_dt, 0.1) and corr[best] > 0.3:
        report.warn(line + ": labels pair frames with the wrong poses; fix the camera's clock or stamps")
    else:
        report.lines.append(line)


def check_odometry(streams: Streams, profile: RobotProfile, traj: Trajectory, report: CheckReport) -> None:
    c = traj.counts
    report.lines.append(f"odometry: {c.get('odom_messages', 0)} poses, {c.get('odom_gaps', 0)} gaps, "
                        f"{c.get('odom_resets', 0)} resets, {c.get('odom_segments', 0)} segments")
    ratios: list[float] = []
    thr = profile.proximity.obstacle_threshold
    for s, t_ns, r in zip(profile.proximity.sensors, streams.range_ns, streams.ranges, strict=True):
        if abs(s.yaw) > FORWARD_YAW:
            continue
        seen = np.flatnonzero(np.isfinite(r) & (r > 0) & (r < thr))
        if len(seen) < 2:
            continue
        q = traj.poses_at(t_ns[seen])
        a, b = seen[:-1], seen[1:]
        qa, qb = np.arange(len(seen) - 1), np.arange(1, len(seen))
        ok = (q.ok[qa] & q.ok[qb] & (q.segment[qa] == q.segment[qb]) & (t_ns[b] - t_ns[a] < NS // 2))
        c = np.cos(q.pose[qa, 2])
        sn = np.sin(q.pose[qa, 2])
        d = q.pose[qb, :2] - q.pose[qa, :2]
        ahead = c * d[:, 0] + sn * d[:, 1]
        turn = np.abs(q.pose[qb, 2] - q.pose[qa, 2])
        use = ok & (ahead > 0.005) & (turn < 0.01)
        ratios += list((r[a][use] - r[b][use]) / (ahead[use] * math.cos(s.yaw)))
    if len(ratios) >= 10:
        scale = float(np.median(ratios))
        report.odometry_scale = scale
        line = (f"odometry scale: obstacles ahead came {scale:.3f} m closer per metre odometry drove "
                f"(median of {len(ratios)} straight approaches; 1.000 = exact)")
        if abs(scale - 1) > 0.1 and len(ratios) >= MIN_APPROACHES:
            report.warn(line + ": odometry (or the range scale) is off by more than 10 %")
        else:
            report.lines.append(line)
    else:
        report.lines.append("odometry scale: too few straight approaches seen by a forward sensor")
    if len(streams.truth_ns) > 1 and len(traj) > 1:
        truth = clean_trajectory(streams.truth_ns, streams.truth, profile.labels.max_speed, 1e9)
        report.lines.append(f"odometry drift against simulator truth: {100 * _drift(traj, truth):.1f} cm per "
                            "metre driven (over 1 m stretches)")


def _drift(odom: Trajectory, truth: Trajectory) -> float:
    """Median position error accumulated over 1 m of true travel, odometry aligned at each start."""
    t = odom.t_ns
    tq = truth.poses_at(t)
    ok = tq.ok
    t, o, g = t[ok], odom.pose[ok], tq.pose[ok]
    travel = np.r_[0, np.cumsum(np.hypot(*np.diff(g[:, :2], axis=0).T))]
    errors = []
    for i in range(0, len(t), max(1, len(t) // 200)):
        j = int(np.searchsorted(travel, travel[i] + 1.0))
        if j >= len(t):
            break
        rot = g[i, 2] - o[i, 2]
        c, s = math.cos(rot), math.sin(rot)
        d = o[j, :2] - o[i, :2]
        pred = g[i, :2] + np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])
        errors.append(float(np.hypot(*(pred - g[j, :2]))))
    return float(np.median(errors)) if errors else math.nan

