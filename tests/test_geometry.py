"""LabelGeometry (the label contract every layer shares) and the dataset's typed geometry and profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ros_ssl.config import RobotProfile, load_profile, profile_from_dict
from ros_ssl.config.geometry import MAX_CELLS, GeometryKind, LabelGeometry
from ros_ssl.data import DatasetWriter, load_dataset
from ros_ssl.errors import ConfigError, DatasetError

SENSORS = LabelGeometry.sensor_distance(["left", "right"], [0.0, 0.1, 0.2])
GRID = LabelGeometry.grid([0.025, 0.075], [-0.05, 0.0, 0.05, 0.1])


def test_round_trip_keeps_the_stored_mapping_as_it_was() -> None:
    # The on-disk shape existing datasets, runs and model packages hold: key order included.
    assert json.dumps(SENSORS.to_dict()) == ('{"kind": "sensor_distance", "sensors": ["left", "right"], '
                                             '"distances": [0.0, 0.1, 0.2]}')
    assert json.dumps(GRID.to_dict()) == '{"kind": "grid", "x": [0.025, 0.075], "y": [-0.05, 0.0, 0.05, 0.1]}'
    for geometry in (SENSORS, GRID):
        assert LabelGeometry.from_dict(json.loads(json.dumps(geometry.to_dict()))) == geometry
        assert LabelGeometry.from_dict(geometry) is geometry
    # Integers on disk (hand-written or older files) read as the same geometry.
    stored = {"kind": "grid", "x": [1, 2], "y": [0]}
    assert LabelGeometry.from_dict(stored) == LabelGeometry.grid([1.0, 2.0], [0.0])


def test_axes_and_shape() -> None:
    assert SENSORS.kind is GeometryKind.SENSOR_DISTANCE and not SENSORS.is_grid
    assert SENSORS.shape == (2, 3) and SENSORS.rows == ("left", "right")
    assert SENSORS.columns == (0.0, 0.1, 0.2)
    assert SENSORS.axis_names == ("sensor", "distance") and SENSORS.axis_keys == ("sensors", "distances")
    assert SENSORS.row_names == ["left", "right"]
    assert GRID.kind is GeometryKind.GRID and GRID.is_grid
    assert GRID.shape == (2, 4) and GRID.rows == (0.025, 0.075) and GRID.columns == (-0.05, 0.0, 0.05, 0.1)
    assert GRID.axis_names == ("x", "y") and GRID.axis_keys == ("x", "y")
    assert GRID.row_names == ["x=0.025", "x=0.075"]


def test_profile_label_geometry_follows_its_label_settings() -> None:
    profile = load_profile("sim")
    geometry = profile.label_geometry()
    assert geometry == LabelGeometry.sensor_distance(profile.sensor_names, profile.labels.distances())
    data = profile.to_dict()
    data["labels"].update(geometry="grid", grid_x_min=0.0, grid_x_max=0.2, grid_y_min=-0.1, grid_y_max=0.1,
                          grid_cell=0.05)
    assert profile_from_dict(data).label_geometry() == LabelGeometry.grid([0.025, 0.075, 0.125, 0.175],
                                                                          [-0.075, -0.025, 0.025, 0.075])


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], r"^where is list; expected a mapping with a 'kind'$"),
    ({"kind": "cone"}, r"^where has kind 'cone'; expected one of sensor_distance, grid$"),
    ({"kind": "x" * 10_000}, r"^where has kind 'x{40}'; expected"),
    ({}, r"^where has kind 'None'"),
    ({"kind": "grid", "x": [0.1], "y": [0.0], "sensors": ["a"]},
     r"^where \(grid\) has unknown key\(s\) \['sensors'\]"),
    ({"kind": "grid", "x": [0.1]}, r"^where \(grid\) needs lists x and y"),
    ({"kind": "sensor_distance", "sensors": ["a"], "distances": 3}, r"needs lists sensors and distances"),
    ({"kind": "sensor_distance", "sensors": ["a"], "distances": ["a" * 100_000]}, r"needs lists sensors"),
    ({"kind": "sensor_distance", "sensors": [], "distances": [0.1]}, r"has an empty axis \(0 x 1\)$"),
    ({"kind": "grid", "x": [0.1, float("nan")], "y": [0.0]}, r"has a non-finite axis value$"),
])
def test_bad_mappings_are_one_line_config_errors(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        LabelGeometry.from_dict(data, "where")
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_geometry_beyond_max_cells_is_refused() -> None:
    side = int(np.sqrt(MAX_CELLS))
    assert LabelGeometry.grid([0.0] * side, [0.0] * side).shape == (side, side)  # exactly MAX_CELLS: fine
    with pytest.raises(ConfigError, match=rf"has 1 x {MAX_CELLS + 1} cells; at most {MAX_CELLS}") as err:
        LabelGeometry.sensor_distance(["a"], [0.0] * (MAX_CELLS + 1))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="at most"):
        LabelGeometry.from_dict({"kind": "grid", "x": [0.0] * 1000, "y": [0.0] * 1000})


def _write(path: Path, geometry: LabelGeometry, profile: RobotProfile) -> DatasetWriter:
    writer = DatasetWriter(path, geometry, (8, 10), profile)
    n, (a, b) = 3, geometry.shape
    writer.append({"id": "r0"}, {
        "frames": np.zeros((n, 8, 10, 3), np.uint8), "labels": np.zeros((n, a, b), np.uint8),
        "mask": np.ones((n, a, b), np.uint8), "truth": np.full((n, a, b), 255, np.uint8),
        "stamps": np.arange(n, dtype=np.float64), "poses": np.zeros((n, 3))})
    return writer


def test_dataset_geometry_and_profile_are_typed(tmp_path: Path) -> None:
    profile = load_profile("sim")
    geometry = profile.label_geometry()
    _write(tmp_path / "ds", geometry, profile)
    header = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert header["geometry"] == geometry.to_dict() and header["profile"] == profile.to_dict()
    ds = load_dataset(tmp_path / "ds")
    assert ds.geometry == geometry and ds.label_shape == geometry.shape
    assert ds.labels.shape == (3, *geometry.shape)
    assert ds.sensors == profile.sensor_names and ds.distances.tolist() == profile.labels.distances()
    assert isinstance(ds.profile, RobotProfile) and ds.profile == profile
    assert ds.profile.camera.height == profile.camera.height

    _write(tmp_path / "grid", GRID, profile)
    grid = load_dataset(tmp_path / "grid")
    assert grid.geometry == GRID and grid.sensors == [] and grid.distances.size == 0


def test_appending_another_geometry_is_refused(tmp_path: Path) -> None:
    profile = load_profile("sim")
    _write(tmp_path / "ds", SENSORS, profile)
    with pytest.raises(DatasetError, match=r"has label geometry sensor_distance of another shape or values"):
        DatasetWriter(tmp_path / "ds", LabelGeometry.sensor_distance(["left", "right"], [0.0, 0.1]), (8, 10),
                      profile)
    DatasetWriter(tmp_path / "ds", SENSORS, (8, 10), profile)  # the same geometry appends


def test_a_header_that_no_longer_validates_is_a_one_line_dataset_error(tmp_path: Path) -> None:
    _write(tmp_path / "ds", SENSORS, load_profile("sim"))
    file = tmp_path / "ds" / "dataset.json"
    manifest = json.loads(file.read_text())
    manifest["profile"]["camera"]["type"] = "film"
    file.write_text(json.dumps(manifest))
    ds = load_dataset(tmp_path / "ds")  # the arrays still open: only the profile is refused
    with pytest.raises(DatasetError, match=rf"^dataset {tmp_path / 'ds'}: .*camera.type is 'film'") as err:
        ds.profile  # noqa: B018
    assert "\n" not in str(err.value)
    manifest["geometry"] = {"kind": "cone"}
    file.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=rf"^dataset {tmp_path / 'ds'}: label geometry has kind 'cone'"):
        load_dataset(tmp_path / "ds")
