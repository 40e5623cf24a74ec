"""Label geometry: the shape and meaning of one frame's labels, shared by every layer.

A dataset, a training run, a model package and the detector node all describe their label arrays with
one ``LabelGeometry``: either Nava et al.'s sensor x distance table (``SENSOR_DISTANCE``: a row per
proximity sensor, a column per distance ahead) or an egocentric occupancy grid (``GRID``: a row per
cell centre ahead, a column per cell centre to the left). On disk (dataset manifest, run config, model
metadata) it is the plain mapping ``{"kind": "sensor_distance", "sensors": [...], "distances": [...]}``
or ``{"kind": "grid", "x": [...], "y": [...]}``; ``from_dict`` is the one place that reads it back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ros_ssl.errors import ConfigError

# A geometry larger than this many cells per frame is refused: it would make datasets of gigabytes
# per minute and error messages of megabytes (a distance step of 1e-7 m asks for 3 million columns).
MAX_CELLS = 65_536


class GeometryKind(str, Enum):
    """How a label array's two axes are read."""

    SENSOR_DISTANCE = "sensor_distance"
    GRID = "grid"


@dataclass(frozen=True)
class LabelGeometry:
    kind: GeometryKind
    # SENSOR_DISTANCE: sensor names (rows) and distances ahead in metres (columns).
    sensors: tuple[str, ...] = ()
    distances: tuple[float, ...] = ()
    # GRID: cell centres ahead (rows) and to the left (columns), metres.
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        rows, cols = self.rows, self.columns
        if not rows or not cols:
            raise ConfigError(f"label geometry {self.kind.value} has an empty axis "
                              f"({len(rows)} x {len(cols)})")
        if len(rows) * len(cols) > MAX_CELLS:
            raise ConfigError(f"label geometry {self.kind.value} has {len(rows)} x {len(cols)} cells; "
                              f"at most {MAX_CELLS} are supported (use a coarser distance step or grid cell)")
        values = (self.distances + self.x + self.y)
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"label geometry {self.kind.value} has a non-finite axis value")
        if self.is_grid and (self.sensors or self.distances):
            raise ConfigError("label geometry grid takes x and y, not sensors and distances")
        if not self.is_grid and (self.x or self.y):
            raise ConfigError("label geometry sensor_distance takes sensors and distances, not x and y")

    @classmethod
    def sensor_distance(cls, sensors: tuple[str, ...] | list[str], distances: tuple[float, ...] | list[float]
                        ) -> LabelGeometry:
        return cls(GeometryKind.SENSOR_DISTANCE, sensors=tuple(str(s) for s in sensors),
                   distances=tuple(float(d) for d in distances))

    @classmethod
    def grid(cls, x: tuple[float, ...] | list[float], y: tuple[float, ...] | list[float]) -> LabelGeometry:
        return cls(GeometryKind.GRID, x=tuple(float(v) for v in x), y=tuple(float(v) for v in y))

    @property
    def is_grid(self) -> bool:
        return self.kind is GeometryKind.GRID

    @property
    def rows(self) -> tuple[Any, ...]:
        """First label axis: sensor names, or grid cell centres ahead."""
        return self.x if self.is_grid else self.sensors

    @property
    def columns(self) -> tuple[float, ...]:
        """Second label axis: distances ahead, or grid cell centres to the left (metres)."""
        return self.y if self.is_grid else self.distances

    @property
    def shape(self) -> tuple[int, int]:
        """Label array shape (A, B) of one frame."""
        return len(self.rows), len(self.columns)

    @property
    def axis_names(self) -> tuple[str, str]:
        """Names of the two label axes, as in the detector's Float32MultiArray layout."""
        return ("x", "y") if self.is_grid else ("sensor", "distance")

    @property
    def axis_keys(self) -> tuple[str, str]:
        """Keys of the two label axes in the stored mapping (``to_dict``)."""
        return ("x", "y") if self.is_grid else ("sensors", "distances")

    @property
    def row_names(self) -> list[str]:
        """A printable name per row: the sensor names, or ``x=0.025`` for grid rows."""
        return [f"x={v:.3f}" for v in self.x] if self.is_grid else list(self.sensors)

    def to_dict(self) -> dict[str, Any]:
        """The plain mapping stored in manifests, run configs and model metadata."""
        rows, columns = self.axis_keys
        return {"kind": self.kind.value, rows: list(self.rows), columns: list(self.columns)}

    @classmethod
    def from_dict(cls, data: Any, where: str = "label geometry") -> LabelGeometry:
        """Read the stored mapping back; ConfigError naming ``where`` if it is not one."""
        if isinstance(data, LabelGeometry):
            return data
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} is {type(data).__name__}; expected a mapping with a 'kind'")
        kinds = [k.value for k in GeometryKind]
        if data.get("kind") not in kinds:
            raise ConfigError(f"{where} has kind {str(data.get('kind'))[:40]!r}; "
                              f"expected one of {', '.join(kinds)}")
        kind = GeometryKind(data["kind"])
        keys = ("x", "y") if kind is GeometryKind.GRID else ("sensors", "distances")
        unknown = sorted(set(data) - {"kind", *keys})
        if unknown:
            raise ConfigError(f"{where} ({kind.value}) has unknown key(s) {unknown[:5]}; "
                              f"known: kind, {', '.join(keys)}")
        try:
            if kind is GeometryKind.GRID:
                return cls.grid(list(data["x"]), list(data["y"]))
            return cls.sensor_distance(list(data["sensors"]), list(data["distances"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{where} ({kind.value}) needs lists {' and '.join(keys)} "
                              f"({str(err)[:80]})") from err
