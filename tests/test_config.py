from pathlib import Path

import pytest
import yaml

from ros_ssl.config import builtin_profiles, load_profile, profile_from_dict
from ros_ssl.errors import ConfigError


def test_builtin_profiles_load_and_validate():
    assert {"sim", "thymio", "thymio_scan"} <= set(builtin_profiles())
    p = load_profile("thymio")
    assert p.sensor_names == ["left", "center_left", "center", "center_right", "right"]
    assert p.proximity_topics()[0] == "/proximity/left"
    assert len(p.labels.distances()) == 31 and p.labels.distances()[-1] == pytest.approx(0.30)
    assert load_profile("thymio_scan").proximity_topics() == ["/proximity/scan"]


def test_profile_round_trips_through_yaml(tmp_path: Path):
    p = load_profile("sim")
    p.dump(tmp_path / "p.yaml")
    assert load_profile(tmp_path / "p.yaml") == p


def test_ros_parameter_file_is_a_profile(tmp_path: Path):
    data = load_profile("thymio").to_dict()
    # rcl parameter files hold no lists of mappings: sensors may be a mapping keyed by name.
    data["proximity"]["sensors"] = {s.pop("name"): s for s in data["proximity"]["sensors"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"/**": {"ros__parameters": data}}))
    assert load_profile(tmp_path / "params.yaml").name == "thymio"


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"camera": {"type": "video"}}, r"camera.type is 'video'"),
        ({"camera": {"type": "raw", "encoding": "yuv422"}},
         r"camera.encoding is 'yuv422'; expected one of rgb8"),
        ({"camera": {"topic": "camera"}}, r"camera.topic .* absolute"),
        ({"proximity": {"obstacle_threshold": 0.5}}, r"obstacle_threshold is 0.5"),
        ({"proximity": {"max_range": "far"}}, r"proximity.max_range is 'far'; expected a number"),
        ({"proximity": {"sensors": []}}, r"at least one sensor"),
        ({"proximity": {"sensors": [{"name": "a", "x": 0, "y": 0, "yaw": 0, "topic": "/a"},
                                    {"name": "a", "x": 0, "y": 0, "yaw": 0, "topic": "/b"}]}},
         r"unique names"),
        ({"proximity": {"sensors": [{"name": "a", "x": 0, "y": 0, "yaw": 0}]}}, r"sensors\[0\].topic"),
        ({"odometry": {"source": "gps"}}, r"odometry.source is 'gps'"),
        ({"labels": {"geometry": "cone"}}, r"labels.geometry is 'cone'"),
        ({"labels": {"tol_x": 0}}, r"labels.tol_x is 0.0; expected > 0"),
        ({"image": {"width": 2}}, r"image.width/height"),
        ({"camera": {"colour": 1}}, r"unknown key\(s\) \['colour'\]"),
        ({"camera": 3}, r"section camera must be a mapping"),
    ],
)
def test_invalid_profiles_name_the_field(patch: dict, match: str):
    data = load_profile("thymio").to_dict()
    for section, fields in patch.items():
        if isinstance(fields, dict) and isinstance(data[section], dict):
            data[section].update(fields)
        else:
            data[section] = fields
    with pytest.raises(ConfigError, match=match):
        profile_from_dict(data)


def test_missing_and_malformed_profile_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="profile nope not found"):
        load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera: [unclosed")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        load_profile(bad)
