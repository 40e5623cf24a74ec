"""What the detector publishes, without ROS: array layout, nearest predicted obstacle, latency figures.

Prediction message (std_msgs/Float32MultiArray on ``/detector/predictions``), for a sensor x distance
model with S sensors and D distances::

    layout.dim[0] = {label: "sensor",   size: S, stride: S * D}
    layout.dim[1] = {label: "distance", size: D, stride: D}
    layout.data_offset = 0
    data[s * D + d] = probability of an obstacle in front of sensor s if the robot drove d metres ahead

A grid model uses labels "x" (cells ahead) and "y" (cells lateral, +left) the same way. The sensor names
and distances in metres are on ``/detector/geometry`` (std_msgs/String, JSON, transient local).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.errors import ConfigError, MessageError

# The key geometry_json adds to the stored geometry mapping; a reader removes it before from_dict.
THRESHOLD_KEY = "threshold"


def layout_dims(geometry: LabelGeometry, shape: tuple[int, int]) -> list[tuple[str, int, int]]:
    """(label, size, stride) of each dimension of a row-major (A, B) probability array."""
    a, b = geometry.axis_names
    return [(a, shape[0], shape[0] * shape[1]), (b, shape[1], shape[1])]


def geometry_json(geometry: LabelGeometry, threshold: float) -> str:
    """The geometry message: the model's geometry plus the detector's obstacle threshold."""
    return json.dumps({**geometry.to_dict(), THRESHOLD_KEY: threshold}, separators=(",", ":"))


def parse_geometry_json(text: str) -> LabelGeometry:
    """The model geometry of a geometry message (its threshold is the detector's, not the model's).

    ConfigError if the text is not a geometry message.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"/detector/geometry is not valid JSON ({err.msg} at column {err.colno})") from err
    if isinstance(data, dict):
        data.pop(THRESHOLD_KEY, None)
    return LabelGeometry.from_dict(data, "/detector/geometry")


def nearest_obstacle(probs: np.ndarray, distances: Sequence[float], threshold: float) -> np.ndarray:
    """(S,) for each sensor the smallest distance whose probability exceeds ``threshold``; +inf if none;
    NaN if any of the sensor's probabilities is NaN or infinite.

    Read as: how far the robot can drive straight ahead before that sensor would see an obstacle. The
    values follow REP 117 for sensor_msgs/Range: +inf = nothing detected, NaN = no valid reading, which
    every consumer must treat as "cannot see" (the controller stops).
    """
    probs = np.asarray(probs)
    hit = probs > threshold
    first = np.argmax(hit, axis=1)
    nearest = np.where(hit.any(axis=1), np.asarray(distances, np.float64)[first], np.inf)
    return np.where(np.isfinite(probs).all(axis=1), nearest, np.nan)


def prediction_array(sizes: Sequence[int], data: Sequence[float] | np.ndarray) -> np.ndarray:
    """The (A, B) float32 probabilities of a prediction message from its dims' sizes and its data.

    MessageError if the layout is not two dimensions or the data does not fill them exactly.
    """
    if len(sizes) != 2:
        raise MessageError(f"prediction message has {len(sizes)} layout dimensions; expected 2")
    values = np.asarray(data, np.float32)
    if values.size != sizes[0] * sizes[1] or min(sizes) <= 0:
        raise MessageError(f"prediction message holds {values.size} values for a {sizes[0]} x {sizes[1]} "
                           f"layout")
    return values.reshape(sizes[0], sizes[1])


@dataclass(frozen=True)
class LatencySummary:
    frames: int
    hz: float
    median_ms: float
    p99_ms: float
    infer_ms: float  # median model time per frame


class LatencyWindow:
    """Latency (image stamp -> prediction published) and inference time of the most recent frames."""

    def __init__(self, size: int = 1000) -> None:
        self._lat: deque[float] = deque(maxlen=size)
        self._infer: deque[float] = deque(maxlen=size)
        self._times: deque[float] = deque(maxlen=size)

    def add(self, now_s: float, latency_s: float, infer_s: float) -> None:
        self._times.append(now_s)
        self._lat.append(latency_s)
        self._infer.append(infer_s)

    def summary(self) -> LatencySummary:
        n = len(self._lat)
        if n == 0:
            return LatencySummary(0, 0.0, float("nan"), float("nan"), float("nan"))
        span = self._times[-1] - self._times[0]
        lat = np.asarray(self._lat) * 1e3
        return LatencySummary(n, (n - 1) / span if span > 0 else 0.0, float(np.median(lat)),
                              float(np.percentile(lat, 99)), float(np.median(self._infer)) * 1e3)
