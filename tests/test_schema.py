"""The one YAML-to-dataclass schema: bounded input, typed fields, one message format per kind of config."""

import inspect
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from ros_ssl.config import load_profile, profile_from_dict
from ros_ssl.config.geometry import GeometryKind
from ros_ssl.config.schema import (
    MAX_YAML_BYTES,
    MAX_YAML_NODES,
    apply_overrides,
    build,
    load_yaml,
    parse_overrides,
)
from ros_ssl.edge.config import edge_config_from_dict, load_edge_config
from ros_ssl.errors import ConfigError
from ros_ssl.nodes.params import check_fields, param
from ros_ssl.ssl.recipe import METHOD_PARAMS, PretrainRecipe, load_pretrain_recipe
from ros_ssl.train.recipe import RECIPES, Recipe, load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[1]


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs" document: each level an anchored list of ``width`` aliases to the one below."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text) < 600  # a few hundred bytes that would expand to 9**9 strings
    robot = tmp_path / "robot.yaml"
    robot.write_text(text)
    for load, path in ((load_profile, robot), (load_recipe, robot), (load_pretrain_recipe, robot),
                       (load_edge_config, robot)):
        start = time.process_time()  # CPU time: a loaded machine's scheduler pauses do not count
        with pytest.raises(ConfigError,
                           match=r"robot.yaml: YAML document expands to more than 100000 nodes") as err:
            load(path)
        assert time.process_time() - start < 0.5
        assert len(str(err.value)) < 300 and "\n" not in str(err.value)


def test_modest_sharing_is_fine_and_self_reference_is_refused() -> None:
    assert load_yaml("base: &b {x: 1}\nother: *b\n", "t") == {"base": {"x": 1}, "other": {"x": 1}}
    assert load_yaml("# only a comment\n", "t") is None
    with pytest.raises(ConfigError, match="contains itself"):
        load_yaml("a: &a [1, *a]\n", "t")
    wide = "[" + ", ".join(["0"] * (MAX_YAML_NODES + 1)) + "]"
    with pytest.raises(ConfigError, match="more than 100000 nodes"):
        load_yaml(wide, "t")


def test_oversized_document_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"big.yaml: YAML document is larger than 1048576 bytes") as err:
        load_profile(big)
    assert len(str(err.value)) < 300


def test_parse_errors_keep_the_first_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML \(while parsing") as err:
        load_recipe(bad)
    assert "\n" not in str(err.value)


def test_exponent_floats_pyyaml_reads_as_strings_are_numbers_where_a_number_is_wanted() -> None:
    # PyYAML (YAML 1.1) returns these as strings; a float field takes them as numbers.
    assert load_yaml("lr: 1e-3", "t") == {"lr": "1e-3"}
    recipe = load_recipe(None, parse_overrides(["lr=1e-3", "weight_decay=5E-5", "augment.hue=.5e0"]))
    assert (recipe.lr, recipe.weight_decay, recipe.augment.hue) == (0.001, 5e-5, 0.5)
    profile = load_profile("sim").to_dict()
    profile["camera"]["x"] = "2.5e-2"
    assert profile_from_dict(profile).camera.x == 0.025
    for bad in ("1e400", "1e-3x", "e5", "1e"):
        with pytest.raises(ConfigError, match=r"recipe field lr is"):
            load_recipe(None, {"lr": bad})
    with pytest.raises(ConfigError, match=r"recipe field model is 1000\.0; expected a string"):
        load_recipe(None, parse_overrides(["model=1.0e+3"]))  # a string field is never read as a number


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+999"])
def test_non_finite_floats_are_refused(value: str) -> None:
    data = load_yaml(f"lr: {value}\n", "t")
    with pytest.raises(ConfigError, match=r"recipe field lr is .*; expected a finite number"):
        recipe_from_dict(data)
    profile = load_profile("sim").to_dict()
    profile["camera"]["x"] = load_yaml(f"x: {value}", "t")["x"]
    with pytest.raises(ConfigError, match=r"profile field camera.x is .*; expected a finite number"):
        profile_from_dict(profile)
    with pytest.raises(ConfigError, match=r"recipe field mean is .*; expected a list of 3 finite numbers"):
        recipe_from_dict(load_yaml(f"mean: [0.5, 0.5, {value}]", "t"))


def test_each_kind_names_its_fields_in_its_own_words() -> None:
    profile = load_profile("sim").to_dict()
    profile["image"]["width"] = 80.5
    with pytest.raises(ConfigError, match=r"^profile field image.width is 80.5; expected an integer$"):
        profile_from_dict(profile)
    with pytest.raises(ConfigError, match=r"^recipe field amp is 'yes'; expected true or false$"):
        recipe_from_dict({"amp": "yes"})
    with pytest.raises(ConfigError, match=r"^recipe field epochs is True; expected an integer$"):
        recipe_from_dict({"epochs": True})
    with pytest.raises(ConfigError, match=r"^recipe section augment has unknown key\(s\) \['flop'\]"):
        recipe_from_dict({"augment": {"flop": 1}})
    with pytest.raises(ConfigError, match=r"^edge config field tensorrt.fp16 is 1; expected true or false$"):
        edge_config_from_dict({"tensorrt": {"fp16": 1}})
    with pytest.raises(ConfigError,
                       match=r"^edge config field providers is 'cpu'; expected a list of strings$"):
        edge_config_from_dict({"providers": "cpu"})
    with pytest.raises(ConfigError, match=r"^edge config section tensorrt must be a mapping, got list$"):
        edge_config_from_dict({"tensorrt": []})
    with pytest.raises(ConfigError, match=r"^recipe field params.temperature is 'hot'; expected a number$"):
        load_pretrain_recipe(None, {"params.temperature": "hot"})
    with pytest.raises(ConfigError,
                       match=r"^recipe field pos_weight is \[1\]; expected a string or a number$"):
        recipe_from_dict({"pos_weight": [1]})


def test_messages_stay_short_whatever_the_value() -> None:
    with pytest.raises(ConfigError) as err:
        recipe_from_dict({"model": ["x" * 10_000] * 100})
    assert len(str(err.value)) < 200 and str(err.value).endswith("...; expected a string")
    with pytest.raises(ConfigError) as err:
        recipe_from_dict({f"key{i}" * 100: 1 for i in range(1000)})
    assert len(str(err.value)) < 1000


def test_node_parameters_check_metadata_generically() -> None:
    @dataclass(frozen=True)
    class Cfg:
        rate: float = field(default=10.0, metadata=param("Hz.", 1.0, 100.0))
        mode: str = field(default="a", metadata=param("Mode.", choices=("a", "b")))
        topics: tuple[str, ...] = ()

    assert build(Cfg, {"rate": 5, "topics": ["/x"]}, "parameter") == Cfg(5.0, "a", ("/x",))
    with pytest.raises(ConfigError, match=r"^parameter rate is 0.5; expected a value in \[1.0, 100.0\]$"):
        build(Cfg, {"rate": 0.5}, "parameter")
    with pytest.raises(ConfigError, match=r"^parameter mode is 'c'; expected one of a, b$"):
        check_fields(Cfg(mode="c"))
    with pytest.raises(ConfigError, match=r"^parameter topics is \['/x', 3\]; expected a list of strings$"):
        build(Cfg, {"topics": ["/x", 3]}, "parameter")
    with pytest.raises(ConfigError, match=r"^parameter rate is nan; expected a finite number$"):
        check_fields(Cfg(rate=float("nan")))


def test_missing_required_fields_and_sensor_mappings() -> None:
    profile = load_profile("thymio").to_dict()
    del profile["proximity"]["sensors"][0]["yaw"]
    with pytest.raises(ConfigError,
                       match=r"profile section proximity.sensors\[0\] is incomplete: missing yaw"):
        profile_from_dict(profile)
    profile["proximity"]["sensors"] = 3
    with pytest.raises(ConfigError,
                       match=r"proximity.sensors is 3; expected a list of mappings or a mapping"):
        profile_from_dict(profile)


def test_geometry_is_an_enum_read_by_value_and_written_as_text() -> None:
    data = load_profile("sim").to_dict()
    data["labels"]["geometry"] = "grid"
    profile = profile_from_dict(data)
    assert profile.labels.geometry is GeometryKind.GRID and profile.label_geometry().is_grid
    assert profile.to_dict()["labels"]["geometry"] == "grid"
    assert "geometry: grid" in yaml.safe_dump(profile.to_dict())
    data["labels"]["geometry"] = "cone"
    with pytest.raises(ConfigError, match=r"labels.geometry is 'cone'; expected 'sensor_distance' or 'grid'"):
        profile_from_dict(data)


def test_overrides_reach_nested_fields_and_dict_keys() -> None:
    assert parse_overrides(["augment.flip=0", "lr=0.01", "pos_weight=auto"]) == {
        "augment.flip": 0, "lr": 0.01, "pos_weight": "auto"}
    recipe = apply_overrides(Recipe, {"augment.flip": 0, "epochs": 3}, "recipe")
    assert recipe.augment.flip == 0.0 and isinstance(recipe.augment.flip, float) and recipe.epochs == 3
    again = apply_overrides(recipe, {"augment.noise": 0.5}, "recipe")
    assert (again.augment.flip, again.augment.noise, again.epochs) == (0.0, 0.5, 3)
    ssl = apply_overrides(PretrainRecipe(), {"params.temperature": 0.2, "positives.max_dt": 2}, "recipe")
    assert ssl.params == {"temperature": 0.2} and ssl.positives.max_dt == 2.0
    with pytest.raises(ConfigError,
                       match=r"override 'augment.flop': unknown recipe key; known: \['brightness'"):
        apply_overrides(Recipe, {"augment.flop": 1}, "recipe")
    with pytest.raises(ConfigError, match=r"override 'lr\.x': lr has no sub-keys"):
        apply_overrides(Recipe, {"lr.x": 1}, "recipe")
    with pytest.raises(ConfigError, match="expected a finite number"):
        load_recipe(None, parse_overrides(["lr=.nan"]))
    with pytest.raises(ConfigError, match="more than 100000 nodes"):
        parse_overrides(["lr=" + alias_bomb().replace("\n", ", ").join("{}")])


def test_recipes_and_schema_import_without_torch() -> None:
    code = ("import sys, ros_ssl.train.recipe, ros_ssl.ssl.recipe, ros_ssl.ssl, ros_ssl.config.schema, "
            "ros_ssl.edge.config, ros_ssl.nodes.params; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_shipped_recipe_loads() -> None:
    names = sorted(p.name[:-5] for p in RECIPES.iterdir() if p.name.endswith(".yaml"))
    assert names == sorted(p.stem for p in (REPO / "training").glob("*.yaml")) and "quick" in names
    for name in names:
        data = load_yaml(RECIPES / f"{name}.yaml", name)
        recipe = load_pretrain_recipe(name) if "method" in data else load_recipe(name)
        assert recipe.epochs >= 1


def test_torch_free_names_match_the_torch_modules() -> None:
    pytest.importorskip("torch")
    from ros_ssl.config.encoders import ENCODER_NAMES
    from ros_ssl.models import ENCODERS
    from ros_ssl.ssl.methods import METHODS

    assert tuple(ENCODERS) == ENCODER_NAMES
    assert list(METHODS) == list(METHOD_PARAMS)
    for name, cls in METHODS.items():
        sig = inspect.signature(cls.__init__).parameters
        taken = {k: p.annotation for k, p in sig.items() if k not in ("self", "encoder", "image_hw")}
        assert {k: eval(a) for k, a in taken.items()} == METHOD_PARAMS[name], name

