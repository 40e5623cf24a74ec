"""``profile suggest``: a robot profile chosen from the bags themselves, each value with the reason why.

Sources come from ``find_sources``; then the streams are measured (rates, odometry intervals, speed
while moving, the readings each proximity sensor actually gives) and the label limits are chosen to
fit them: tolerances so that a reading falls in every tolerance window at cruising speed, an odometry
gap limit above the robot's regular interval, a reset speed above its top speed, and the window and
distance range from the coverage the labeler itself reaches on these bags (``dry_run``). The profile
is written as commented YAML and read back through the schema, so it is valid by construction;
values no bag can tell (a sensor's pose without /tf_static or URDF, a missing camera) are marked
``FILL IN``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ros_ssl.bag.streams import Streams
from ros_ssl.config.profile import (
    CameraConfig,
    LabelConfig,
    OdometryConfig,
    ProximityConfig,
    RobotProfile,
    SensorConfig,
    load_profile,
)
from ros_ssl.errors import ConfigError
from ros_ssl.label.dryrun import dry_run_streams, load_streams, with_labels
from ros_ssl.label.sources import Sources, find_sources
from ros_ssl.label.trajectory import NS, clean_trajectory

FILL_IN = "FILL IN"
THRESHOLD_FRACTION = 0.83  # obstacle threshold / max range (0.10 of 0.12 on the Thymio)
THRESHOLD_CAP = 0.5  # m: a long-range sensor still labels "obstacle within this distance"
WINDOWS = (2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)  # candidate window_s
WINDOW_SHARE = 0.99  # smallest window that keeps this share of the longest window's labels
DISTANCE_COVERAGE = 0.10  # labels reach out to the farthest distance that at least 1 frame in 10 gets
MAX_FRAMES = 3000  # frames per bag used to choose the window and distances (evenly subsampled)


@dataclass
class Measures:
    """What the streams say about the robot (medians and percentiles over all bags)."""

    duration_s: float = 0.0
    camera_hz: float = 0.0
    proximity_hz: float = 0.0
    odometry_hz: float = 0.0
    odom_dt: tuple[float, float] = (0.0, 0.0)  # median, 95th percentile (s)
    speed: tuple[float, float, float] = (0.0, 0.0, 0.0)  # while moving: 10th, 50th, 99th percentile (m/s)
    moving_fraction: float = 0.0
    travel_per_reading: tuple[float, float] = (0.0, 0.0)  # while moving: median, 90th percentile (m)
    observed: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # sensor -> valid, finite, max


@dataclass
class Suggestion:
    """A profile (None when the bags lack a proximity source or odometry) and the reasons behind it."""

    sources: Sources
    measures: Measures
    profile: RobotProfile | None
    why: dict[str, str] = field(default_factory=dict)  # "section.key" -> one-line reason
    fill_in: dict[str, str] = field(default_factory=dict)  # "section.key" -> what the user must supply
    findings: list[str] = field(default_factory=list)


def suggest_profile(paths: Sequence[str | Path], sensors: Sequence[str] = (), urdf: str | Path | None = None,
                    name: str = "my_robot") -> Suggestion:
    """Find the sources, measure the streams and choose every profile value; see the module doc."""
    src = find_sources(paths, sensors, urdf)
    sug = Suggestion(src, Measures(), None)
    sug.findings += _describe_sources(src)
    if src.odometry is None or not src.sensors:
        missing = [w for w, ok in (("odometry (nav_msgs/Odometry or /tf odom -> base)", src.odometry),
                                   ("proximity source (sensor_msgs/Range or LaserScan)", src.sensors))
                   if not ok]
        sug.findings.append(f"cannot suggest a profile: the bag(s) have no {' and no '.join(missing)}")
        return sug
    draft = _draft(src, name, sug)
    loaded = [load_streams(p, draft) for p in paths]
    sug.measures = _measure(loaded, draft)
    sug.findings += _describe_measures(sug.measures)
    sug.profile = _choose(loaded, draft, sug)
    return sug


def _draft(src: Sources, name: str, sug: Suggestion) -> RobotProfile:
    """Topics, frames and poses from the sources; label limits loose enough to measure anything."""
    cam = src.camera
    camera = CameraConfig()
    if cam is None:
        sug.fill_in["camera.topic"] = "no camera in the bag(s): record one (raw or compressed), set its topic"
    else:
        camera = dataclasses.replace(camera, topic=cam.topic, type=cam.type, encoding=cam.encoding,
                                     frame_id=cam.frame_id or camera.frame_id,
                                     width=cam.width or camera.width, height=cam.height or camera.height)
        sug.why["camera.topic"] = f"the {'compressed' if cam.type == 'compressed' else 'raw'} image topic"
        if cam.fov_deg is not None:
            camera = dataclasses.replace(camera, fov_deg=round(cam.fov_deg, 1))
            sug.why["camera.fov_deg"] = "from the CameraInfo focal length"
        else:
            sug.fill_in["camera.fov_deg"] = "horizontal field of view (no CameraInfo recorded)"
        if cam.mount is not None:
            optical = "optical" in cam.frame_id
            axis = (0.0, 0.0, 1.0) if optical else (1.0, 0.0, 0.0)
            camera = dataclasses.replace(camera, x=round(cam.mount.xyz[0], 4), z=round(cam.mount.xyz[2], 4),
                                         pitch=round(cam.mount.pitch_down(axis), 4))
            sug.why["camera.x"] = f"mount of {cam.frame_id} from /tf_static or URDF"
        else:
            frame = cam.frame_id or "the camera"
            sug.fill_in["camera.x"] = f"camera pose (x, z, pitch) of {frame} on base_link"
    sensors = []
    for s in src.sensors:
        if s.yaw is None:
            sug.fill_in[f"sensor.{s.name}"] = (f"pose of {s.frame_id or s.name} on base_link unknown "
                                               "(no /tf_static, no --from-urdf)")
        yaw = s.yaw if s.yaw is not None else (s.beam_angle if s.beam >= 0 else 0.0)
        sensors.append(SensorConfig(name=s.name, x=s.x or 0.0, y=s.y or 0.0, yaw=round(yaw, 4),
                                    topic=s.topic if s.beam < 0 else "", beam=s.beam))
    declared = min(s.declared_max for s in src.sensors)
    prox = ProximityConfig(source=src.proximity, scan_topic=src.scan_topic or ProximityConfig().scan_topic,
                           max_range=round(declared, 4) if math.isfinite(declared) and declared > 0 else 1.0,
                           obstacle_threshold=1e-3, sensors=tuple(sensors))
    odo = src.odometry
    assert odo is not None  # checked by the caller
    odometry = OdometryConfig(source=odo.source, topic=odo.topic if odo.source == "odometry" else "/odom",
                              odom_frame=odo.odom_frame, base_frame=odo.base_frame)
    labels = LabelConfig(max_odom_gap_s=1e9, max_speed=1e9, window_s=max(WINDOWS))
    return RobotProfile(name=name, camera=camera, proximity=prox, odometry=odometry, labels=labels)


def _rate(t_ns: np.ndarray) -> float:
    t = np.unique(np.asarray(t_ns, np.int64))
    return float(NS / np.median(np.diff(t))) if len(t) > 2 else 0.0


def _measure(loaded: Sequence[tuple[Streams, bool]], draft: RobotProfile) -> Measures:
    meas = Measures()
    cam_hz, prox_hz, odom_hz, dts, speeds, travel = [], [], [], [], [], []
    n_s = len(draft.proximity.sensors)
    valid, finite, longest = np.zeros(n_s, int), np.zeros(n_s, int), np.zeros(n_s)
    for streams, synthetic in loaded:
        traj = clean_trajectory(streams.odom_ns, streams.odom, 1e9, 1e9)
        if len(traj) < 2:
            continue
        meas.duration_s += (traj.t_ns[-1] - traj.t_ns[0]) / NS
        if not synthetic:
            cam_hz.append(_rate(streams.camera_ns))
        prox_hz.append(float(np.median([_rate(t) for t in streams.range_ns])))
        odom_hz.append(_rate(traj.t_ns))
        dt = np.diff(traj.t_ns) / NS
        v = np.hypot(*np.diff(traj.pose[:, :2], axis=0).T) / dt
        dts.append(dt)
        speeds.append(v)
        # Travel between consecutive readings of each sensor (posed at the readings' own stamps).
        for t in streams.range_ns:
            q = traj.poses_at(np.unique(t))
            ok = q.ok[1:] & q.ok[:-1]
            travel.append(np.hypot(*np.diff(q.pose[:, :2], axis=0).T)[ok])
        for i, r in enumerate(streams.ranges):
            ok = ~np.isnan(r)
            fin = np.isfinite(r) & (r > 0)
            valid[i] += int(ok.sum())
            finite[i] += int(fin.sum())
            longest[i] = max(longest[i], float(r[fin].max()) if fin.any() else 0.0)
    if not dts:
        return meas
    dt_all, v_all = np.concatenate(dts), np.concatenate(speeds)
    meas.camera_hz = float(np.median(cam_hz)) if cam_hz else 0.0
    meas.proximity_hz, meas.odometry_hz = float(np.median(prox_hz)), float(np.median(odom_hz))
    meas.odom_dt = float(np.median(dt_all)), float(np.percentile(dt_all, 95))
    moving = v_all > max(0.005, 0.1 * float(np.percentile(v_all, 95)))
    meas.moving_fraction = float(np.sum(dt_all[moving]) / np.sum(dt_all))
    if moving.any():
        vm = v_all[moving]
        meas.speed = (float(np.percentile(vm, 10)), float(np.median(vm)), float(np.percentile(vm, 99)))
    tr = np.concatenate(travel) if travel else np.zeros(0)
    tr = tr[tr > 1e-4]
    if len(tr):
        meas.travel_per_reading = float(np.median(tr)), float(np.percentile(tr, 90))
    meas.observed = {s.name: (int(valid[i]), int(finite[i]), float(longest[i]))
                     for i, s in enumerate(draft.proximity.sensors)}
    return meas


def _up(value: float, step: float) -> float:
    return round(math.ceil(value / step - 1e-9) * step, 6)


def _choose(loaded: Sequence[tuple[Streams, bool]], draft: RobotProfile, sug: Suggestion) -> RobotProfile:
    """Every label limit and the proximity range, from the measures and the labeler's own coverage."""
    m, why = sug.measures, sug.why
    prox, cam, odo = draft.proximity, draft.camera, draft.odometry
    # Rates (informative; the simulator and the nodes use them).
    if m.camera_hz:
        cam = dataclasses.replace(cam, rate_hz=round(m.camera_hz, 2))
        why["camera.rate_hz"] = f"median interval between frames {1000 / m.camera_hz:.0f} ms"
    prox = dataclasses.replace(prox, rate_hz=round(m.proximity_hz, 2) or prox.rate_hz)
    why["proximity.rate_hz"] = f"median interval between readings {1000 / max(m.proximity_hz, 1e-9):.0f} ms"
    odo = dataclasses.replace(odo, rate_hz=round(m.odometry_hz, 2) or odo.rate_hz)
    why["odometry.rate_hz"] = f"median interval between poses {1000 * m.odom_dt[0]:.0f} ms"
    # Range and threshold from what the sensors declare and what they were seen to read.
    declared = prox.max_range
    seen = max((v[2] for v in m.observed.values()), default=0.0)
    max_range = declared if seen <= declared else _up(seen, 0.01)
    beyond = "" if seen <= declared else " (beyond the declared range)"
    why["proximity.max_range"] = f"messages declare {declared:g} m; longest reading {seen:.3f} m{beyond}"
    threshold = round(THRESHOLD_FRACTION * max_range, 3)
    reason = f"{100 * THRESHOLD_FRACTION:.0f} % of max_range {max_range:g} m"
    if threshold > THRESHOLD_CAP:
        threshold, reason = THRESHOLD_CAP, (f"capped at {THRESHOLD_CAP} m (max_range {max_range:g} m): a "
                                            "label means 'obstacle within 0.5 m'; raise it to label farther")
    prox = dataclasses.replace(prox, max_range=max_range, obstacle_threshold=threshold)
    why["proximity.obstacle_threshold"] = reason
    # Odometry limits.
    lab = LabelConfig()
    gap = max(lab.max_odom_gap_s, _up(3 * m.odom_dt[0], 0.1), _up(1.5 * m.odom_dt[1], 0.1))
    why["labels.max_odom_gap_s"] = (f"odometry every {1000 * m.odom_dt[0]:.0f} ms (median, 95 % within "
                                    f"{1000 * m.odom_dt[1]:.0f} ms); longer silences are cut")
    top = m.speed[2]
    max_speed = max(0.2, _up(4 * top, 0.1))
    why["labels.max_speed"] = f"top speed while moving {top:.3f} m/s (99th pct) x 4; a faster jump is a reset"
    # Tolerances: a reading must fall inside every +-tol_x window at cruising speed.
    travel = m.travel_per_reading[1]
    tol_x = max(lab.tol_x, _up(0.55 * travel, 0.001))
    why["labels.tol_x"] = (f"travel between proximity readings while moving "
                           f"{100 * m.travel_per_reading[0]:.1f} cm (median), {100 * travel:.1f} cm "
                           "(90th pct); never below the paper's 1 cm")
    why["labels.tol_y"] = "as tol_x (a straight approach drifts sideways as much as ahead)"
    why["labels.tol_theta"] = "the paper's 0.05 rad: labels come from straight approaches"
    labels = dataclasses.replace(draft.labels, tol_x=tol_x, tol_y=tol_x, max_odom_gap_s=gap,
                                 max_speed=max_speed)
    profile = dataclasses.replace(draft, camera=cam, proximity=prox, odometry=odo, labels=labels)
    profile = _choose_distances(loaded, profile, sug)
    return _choose_window(loaded, profile, sug).validate()


def _choose_distances(loaded: Sequence[tuple[Streams, bool]], profile: RobotProfile,
                      sug: Suggestion) -> RobotProfile:
    """Farthest distance (5 cm steps) at which at least DISTANCE_COVERAGE of the frames get a label."""
    stop = 2.0 if profile.proximity.obstacle_threshold > 0.2 else 1.0
    probe = with_labels(profile, distance_start=0.0, distance_stop=stop, distance_step=0.01)
    run = dry_run_streams(loaded, probe, relax=False, max_frames=MAX_FRAMES, score=False)
    cov = run.coverage.mean(axis=0)
    d = np.asarray(probe.labels.distances())
    ok = np.flatnonzero(cov >= DISTANCE_COVERAGE)
    far = round(max(0.1, math.floor(float(d[ok[-1]]) / 0.05 + 1e-9) * 0.05), 2) if len(ok) else 0.1
    step = max(0.01, _up(far / 40, 0.01))
    at = float(cov[min(round(far / 0.01), len(cov) - 1)])
    sug.why["labels.distance_stop"] = (f"{100 * at:.0f} % of the frames get a label {far:g} m ahead, "
                                       f"fewer than {100 * DISTANCE_COVERAGE:.0f} % beyond (straight runs "
                                       "end there)")
    sug.why["labels.distance_step"] = ("1 cm cells, as in Nava et al." if step == 0.01
                                       else "40 cells over the distance range")
    return with_labels(profile, distance_start=0.0, distance_stop=far, distance_step=step)


def _choose_window(loaded: Sequence[tuple[Streams, bool]], profile: RobotProfile,
                   sug: Suggestion) -> RobotProfile:
    """Smallest window keeping WINDOW_SHARE of the labels the longest one gives (longer only adds drift)."""
    longest = min(max(WINDOWS), max(sug.measures.duration_s, WINDOWS[0]))
    windows = [w for w in WINDOWS if w < longest] + [longest]
    known = [int(dry_run_streams(loaded, with_labels(profile, window_s=w), relax=False,
                                 max_frames=MAX_FRAMES, score=False).known.sum()) for w in windows]
    top = max(known[-1], 1)
    chosen = next(w for w, k in zip(windows, known, strict=True) if k >= WINDOW_SHARE * top)
    k = known[windows.index(chosen)]
    sug.why["labels.window_s"] = (f"{100 * k / top:.1f} % of the labels a {longest:g} s window gives "
                                  f"({k} of {top}); longer only adds odometry drift")
    return with_labels(profile, window_s=float(chosen))


# -- output ------------------------------------------------------------------------------------------------
def _describe_sources(src: Sources) -> list[str]:
    lines = []
    cam = src.camera
    lines.append(f"camera:    {cam.topic} ({cam.type}, {cam.encoding}, {cam.width}x{cam.height})" if cam else
                 "camera:    NONE: no sensor_msgs/Image or CompressedImage topic. Labels need a camera; the "
                 "profile marks it FILL IN and the coverage below is for frames at camera.rate_hz")
    if src.sensors:
        where = src.scan_topic if src.proximity == "laser_scan" else "Range topics"
        lines.append(f"proximity: {len(src.sensors)} sensor(s) from {where}: "
                     + ", ".join(f"{s.name}" + (f" (beam {s.beam})" if s.beam >= 0 else f" ({s.topic})")
                                 for s in src.sensors))
        fovs = sorted({round(math.degrees(s.fov), 2) for s in src.sensors if s.fov is not None})
        first = src.sensors[0]
        lines.append(f"           declared range {first.declared_min:g}..{first.declared_max:g} m"
                     + (f", field of view {', '.join(map(str, fovs))} deg per sensor" if fovs else ""))
    else:
        lines.append("proximity: NONE: no sensor_msgs/Range or LaserScan topic (name one with --sensors)")
    odo = src.odometry
    lines.append(f"odometry:  {odo.topic if odo.source == 'odometry' else '/tf'} "
                 f"({odo.odom_frame} -> {odo.base_frame})" if odo else
                 "odometry:  NONE: no nav_msgs/Odometry topic and no /tf odom -> base chain")
    lines += [f"note:      {n}" for n in src.notes]
    return lines


def _describe_measures(m: Measures) -> list[str]:
    camera = f"{m.camera_hz:.1f} Hz" if m.camera_hz else "none"
    lines = [(f"rates:     camera {camera}, proximity {m.proximity_hz:.1f} Hz, "
              f"odometry {m.odometry_hz:.1f} Hz over {m.duration_s:.1f} s"),
             (f"motion:    moving {100 * m.moving_fraction:.0f} % of the time; speed while moving "
              f"{m.speed[0]:.3f} / {m.speed[1]:.3f} / {m.speed[2]:.3f} m/s (10th / 50th / 99th pct)")]
    for name, (valid, finite, longest) in m.observed.items():
        lines.append(f"sensor {name}: {valid} valid readings, {finite} in range "
                     f"({100 * finite / max(valid, 1):.0f} %), longest {longest:.3f} m")
    return lines


def _value(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def profile_yaml(sug: Suggestion) -> str:
    """The profile as YAML, each chosen value with a one-line comment saying why (or what to fill in)."""
    if sug.profile is None:
        raise ConfigError("no profile to write: " + "; ".join(sug.findings[-1:]))
    data = sug.profile.to_dict()
    lines = ["# Robot profile suggested by `ros-ssl profile suggest` from the bags themselves.",
             f"# Check every '{FILL_IN}' before labelling; `ros-ssl profile check BAG --config THIS` shows",
             "# the coverage it gives and catches a wrong pose or clock."]
    for section, values in data.items():
        if not isinstance(values, dict):
            lines.append(f"{section}: {_value(values)}")
            continue
        lines.append(f"{section}:")
        for key, v in values.items():
            if key == "sensors":
                lines.append("  sensors:")
                for s in v:
                    todo = sug.fill_in.get(f"sensor.{s['name']}")
                    keep = {k: s[k] for k in ("name", "topic", "beam", "x", "y", "yaw")
                            if not (k == "topic" and not s[k]) and not (k == "beam" and s[k] < 0)}
                    note = f"  # {FILL_IN}: {todo}" if todo else "  # pose from /tf_static or URDF"
                    lines.append(f"    - {_value(keep)}{note}")
                continue
            tag = f"{section}.{key}"
            if tag in sug.fill_in:
                lines.append(f"  # {FILL_IN}: {sug.fill_in[tag]}")
            elif tag in sug.why:
                lines.append(f"  # {key} {_value(v)}: {sug.why[tag]}")
            lines.append(f"  {key}: {_value(v)}")
    return "\n".join(lines) + "\n"


def write_profile(sug: Suggestion, path: str | Path) -> RobotProfile:
    """Write the commented YAML and read it back through the schema (so what is written is valid)."""
    path = Path(path)
    path.write_text(profile_yaml(sug))
    return load_profile(path)
