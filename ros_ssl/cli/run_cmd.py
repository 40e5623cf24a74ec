"""``ros-ssl run NODESET``: a launch file's nodes as child processes, for machines without ``ros2 launch``.

Example::

    ros-ssl run sim-record --duration 30 --out runs/sim_live --seed 3
    ros-ssl label runs/sim_live --out runs/live_dataset
    ros-ssl run sim-detect --model runs/demo/model --duration 60

Node sets (same nodes and parameters as ``launch/<set>.launch.py``):
  record      recorder                              (on a robot: its drivers publish the topics)
  detect      detector                              (on a robot: camera in, predictions out)
  sim-record  simulator + recorder (+ /sim/world, /sim/ground_truth, so the bag can be labelled)
  sim-detect  simulator + detector + controller     (the robot drives from its predictions alone)
  sim-loop    sim-detect + recorder handing bags to a learner, which publishes better models the
              detector swaps to (``launch/robot_loop.launch.py`` is its robot side): ``--rounds N --out DIR``

Each node runs in its own process, as under ``ros2 launch``; Ctrl-C (or ``--duration``) sends them SIGINT,
which closes the bag completely. If ``ros-ssl run`` itself dies, even by SIGKILL, the kernel sends each
node SIGTERM (Linux), so none is left running and the bag is still closed. Extra ROS arguments go after
``--ros-args`` and reach every node (e.g. ``--ros-args -r /odom:=/robot/odom``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt, check_writable
from ros_ssl.errors import ConfigError

if TYPE_CHECKING:
    from ros_ssl.experiments.loop import RobotPaths

NODE_SETS = ("record", "detect", "sim-record", "sim-detect", "sim-loop")
SIM_TOPICS = ["/tf", "/tf_static", "/sim/world", "/sim/ground_truth"]


def node_set(name: str, profile: str, out: Path | None, model: Path | None, seed: int
             ) -> list[tuple[str, dict[str, Any]]]:
    """(node kind, parameter overrides) for each node of set ``name``, recorder first."""
    if name not in NODE_SETS or name == "sim-loop":
        raise ConfigError(f"unknown node set {name!r}; expected one of {', '.join(NODE_SETS)}")
    needs_model = name in ("detect", "sim-detect")
    if needs_model and model is None:
        raise ConfigError(f"node set {name} runs the detector: give its model package with --model DIR")
    if out is not None and Path(out).exists():
        raise ConfigError(f"bag {out} already exists; choose another --out or delete it first")
    nodes: list[tuple[str, dict[str, Any]]] = []
    if name in ("record", "sim-record"):
        rec: dict[str, Any] = {"profile": profile, "out": str(out or "")}
        if name == "sim-record":
            rec["extra_topics"] = SIM_TOPICS
        nodes.append(("recorder", rec))
    if name.startswith("sim-"):
        nodes.append(("simulator", {"profile": profile, "seed": seed}))
    if needs_model:
        nodes.append(("detector", {"profile": profile, "model": str(model)}))
    if name == "sim-detect":
        nodes.append(("controller", {"profile": profile}))
    return nodes


def loop_nodes(profile: str, paths: RobotPaths) -> dict[str, dict[str, Any]]:
    """The sim-loop's robot side (as ``launch/robot_loop.launch.py`` plus the simulator): node -> parameters.

    The recorder also records the ground truth, the controller's commands and the detector's status,
    from which the loop counts collisions (while the model drove) and swaps."""
    return {
        "simulator": {"profile": profile, "seed": paths.seed},
        "recorder": {"profile": profile, "out": str(paths.recording),
                     "drop_dir": str(paths.drop), "bag_prefix": "robot",
                     "extra_topics": [*SIM_TOPICS, "/detector/model", "/cmd_vel"]},
        "detector": {"profile": profile, "models_dir": str(paths.models)},
        "controller": {"profile": profile, "explore": paths.explore},
    }


def node_command(kind: str, params: dict[str, Any], ros_args: Sequence[str] = ()) -> list[str]:
    """The command line that starts node ``kind`` with ``params`` (as ``ros2 launch`` would)."""
    args = ["--ros-args"]
    for key, value in params.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()
        args += ["-p", f"{key}:={text}"]
    return [sys.executable, "-m", f"ros_ssl.nodes.{kind}", *args, *ros_args]


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context,
        nodeset: str = typer.Argument(..., help=f"One of: {', '.join(NODE_SETS)}."),
        duration: float = typer.Option(0.0, help="Stop after this many seconds (0: run until Ctrl-C)."),
        out: Path | None = typer.Option(None, help="Bag directory the recorder creates (default "
                                                      "./recording_<date>_<time>)."),
        model: Path | None = typer.Option(None, help="Model package directory (detect, sim-detect)."),
        seed: int = typer.Option(0, help="Simulated world seed (sim-record, sim-detect, sim-loop)."),
        rounds: int = typer.Option(3, help="sim-loop: learning rounds (round 0 is the first model)."),
        quick: bool = typer.Option(False, help="sim-loop: rounds of seconds instead of minutes (a smoke "
                                               "test; the AUC need not rise)."),
        config: ConfigOpt = None) -> None:
    """Run a node set (the nodes of a launch file), one process per node; Ctrl-C stops them all."""
    from ros_ssl.config import load_profile
    from ros_ssl.nodes.runtime import run_processes

    if duration < 0:
        raise ConfigError(f"--duration is {duration}; expected seconds >= 0")
    profile = config or "sim"
    load_profile(profile)  # a bad profile fails here, before any node starts
    ros_args = list(ctx.args)
    if ros_args and ros_args[0] == "--ros-args":
        ros_args = ros_args[1:]
    if nodeset == "sim-loop":
        _sim_loop(profile, out or Path("sim_loop"), seed, rounds, quick, ros_args)
        return
    nodes = node_set(nodeset, profile, out, model, seed)
    commands = [node_command(kind, params, ros_args) for kind, params in nodes]
    code = run_processes(commands, duration)
    if code:
        raise typer.Exit(code)
    if out is not None:
        typer.echo(f"wrote {out}")


def _sim_loop(profile: str, out: Path, seed: int, rounds: int, quick: bool, ros_args: Sequence[str]) -> None:
    from dataclasses import replace

    from ros_ssl.config import load_profile
    from ros_ssl.experiments.loop import LoopConfig, run_loop
    from ros_ssl.nodes.runtime import NodeGroup

    class LoopRobot(NodeGroup):
        def __init__(self, paths: RobotPaths) -> None:
            self.paths = paths
            super().__init__({kind: node_command(kind, params, ros_args)
                              for kind, params in loop_nodes(profile, paths).items()})

        def new_world(self, seed: int) -> None:
            nodes = loop_nodes(profile, replace(self.paths, seed=seed))
            self.restart_with({kind: node_command(kind, nodes[kind], ros_args)
                               for kind in ("recorder", "simulator")})

    cfg = replace(LoopConfig.quick(rounds) if quick else LoopConfig(rounds=rounds), seed=seed)
    check_writable(out)
    summary = run_loop(out, load_profile(profile), cfg, LoopRobot, log=typer.echo)
    for row in summary["rounds"]:
        typer.echo(json.dumps(row))
    typer.echo(f"detector restarts: {summary['detector_restarts']}; wrote {out / 'loop.json'}, "
               f"{out / 'loop.png'}")
