"""Robot profile: which topics carry what, where the sensors sit, and how labels are made.

A profile is plain YAML mapped onto frozen dataclasses. ``load_profile`` validates everything
before any bag is opened, so a typo fails in a second with the field's path in the message.
Units are SI (metres, radians, seconds); frames follow REP 103/105 (x forward, y left, z up).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ros_ssl.config.geometry import MAX_CELLS, GeometryKind, LabelGeometry
from ros_ssl.config.schema import build, check, load_yaml, to_data
from ros_ssl.errors import ConfigError

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # Python 3.10 has it only under its older name
    from importlib.abc import Traversable

RAW_ENCODINGS = ("rgb8", "bgr8", "mono8", "bgra8", "rgba8")
COMPRESSED_FORMATS = ("jpeg", "png")
# Upper bounds that keep every value's work and output bounded (a 1e-7 m distance step once asked for
# 3 million label columns); far beyond any robot these profiles describe.
MAX_RATE_HZ = 1000.0
MAX_OFFSET_M = 10.0  # camera / sensor position on the robot
MAX_RANGE_M = 100.0
MAX_CAMERA_PIXELS = 8192
MAX_SENSORS = 64
MAX_BEAM = 100_000
# labels.<field> -> (exclusive lower bound, inclusive upper bound, unit).
LABEL_LIMITS = {
    "tol_x": (0.0, 1.0, "m"), "tol_y": (0.0, 1.0, "m"), "tol_theta": (0.0, math.pi, "rad"),
    "window_s": (0.0, 3600.0, "s"), "max_odom_gap_s": (0.0, 60.0, "s"), "max_speed": (0.0, 100.0, "m/s"),
}
MIN_STEP_M = 0.001  # distance step and grid cell: 1 mm
MAX_STEP_M = 10.0


@dataclass(frozen=True)
class CameraConfig:
    topic: str = "/camera/image_raw/compressed"
    # "compressed" = sensor_msgs/CompressedImage, "raw" = sensor_msgs/Image.
    type: str = "compressed"
    # raw: one of RAW_ENCODINGS; compressed: jpeg or png (format written by publishers we own).
    encoding: str = "jpeg"
    frame_id: str = "camera_link"
    # Camera pose on the robot (base_link), used by the simulator and the debug overlays.
    x: float = 0.05
    z: float = 0.08
    pitch: float = 0.35
    fov_deg: float = 70.0
    width: int = 320
    height: int = 240
    rate_hz: float = 15.0


@dataclass(frozen=True)
class SensorConfig:
    name: str
    # Pose of the sensor in base_link (metres, radians).
    x: float
    y: float
    yaw: float
    # Range topic (proximity.source == "range") ...
    topic: str = ""
    # ... or beam index in the LaserScan (proximity.source == "laser_scan").
    beam: int = -1


@dataclass(frozen=True)
class ProximityConfig:
    # "range": one sensor_msgs/Range topic per sensor; "laser_scan": one LaserScan, a beam per sensor.
    source: str = "range"
    scan_topic: str = "/proximity/scan"
    max_range: float = 0.12
    # A reading below this (metres) means "obstacle"; +inf (REP 117) means nothing detected.
    obstacle_threshold: float = 0.10
    frame_prefix: str = "proximity_"
    rate_hz: float = 20.0
    sensors: tuple[SensorConfig, ...] = ()


@dataclass(frozen=True)
class OdometryConfig:
    # "odometry": nav_msgs/Odometry on ``topic``; "tf": the odom_frame -> base_frame chain on /tf.
    source: str = "odometry"
    topic: str = "/odom"
    odom_frame: str = "odom"
    base_frame: str = "base_link"
    rate_hz: float = 50.0


@dataclass(frozen=True)
class LabelConfig:
    # "sensor_distance" (Nava et al. 2019) or "grid" (egocentric occupancy cells).
    geometry: GeometryKind = GeometryKind.SENSOR_DISTANCE
    # Target distances ahead of the robot: start, stop (inclusive), step, metres.
    distance_start: float = 0.0
    distance_stop: float = 0.30
    distance_step: float = 0.01
    # Match tolerances between the target pose and a later pose.
    tol_x: float = 0.01
    tol_y: float = 0.01
    tol_theta: float = 0.05
    # How far into the future a frame looks for matching poses (seconds).
    window_s: float = 20.0
    # Odometry gaps longer than this are not interpolated across (seconds).
    max_odom_gap_s: float = 0.5
    # An odometry jump faster than this is a reset (m/s); association never crosses it.
    max_speed: float = 2.0
    # Grid geometry (geometry == "grid"): cells ahead (x) and lateral (y, +left), metres.
    grid_x_min: float = 0.0
    grid_x_max: float = 0.8
    grid_y_min: float = -0.4
    grid_y_max: float = 0.4
    grid_cell: float = 0.05

    def distances(self) -> list[float]:
        n = round((self.distance_stop - self.distance_start) / self.distance_step) + 1
        return [round(self.distance_start + i * self.distance_step, 6) for i in range(n)]

    def grid_axes(self) -> tuple[list[float], list[float]]:
        """Grid cell centres ahead (x) and to the left (y) of the robot, metres."""
        nx = max(1, round((self.grid_x_max - self.grid_x_min) / self.grid_cell))
        ny = max(1, round((self.grid_y_max - self.grid_y_min) / self.grid_cell))
        return ([round(self.grid_x_min + self.grid_cell * (i + 0.5), 6) for i in range(nx)],
                [round(self.grid_y_min + self.grid_cell * (j + 0.5), 6) for j in range(ny)])


@dataclass(frozen=True)
class ImageConfig:
    # Training resolution (the paper uses 80x64).
    width: int = 80
    height: int = 64


@dataclass(frozen=True)
class RobotProfile:
    name: str = "thymio"
    camera: CameraConfig = field(default_factory=CameraConfig)
    proximity: ProximityConfig = field(default_factory=ProximityConfig)
    odometry: OdometryConfig = field(default_factory=OdometryConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    image: ImageConfig = field(default_factory=ImageConfig)

    @property
    def sensor_names(self) -> list[str]:
        return [s.name for s in self.proximity.sensors]

    def label_geometry(self) -> LabelGeometry:
        """The label geometry this profile's label settings produce."""
        if self.labels.geometry is GeometryKind.GRID:
            return LabelGeometry.grid(*self.labels.grid_axes())
        return LabelGeometry.sensor_distance(self.sensor_names, self.labels.distances())

    def proximity_topics(self) -> list[str]:
        if self.proximity.source == "laser_scan":
            return [self.proximity.scan_topic]
        return [s.topic for s in self.proximity.sensors]

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists (YAML/JSON/ROS-parameter friendly)."""
        return to_data(self)  # type: ignore[no-any-return]

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def validate(self) -> RobotProfile:
        """Check every field; raise ConfigError naming the first bad one."""
        cam, prox, odom, lab, img = self.camera, self.proximity, self.odometry, self.labels, self.image
        _check(cam.type in ("raw", "compressed"), "camera.type", cam.type, "'raw' or 'compressed'")
        allowed = RAW_ENCODINGS if cam.type == "raw" else COMPRESSED_FORMATS
        _check(cam.encoding in allowed, "camera.encoding", cam.encoding, f"one of {', '.join(allowed)}")
        _check(cam.topic.startswith("/"), "camera.topic", cam.topic, "an absolute topic name")
        _check(0 < cam.width <= MAX_CAMERA_PIXELS and 0 < cam.height <= MAX_CAMERA_PIXELS,
               "camera.width/height", (cam.width, cam.height), f"> 0 and <= {MAX_CAMERA_PIXELS}")
        _check(0 < cam.fov_deg < 180, "camera.fov_deg", cam.fov_deg, "in (0, 180)")
        _check(0 < cam.rate_hz <= MAX_RATE_HZ, "camera.rate_hz", cam.rate_hz,
               f"> 0 and <= {MAX_RATE_HZ:g} Hz")
        for attr in ("x", "z"):
            _offset(f"camera.{attr}", getattr(cam, attr))
        _check(abs(cam.pitch) <= math.pi / 2, "camera.pitch", cam.pitch, "in [-pi/2, pi/2] rad")
        _check(prox.source in ("range", "laser_scan"), "proximity.source", prox.source,
               "'range' or 'laser_scan'")
        _check(len(prox.sensors) > 0, "proximity.sensors", "[]", "at least one sensor")
        _check(len(prox.sensors) <= MAX_SENSORS, "proximity.sensors", f"{len(prox.sensors)} sensors",
               f"at most {MAX_SENSORS}")
        _check(0 < prox.max_range <= MAX_RANGE_M, "proximity.max_range", prox.max_range,
               f"> 0 and <= {MAX_RANGE_M:g} m")
        _check(0 < prox.rate_hz <= MAX_RATE_HZ, "proximity.rate_hz", prox.rate_hz,
               f"> 0 and <= {MAX_RATE_HZ:g} Hz")
        _check(0 < prox.obstacle_threshold <= prox.max_range, "proximity.obstacle_threshold",
               prox.obstacle_threshold, f"in (0, max_range={prox.max_range}]")
        names = [s.name for s in prox.sensors]
        _check(len(set(names)) == len(names), "proximity.sensors[].name", names, "unique names")
        for i, s in enumerate(prox.sensors):
            _check(bool(s.name), f"proximity.sensors[{i}].name", s.name, "a non-empty name")
            for attr in ("x", "y"):
                _offset(f"proximity.sensors[{i}].{attr}", getattr(s, attr))
            _check(abs(s.yaw) <= 2 * math.pi, f"proximity.sensors[{i}].yaw", s.yaw, "in [-2 pi, 2 pi] rad")
            if prox.source == "range":
                _check(s.topic.startswith("/"), f"proximity.sensors[{i}].topic", s.topic,
                       "an absolute Range topic name")
            else:
                _check(0 <= s.beam <= MAX_BEAM, f"proximity.sensors[{i}].beam", s.beam,
                       f"a beam index >= 0 and <= {MAX_BEAM}")
        if prox.source == "range":
            topics = [s.topic for s in prox.sensors]
            _check(len(set(topics)) == len(topics), "proximity.sensors[].topic", topics, "unique topics")
        _check(odom.source in ("odometry", "tf"), "odometry.source", odom.source, "'odometry' or 'tf'")
        _check(odom.topic.startswith("/"), "odometry.topic", odom.topic, "an absolute topic name")
        _check(0 < odom.rate_hz <= MAX_RATE_HZ, "odometry.rate_hz", odom.rate_hz,
               f"> 0 and <= {MAX_RATE_HZ:g} Hz")
        _check(isinstance(lab.geometry, GeometryKind), "labels.geometry", lab.geometry,
               "'sensor_distance' or 'grid'")
        _check(MIN_STEP_M <= lab.distance_step <= MAX_STEP_M, "labels.distance_step", lab.distance_step,
               f">= {MIN_STEP_M:g} (1 mm) and <= {MAX_STEP_M:g} m")
        _check(0 <= lab.distance_start <= lab.distance_stop <= MAX_RANGE_M, "labels.distance_start/stop",
               (lab.distance_start, lab.distance_stop), f"0 <= start <= stop <= {MAX_RANGE_M:g} m")
        n_dist = round((lab.distance_stop - lab.distance_start) / lab.distance_step) + 1
        _check(n_dist * len(prox.sensors) <= MAX_CELLS, "labels.distance_step", lab.distance_step,
               f"a step giving at most {MAX_CELLS} cells ({len(prox.sensors)} sensors x {n_dist} distances)")
        for attr, (lo, hi, unit) in LABEL_LIMITS.items():
            _check(lo < getattr(lab, attr) <= hi, f"labels.{attr}", getattr(lab, attr),
                   f"> {lo:g} and <= {hi:g} {unit}")
        _check(MIN_STEP_M <= lab.grid_cell <= MAX_STEP_M, "labels.grid_cell", lab.grid_cell,
               f">= {MIN_STEP_M:g} (1 mm) and <= {MAX_STEP_M:g} m")
        _check(-MAX_RANGE_M <= lab.grid_x_min < lab.grid_x_max <= MAX_RANGE_M, "labels.grid_x_min/max",
               (lab.grid_x_min, lab.grid_x_max), f"-{MAX_RANGE_M:g} <= min < max <= {MAX_RANGE_M:g} m")
        _check(-MAX_RANGE_M <= lab.grid_y_min < lab.grid_y_max <= MAX_RANGE_M, "labels.grid_y_min/max",
               (lab.grid_y_min, lab.grid_y_max), f"-{MAX_RANGE_M:g} <= min < max <= {MAX_RANGE_M:g} m")
        n_cells = (round((lab.grid_x_max - lab.grid_x_min) / lab.grid_cell)
                   * round((lab.grid_y_max - lab.grid_y_min) / lab.grid_cell))
        _check(lab.geometry is not GeometryKind.GRID or n_cells <= MAX_CELLS, "labels.grid_cell",
               lab.grid_cell, f"a cell giving at most {MAX_CELLS} grid cells ({n_cells} now)")
        _check(8 <= img.width <= 1024 and 8 <= img.height <= 1024, "image.width/height",
               (img.width, img.height), "between 8 and 1024 pixels")
        return self


def _check(ok: bool, where: str, value: object, expected: str) -> None:
    check(ok, "profile", where, value, expected)


def _offset(where: str, value: float) -> None:
    """A position on the robot: finite (NaN fails every comparison) and within MAX_OFFSET_M."""
    _check(abs(value) <= MAX_OFFSET_M, where, value,
           f"a finite number in [-{MAX_OFFSET_M:g}, {MAX_OFFSET_M:g}] m")


def profile_from_dict(data: Any) -> RobotProfile:
    """Build and validate a profile from a plain mapping (e.g. parsed YAML or ROS parameters)."""
    return build(RobotProfile, data, "profile").validate()


def builtin_profiles() -> list[str]:
    folder = resources.files("ros_ssl.config") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(source: str | Path | None = None) -> RobotProfile:
    """Load a profile from a YAML path or a built-in name ("thymio", "sim"); default "sim".

    A YAML file may be a plain profile or a ROS 2 parameter file (``node: ros__parameters: ...``),
    so one file configures both the offline tools and the nodes.
    """
    source = "sim" if source is None else source
    path = Path(source)
    file: Path | Traversable
    if not path.suffix and str(source) in builtin_profiles():
        file = resources.files("ros_ssl.config") / "profiles" / f"{source}.yaml"
        where = f"built-in profile {source!r}"
    elif path.is_file():
        file, where = path, str(path)
    else:
        raise ConfigError(f"profile {source} not found: give a YAML path or one of {builtin_profiles()}")
    data = _unwrap_ros_parameters(load_yaml(file, where))
    try:
        return profile_from_dict({} if data is None else data)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def _unwrap_ros_parameters(data: Any) -> Any:
    """Accept ``/**: {ros__parameters: {...}}`` or ``node: {ros__parameters: {...}}`` files."""
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict) and "ros__parameters" in inner:
            params = inner["ros__parameters"]
            return params.get("profile", params) if isinstance(params, dict) else params
    return data
