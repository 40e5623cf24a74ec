"""The launch files, with the real ``launch`` / ``launch_ros`` / ``ros2 launch`` (../shared/ros2-launch).

Statically, through the launch API: every node is ``package="ros_ssl"`` with an exit handler, every parameter
a file passes is declared by its node with the type the file gives it, every launch argument is declared and
used, and each file starts the nodes of its ``ros-ssl run`` node set.
Live, in package form (``ros2 launch ros_ssl <file>``, nothing of the venv on PATH): the nodes come up and
work (the recording ones write a bag that decodes completely by its stored schemas and that ``ros-ssl label``
accepts), SIGINT stops every process cleanly with exit status 0, and a failing node ends the launch with a
non-zero status. Each test has its own ROS_DOMAIN_ID; DDS stays on this machine.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from projecttools import project

pytest.importorskip("rclpy")  # the nodes' modules declare the parameters
from launchtools import (
    FINISHED,
    ROOT,
    VENV,
    Session,
    assert_bag_complete,
    plain_env,
    ros2_tools,
    session,
    small_profile,
)

from ros_ssl.cli.run_cmd import loop_nodes, node_command, node_set
from ros_ssl.config import load_profile
from ros_ssl.nodes.params import param_types

pytestmark = pytest.mark.ros
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
NODE_SET = {"record": "record", "detect": "detect", "sim": "sim-record", "sim_detect": "sim-detect",
            "robot_loop": "sim-loop"}
REQUIRED = {"model": "/models/model"}  # stand-ins for arguments a user must give
BASE_DOMAIN = 200  # this file uses domains 200..209
ROS_SSL = VENV / "bin" / "ros-ssl"


@pytest.fixture(scope="session")
def ros2() -> Path:
    return ros2_tools()


def config_class(executable: str) -> type:
    scripts = project()["scripts"]
    assert executable in scripts, f"{executable} is not a console script in pyproject.toml"
    module = scripts[executable].split(":")[0]
    kind = module.rsplit(".", 1)[1]
    mod = __import__(module, fromlist=["*"])
    return getattr(mod, f"{kind.capitalize()}Config")


def describe(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """The launch arguments (by name) and the Nodes of a launch file, as ``ros2 launch`` loads it."""
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    from launch_ros.actions import Node

    desc = get_launch_description_from_python_launch_file(str(path))
    args = {a.name: a for a in desc.entities if isinstance(a, DeclareLaunchArgument)}
    nodes = [e for e in desc.entities if isinstance(e, Node)]
    assert nodes and len(args) + len(nodes) == len(desc.entities), f"{path.name}: unexpected actions"
    return args, nodes


def node_parameters(node: Any, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """(parameter -> its ParameterValue or literal, parameter -> value launch passes with the argument
    defaults, launch arguments used). launch_ros has no public getter for a Node's parameters."""
    from launch import LaunchContext
    from launch.substitutions import LaunchConfiguration
    from launch_ros.parameter_descriptions import ParameterValue
    from launch_ros.utilities import evaluate_parameters

    context = LaunchContext()

    def text(subs: Any) -> str:
        return "".join(s.perform(context) for s in subs)

    for name, arg in args.items():
        default = arg.default_value
        context.launch_configurations[name] = REQUIRED[name] if default is None else text(default)
    parameters = node._Node__parameters
    described = {text(key): value for params in parameters for key, value in params.items()}
    used = {text(sub.variable_name)
            for value in described.values() if isinstance(value, ParameterValue)
            for sub in value.value if isinstance(sub, LaunchConfiguration)}
    # only now: once evaluated, a ParameterValue's .value is the result, not its substitutions
    evaluated = {k: v for params in evaluate_parameters(context, parameters) for k, v in params.items()}
    return described, evaluated, used


def test_every_node_set_has_a_launch_file() -> None:
    assert sorted(p.name.removesuffix(".launch.py") for p in LAUNCH_FILES) == sorted(NODE_SET)


@pytest.mark.slow
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_starts_declared_nodes_with_declared_parameters(path: Path, ros2: Path) -> None:
    from launch_ros.parameter_descriptions import ParameterValue

    args, nodes = describe(path)
    used: set[str] = set()
    for node in nodes:
        # lib/ros_ssl/<executable> found through the ament index (see setup.py), not PATH
        assert node.node_package == "ros_ssl"
        # a node that exits ends the launch; one that fails makes `ros2 launch` exit 1 (no public getter)
        assert callable(node._ExecuteLocal__on_exit), f"{path.name}: {node.node_executable} has no on_exit"
        cls = config_class(node.node_executable)
        types_ = param_types(cls)
        described, values, uses = node_parameters(node, args)
        assert uses <= set(args), f"{path.name}: {uses - set(args)} used but not declared"
        used |= uses
        for key, value in described.items():
            assert key in types_, f"{path.name}: {node.node_executable} does not declare parameter {key!r}"
            if isinstance(value, ParameterValue):
                assert value.value_type is types_[key], (
                    f"{path.name}: {key} is {types_[key].__name__} in the node")
            assert isinstance(values[key], types_[key]), f"{path.name}: {key} = {values[key]!r}"
        cls(**values).validate()  # the launch defaults make a valid configuration
    assert used == set(args), f"{path.name}: arguments {set(args) - used} are declared but never used"


@pytest.mark.slow
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_matches_its_ros_ssl_run_node_set(path: Path, ros2: Path) -> None:
    args, launched = describe(path)
    nodes = {n.node_executable.removeprefix("ros-ssl-"): node_parameters(n, args)[1] for n in launched}
    name = NODE_SET[path.name.removesuffix(".launch.py")]
    cli = robot_loop_nodes() if name == "sim-loop" else dict(node_set(name, "sim", None, Path("/m"), 0))
    assert sorted(nodes) == sorted(cli)
    for kind, params in cli.items():
        assert set(params) <= set(nodes[kind]), f"{kind}: run sets {set(params)}"
        if "extra_topics" in params:
            assert list(nodes[kind]["extra_topics"]) == list(params["extra_topics"])


def robot_loop_nodes() -> dict[str, dict[str, Any]]:
    """The sim-loop's nodes without the simulator: what robot_loop.launch.py starts on a robot."""
    from ros_ssl.experiments.loop import RobotPaths

    nodes = loop_nodes("sim", RobotPaths(Path("/r"), Path("/d"), Path("/m"), 0, 0.1))
    nodes.pop("simulator")
    nodes["recorder"]["extra_topics"] = ["/tf", "/tf_static", "/detector/model"]  # no simulator topics
    return nodes


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


# --- live: ros2 launch ros_ssl <file> --------------------------------------------------------------------

def launch_cmd(ros2: Path, file: str, **args: object) -> list[str | Path]:
    return [ros2, "launch", "ros_ssl", file, *(f"{k}:={v}" for k, v in args.items())]


def stopped_cleanly(run: Session, nodes: int) -> str:
    """SIGINT to ``ros2 launch``: exit 0, every node finished cleanly, nothing left in its group."""
    code = run.interrupt()
    text = run.text()
    assert code == 0, text[-4000:]
    assert text.count(FINISHED) == nodes, text[-4000:]
    return text


def check_bag(bag: Path, log: str, profile: Path, tmp_path: Path) -> None:
    """Complete (see :func:`launchtools.assert_bag_complete`), and ``ros-ssl label`` makes labelled frames
    of it."""
    assert_bag_complete(bag, log, profile)
    cmd = [ROS_SSL, "label", bag, "--out", tmp_path / "dataset", "--config", profile, "--no-progress"]
    labelled = subprocess.run([str(c) for c in cmd], env=plain_env(), capture_output=True, text=True,
                              timeout=120, check=False)
    assert labelled.returncode == 0, labelled.stdout[-3000:] + labelled.stderr[-3000:]
    frames = re.search(r": (\d+) frames$", labelled.stdout, re.M)
    assert frames and int(frames.group(1)) > 0, labelled.stdout


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return small_profile(tmp_path / "small.yaml")


@pytest.fixture
def model(tmp_path: Path, profile: Path) -> Path:
    from test_nodes_dds import tiny_model_package

    return tiny_model_package(tmp_path / "model", load_profile(profile), 64, 48)


@pytest.mark.slow
def test_sim_launch_records_a_labelable_bag_and_stops_cleanly(ros2: Path, tmp_path: Path,
                                                              profile: Path) -> None:
    bag = tmp_path / "bag"
    cmd = launch_cmd(ros2, "sim.launch.py", profile=profile, out=bag, seed=3)
    with session(cmd, plain_env(BASE_DOMAIN), tmp_path / "launch.log") as run:
        run.wait_for(r"\[simulator\]: world seed 3", r"\[recorder\]: .* written [1-9]")
        log = stopped_cleanly(run, nodes=2)
    check_bag(bag, log, profile, tmp_path)


@pytest.mark.slow
def test_record_launch_records_what_ros2_run_simulator_publishes(ros2: Path, tmp_path: Path,
                                                                 profile: Path) -> None:
    bag, env = tmp_path / "bag", plain_env(BASE_DOMAIN + 1)
    simulator = [ros2, "run", "ros_ssl", "ros-ssl-simulator", "--ros-args", "-p", f"profile:={profile}"]
    with session(simulator, env, tmp_path / "sim.log") as sim, \
            session(launch_cmd(ros2, "record.launch.py", profile=profile, out=bag), env,
                    tmp_path / "launch.log") as run:
        run.wait_for(r"\[recorder\]: .* written [1-9]")
        log = stopped_cleanly(run, nodes=1)
        assert sim.interrupt(group=True) == 0, sim.text()[-3000:]
    check_bag(bag, log, profile, tmp_path)


@pytest.mark.slow
def test_sim_detect_launch_drives_from_the_models_predictions(ros2: Path, tmp_path: Path, profile: Path,
                                                             model: Path) -> None:
    cmd = launch_cmd(ros2, "sim_detect.launch.py", profile=profile, model=model, seed=2)
    with session(cmd, plain_env(BASE_DOMAIN + 2), tmp_path / "launch.log") as run:
        run.wait_for(r"\[detector\]: [1-9]\d* frames \(", timeout=90)
        log = stopped_cleanly(run, nodes=3)
    assert re.search(r"\[detector\]: detector stopped: [1-9]", log), log[-3000:]
    assert re.search(r"\[controller\]: controller stopped after [1-9]\d* commands", log), log[-3000:]


@pytest.mark.slow
def test_detect_launch_loads_the_model_and_stops_cleanly(ros2: Path, tmp_path: Path, profile: Path,
                                                        model: Path) -> None:
    cmd = launch_cmd(ros2, "detect.launch.py", profile=profile, model=model)
    with session(cmd, plain_env(BASE_DOMAIN + 3), tmp_path / "launch.log") as run:
        # "model <id> (<package path>, <variant>, <providers>)": the package the launch argument named
        run.wait_for(rf"\[detector\]: model \S+ \({re.escape(str(model))}, fp32, ")
        log = stopped_cleanly(run, nodes=1)
    assert "[detector]: detector stopped: 0 frames" in log


FAILURES = {  # launch file -> (arguments, the node that fails): the others must be stopped too
    "record.launch.py": ({"profile": "/no/such/profile.yaml"}, "ros-ssl-recorder"),
    "detect.launch.py": ({"model": "/no/such/model"}, "ros-ssl-detector"),
    "sim.launch.py": ({"out": "{tmp}"}, "ros-ssl-recorder"),  # an existing bag directory
    "sim_detect.launch.py": ({"model": "/no/such/model"}, "ros-ssl-detector"),
}


@pytest.mark.slow
@pytest.mark.parametrize("file", sorted(FAILURES))
def test_a_failing_node_ends_the_launch_with_a_non_zero_exit(ros2: Path, tmp_path: Path, profile: Path,
                                                             file: str) -> None:
    args, failing = FAILURES[file]
    args = {"profile": str(profile), **{k: v.format(tmp=tmp_path) for k, v in args.items()}}
    domain = BASE_DOMAIN + 4 + sorted(FAILURES).index(file)
    with session(launch_cmd(ros2, file, **args), plain_env(domain), tmp_path / "launch.log") as run:
        code = run.finish(timeout=90)  # and no node left running
        text = run.text()
        assert code != 0, text[-4000:]
        assert re.search(rf"{failing}-\d+ exited with code [1-9]", text), text[-4000:]


def test_launch_arguments_in_the_docstrings_exist() -> None:
    """The usage line of each file (``ros2 launch ros_ssl <file> a:=b``) names the file and real arguments."""
    for path in LAUNCH_FILES:
        usage = re.search(r"^ +ros2 launch ros_ssl (\S+)(.*)$", path.read_text(), re.M)
        assert usage and usage.group(1) == path.name, path.name
        declared = set(re.findall(r'DeclareLaunchArgument\("(\w+)"', path.read_text()))
        assert {a.split(":=")[0] for a in usage.group(2).split()} <= declared, path.name
