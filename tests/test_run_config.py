"""A run's config.yaml as typed configs: same keys on disk as before, read back to equal objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.errors import ConfigError
from ros_ssl.ssl.recipe import load_pretrain_recipe
from ros_ssl.train.checkpoint import load_detector
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.recipe import load_recipe
from ros_ssl.train.run_config import PretrainRunConfig, RunConfig, Split, read_run_config, write_run_config

DETECTOR = RunConfig(
    model="paper_cnn", image_hw=(64, 80), label_shape=(2, 3),
    geometry=LabelGeometry.sensor_distance(["left", "right"], [0.0, 0.1, 0.2]), mean=(0.4, 0.5, 0.6),
    std=(0.2, 0.2, 0.2), dataset="/data/ds", split=Split(("r0", "r1"), ("r2",), ("r3",)),
    groups=Split(("world0",), ("world1",), ("world2",)),
    recipe=load_recipe(None, {"epochs": 3, "augment.flip": 0}), world_size=2,
    versions={"ros_ssl": "0.1.0", "torch": "2.x"})
SSL = PretrainRunConfig(
    method="byol", model="paper_cnn", image_hw=(64, 80), mean=(0.4, 0.5, 0.6), std=(0.2, 0.2, 0.2),
    dataset="/data/ds", frames=96, recordings=("bag_a-1234abcd", "bag_c-5678ef01"),
    recipe=load_pretrain_recipe("ssl_byol", {"params.base_momentum": 0.9, "augment.crop_scale": [0.5, 1.0]}),
    world_size=1, versions={"ros_ssl": "0.1.0"})


def test_both_kinds_write_todays_keys_and_read_back_equal(tmp_path: Path) -> None:
    write_run_config(tmp_path / "det", DETECTOR)
    write_run_config(tmp_path / "ssl", SSL)
    det = yaml.safe_load((tmp_path / "det" / "config.yaml").read_text())
    ssl = yaml.safe_load((tmp_path / "ssl" / "config.yaml").read_text())
    assert list(det) == ["model", "image_hw", "label_shape", "geometry", "mean", "std", "dataset", "split",
                         "groups", "recipe", "world_size", "versions"]
    assert list(ssl) == ["kind", "method", "model", "image_hw", "mean", "std", "dataset", "frames",
                         "recordings", "recipe", "world_size", "versions"]
    assert det["geometry"] == {"kind": "sensor_distance", "sensors": ["left", "right"],
                               "distances": [0.0, 0.1, 0.2]}
    assert det["split"]["val"] == ["r2"] and ssl["kind"] == "ssl"
    assert ssl["recordings"] == ["bag_a-1234abcd", "bag_c-5678ef01"]
    assert read_run_config(tmp_path / "det") == DETECTOR
    assert read_run_config(tmp_path / "ssl") == SSL


def test_an_older_detector_config_without_groups_reads(tmp_path: Path) -> None:
    data = DETECTOR.to_dict()
    for key in ("groups", "world_size", "versions"):
        del data[key]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    config = read_run_config(tmp_path)
    assert isinstance(config, RunConfig)
    assert config.groups == Split() and config.world_size == 1 and config.split.part("test") == ("r3",)


def test_bad_configs_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"is not a training run: config\.yaml not found"):
        read_run_config(tmp_path)
    file = tmp_path / "config.yaml"
    file.write_text(yaml.safe_dump(dict(DETECTOR.to_dict(), kind="moco")))
    with pytest.raises(ConfigError, match="has kind 'moco'; expected none"):
        read_run_config(tmp_path)
    data = DETECTOR.to_dict()
    del data["label_shape"]
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError,
                       match=r"config.yaml is not a detector run config: missing key 'label_shape'"):
        read_run_config(tmp_path)
    file.write_text(yaml.safe_dump(dict(SSL.to_dict(), frames="many")))
    with pytest.raises(ConfigError, match="is not an SSL run config"):
        read_run_config(tmp_path)
    file.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_run_config(tmp_path)


def test_a_pretraining_run_holds_no_detector(tmp_path: Path) -> None:
    write_run_config(tmp_path, SSL)
    with pytest.raises(TrainingError, match="is an SSL pretraining run and holds no detector"):
        load_detector(tmp_path)
