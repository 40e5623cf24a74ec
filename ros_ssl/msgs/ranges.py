"""Proximity readings with REP 117 semantics.

A reading is a distance in metres, ``+inf`` for "nothing detected within range", ``-inf`` for "too
close to measure" and ``NaN`` for "invalid". Drivers that predate REP 117 report max_range (or
beyond) for "nothing"; we map those to ``+inf`` so the labeler has one convention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def normalise_reading(value: float, min_range: float, max_range: float) -> float:
    """Map one raw reading to REP 117: +inf (nothing), -inf (too close), NaN (invalid) or metres."""
    if math.isnan(value):
        return math.nan
    if math.isinf(value):
        return value
    if max_range > 0 and value >= max_range:
        return math.inf
    if value < min_range:
        return -math.inf if value >= 0 else math.nan
    return float(value)


def range_reading(msg: Any) -> float:
    """Reading of a sensor_msgs/Range (any distro, with or without ``variance``)."""
    return normalise_reading(float(msg.range), float(msg.min_range), float(msg.max_range))


def scan_readings(msg: Any, beams: Sequence[int]) -> np.ndarray:
    """Readings of the chosen beams of a sensor_msgs/LaserScan (REP 117), float64."""
    ranges = np.asarray(msg.ranges, dtype=np.float64)
    lo, hi = float(msg.range_min), float(msg.range_max)
    out = np.full(len(beams), math.nan)
    for i, b in enumerate(beams):
        if 0 <= b < ranges.size:
            out[i] = normalise_reading(float(ranges[b]), lo, hi)
    return out
