"""Launch files, checked without ``ros2 launch``: each is executed against tiny stand-ins for ``launch`` and
``launch_ros`` that record what it asks for. Every executable must be one of our console scripts, every
parameter must be declared by that node with a default of the right type, every argument used must be
declared, and each file must start the same nodes as its ``ros-ssl run`` node set.
"""

from __future__ import annotations

import runpy
import sys
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

pytest.importorskip("rclpy")  # the nodes' modules declare the parameters

from ros_ssl.cli.run_cmd import node_command, node_set
from ros_ssl.nodes.params import param_types

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
NODE_SET = {"record": "record", "detect": "detect", "sim": "sim-record", "sim_detect": "sim-detect"}
REQUIRED = {"model": "/models/model"}  # stand-ins for arguments a user must give


@dataclass
class Arg:
    name: str
    default_value: str | None = None
    description: str = ""


@dataclass
class Config:
    name: str


@dataclass
class Value:
    value: Any
    value_type: type | None = None


@dataclass
class Description:
    actions: list[Any]


class FakeNode:
    def __init__(self, *, executable: str, name: str, parameters: list[dict[str, Any]] = (),
                 output: str = "log", package: str | None = None, **rest: Any) -> None:
        self.executable, self.name, self.package = executable, name, package
        self.parameters = {k: v for p in parameters for k, v in p.items()}
        self.rest = rest


def fake_modules() -> dict[str, types.ModuleType]:
    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    return {
        "launch": module("launch", LaunchDescription=Description),
        "launch.actions": module("launch.actions", DeclareLaunchArgument=Arg),
        "launch.substitutions": module("launch.substitutions", LaunchConfiguration=Config),
        "launch_ros": module("launch_ros"),
        "launch_ros.actions": module("launch_ros.actions", Node=FakeNode),
        "launch_ros.parameter_descriptions": module("launch_ros.parameter_descriptions",
                                                    ParameterValue=Value),
    }


def load(path: Path, monkeypatch: pytest.MonkeyPatch) -> Description:
    for name, mod in fake_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    return runpy.run_path(str(path))["generate_launch_description"]()


def launch_value(arg: Arg, kind: type) -> Any:
    """The value an argument gives a parameter of type ``kind`` (a stand-in for required arguments)."""
    raw = REQUIRED[arg.name] if arg.default_value is None else arg.default_value
    return raw if kind is str else kind(yaml.safe_load(raw))


def config_class(executable: str) -> type:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert executable in scripts, f"{executable} is not a console script in pyproject.toml"
    module = scripts[executable].split(":")[0]
    kind = module.rsplit(".", 1)[1]
    mod = __import__(module, fromlist=["*"])
    return getattr(mod, f"{kind.capitalize()}Config")


def test_every_node_set_has_a_launch_file() -> None:
    assert sorted(p.name.removesuffix(".launch.py") for p in LAUNCH_FILES) == sorted(NODE_SET)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_declared_nodes_with_declared_parameters(path: Path, monkeypatch) -> None:
    desc = load(path, monkeypatch)
    args = {a.name: a for a in desc.actions if isinstance(a, Arg)}
    nodes = [a for a in desc.actions if isinstance(a, FakeNode)]
    assert nodes and len(args) + len(nodes) == len(desc.actions)
    used: set[str] = set()
    for node in nodes:
        # pip-installed console scripts are found on PATH, not in an ament package
        assert node.package is None
        cls = config_class(node.executable)
        types_ = param_types(cls)
        values = {}
        for key, value in node.parameters.items():
            assert key in types_, f"{path.name}: {node.name} does not declare parameter {key!r}"
            if isinstance(value, Value):
                assert isinstance(value.value, Config) and value.value.name in args, \
                    f"{path.name}: {key} uses an undeclared launch argument"
                used.add(value.value.name)
                assert value.value_type is types_[key], (
                    f"{path.name}: {key} is {types_[key].__name__} in the node")
                values[key] = launch_value(args[value.value.name], value.value_type)
            else:
                assert isinstance(value, list if types_[key] is tuple else types_[key]), f"{path.name}: {key}"
                values[key] = tuple(value) if types_[key] is tuple else value
        cls(**values).validate()  # the launch defaults make a valid configuration
    assert used == set(args), f"{path.name}: arguments {set(args) - used} are declared but never used"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_matches_its_ros_ssl_run_node_set(path: Path, monkeypatch) -> None:
    desc = load(path, monkeypatch)
    nodes = {a.executable.removeprefix("ros-ssl-"): a for a in desc.actions if isinstance(a, FakeNode)}
    cli = dict(node_set(NODE_SET[path.name.removesuffix(".launch.py")], "sim", None, Path("/m"), 0))
    assert sorted(nodes) == sorted(cli)
    for kind, params in cli.items():
        assert set(params) <= set(nodes[kind].parameters), f"{kind}: run sets {set(params)}"
        if "extra_topics" in params:
            assert list(nodes[kind].parameters["extra_topics"]) == list(params["extra_topics"])


def test_every_parameter_has_a_description() -> None:
    for exe in ("ros-ssl-recorder", "ros-ssl-simulator", "ros-ssl-detector", "ros-ssl-controller"):
        for f in fields(config_class(exe)):
            assert f.metadata.get("description"), f"{exe}: parameter {f.name} has no description"


def test_run_passes_parameters_as_typed_ros_arguments() -> None:
    cmd = node_command("recorder", {"out": "123", "profile": "sim", "extra_topics": ["/a", "/b"], "seed": 3,
                                    "fsync": False, "flush_interval": 0.5}, ["-r", "/odom:=/x"])
    assert cmd[1:4] == ["-m", "ros_ssl.nodes.recorder", "--ros-args"]
    assert cmd[4:] == ["-p", "out:='123'", "-p", "profile:=sim", "-p", "extra_topics:=[/a, /b]",
                       "-p", "seed:=3", "-p", "fsync:=false", "-p", "flush_interval:=0.5", "-r", "/odom:=/x"]
