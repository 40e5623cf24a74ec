"""The sim-loop (``ros-ssl run sim-loop``): collisions and swaps read from the bags, loop.json's shape,
the robot side's node parameters, and a quick loop end to end over real DDS (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pytest

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.bag.reader import BagReader
from ros_ssl.bag.streams import WORLD_TOPIC
from ros_ssl.cli.run_cmd import loop_nodes
from ros_ssl.experiments.loop import LoopConfig, RobotPaths, _summary, plot_loop
from ros_ssl.experiments.loop_report import analyse_bags
from ros_ssl.loop import drop_bags
from ros_ssl.loop.learner import RoundResult
from ros_ssl.nodes.controller import ControllerConfig
from ros_ssl.nodes.recorder import RecorderConfig

T0 = 1_700_000_000_000_000_000
WORLD = {"seed": 0, "obstacles": [{"kind": "circle", "center": [0.5, 0.0], "radius": 0.05}]}
ROW_KEYS = {"round": int, "bags": int, "frames": int, "labelled_cells": int, "auc_truth": float,
            "model_sha256": str, "swapped": bool, "swap_ms": float, "frames_dropped_during_swap": int,
            "collisions_per_min": float}


def _status(sha: str, swaps: int, swap_ms: float = 0.0) -> str:
    return json.dumps({"model_id": sha[:4], "path": "/m", "sha256": sha, "variant": "fp32", "swaps": swaps,
                       "swap_ms": swap_ms, "switch_ms": 0.0, "frames_dropped_during_swap": 0, "frames_in": 1,
                       "predictions_out": 1, "failures": 0, "last_error": ""})


def _drive_bag(path: Path, xs: np.ndarray, statuses: dict[int, str], silent: range | None = None) -> Path:
    """Truth poses along +x at 10 Hz, the world, detector statuses at the given sample indices, and a
    controller command at every sample but those in ``silent`` (None: a bag without /cmd_vel)."""
    with BagWriter(path) as w:
        w.write("/sim/world", T0, M.string_msg(json.dumps(WORLD)))
        for k, x in enumerate(xs):
            t = T0 + k * 100_000_000
            if k in statuses:
                w.write("/detector/model", t, M.string_msg(statuses[k]))
            if silent is not None and k not in silent:
                w.write("/cmd_vel", t - 1, M.twist_msg(0.1, 0.0))
            w.write("/sim/ground_truth", t, M.odometry_msg(t, "world", "base_link", float(x), 0.0, 0.0))
    return path


def test_collisions_and_swaps_are_attributed_to_the_model_driving(tmp_path: Path) -> None:
    # Model a drives 6 s and bumps into the cylinder twice (it backs off in between); b drives 4 s freely.
    bump = np.array([0.2, 0.3, 0.38, 0.40, 0.2, 0.3, 0.38, 0.40, 0.2, 0.2])
    free = np.full(40, -0.2)
    bag1 = _drive_bag(tmp_path / "b1", np.concatenate([bump, bump[:2], free[:48 - 12]]),
                      {0: _status("a" * 64, 0)})
    bag2 = _drive_bag(tmp_path / "b2", free, {0: _status("b" * 64, 1, 812.5)})
    found = analyse_bags([bag1, bag2])
    a, b = found.by_sha["a" * 64], found.by_sha["b" * 64]
    assert a.collisions == 2 and not a.swapped
    assert b.collisions == 0 and b.swapped and b.swap_ms == 812.5 and b.frames_dropped == 0
    assert a.seconds == pytest.approx(4.7, abs=0.11) and b.seconds == pytest.approx(3.9, abs=0.11)
    rows = [RoundResult(k, f"round_00{k}", "published", k + 1, 100, 50, [], 0.7 + k / 10, "auc_truth",
                        model_sha256=sha) for k, sha in enumerate(("a" * 64, "b" * 64))]
    summary = _summary(rows, found, 0)
    assert set(summary) == {"rounds", "detector_restarts"}
    for row in summary["rounds"]:
        assert {k: type(v) for k, v in row.items()} == ROW_KEYS
    assert summary["rounds"][0]["collisions_per_min"] == pytest.approx(60 * 2 / a.seconds, abs=0.01)
    plot_loop(summary, tmp_path / "loop.png")
    assert (tmp_path / "loop.png").stat().st_size > 1000


def test_collisions_during_an_exploration_spell_are_not_the_models() -> None:
    # Model c's controller commands every sample but falls silent for 2 s (an exploration spell) in
    # which the data-collection policy bumps into the cylinder twice; then c drives on and bumps once.
    bump = np.array([0.2, 0.3, 0.38, 0.40, 0.2, 0.3, 0.38, 0.40, 0.2, 0.2])
    xs = np.concatenate([np.full(10, -0.2), bump, np.full(10, -0.2), bump[:5], np.full(10, -0.2)])
    with TemporaryDirectory() as tmp:
        found = analyse_bags([_drive_bag(Path(tmp) / "b", xs, {0: _status("c" * 64, 1)},
                                         silent=range(8, 28))])
    c = found.by_sha["c" * 64]
    assert c.collisions == 1
    # 4.4 s of samples; the spell's 2 s, less the last command's 0.5 s in force, go to nobody.
    assert c.seconds == pytest.approx(4.4 - 1.5, abs=0.11)


def test_robot_side_parameters_are_valid_node_configurations() -> None:
    paths = RobotPaths(Path("/r"), Path("/d"), Path("/m"), 3, 0.1)
    nodes = loop_nodes("sim", paths)
    assert sorted(nodes) == ["controller", "detector", "recorder", "simulator"]
    rec = nodes["recorder"]
    RecorderConfig(**{**rec, "extra_topics": tuple(rec["extra_topics"])}).validate()
    assert "/detector/model" in rec["extra_topics"] and "/sim/ground_truth" in rec["extra_topics"]
    ControllerConfig(**nodes["controller"]).validate()
    assert LoopConfig.quick().round_s < LoopConfig().round_s


@pytest.mark.slow
@pytest.mark.ros
def test_quick_sim_loop_swaps_models_without_restart_or_dropped_frame(tmp_path: Path) -> None:
    """Two rounds of seconds each: about 3 minutes on 2 busy cores (the default run: see the README)."""
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "ROS_DOMAIN_ID": str(60 + os.getpid() % 20)}
    out = tmp_path / "loop"
    run = subprocess.run([sys.executable, "-m", "ros_ssl", "run", "sim-loop", "--quick", "--rounds", "2",
                          "--out", str(out)], capture_output=True, text=True, timeout=600, env=env,
                         check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((out / "loop.json").read_text())
    rows = summary["rounds"]
    assert [r["round"] for r in rows] == [0, 1] and summary["detector_restarts"] == 0
    for row in rows:
        assert {k: type(v) for k, v in row.items()} == ROW_KEYS
    assert not rows[0]["swapped"] and rows[1]["swapped"] and rows[1]["frames_dropped_during_swap"] == 0
    # Round 1 drove in two new worlds (one bag each); the last bag is the drive on the final model.
    assert rows[1]["bags"] == 3 and rows[1]["frames"] > rows[0]["frames"]
    worlds = [_world_seed(b.path) for b in drop_bags(out / "drop")]
    assert len(worlds) == 4 and len(set(worlds)) == 4, worlds
    assert (out / "loop.png").is_file() and (out / "models" / "current").is_symlink()


def _world_seed(bag: Path) -> int:
    with BagReader(bag) as reader:
        return int(json.loads(next(iter(reader.messages([WORLD_TOPIC]))).msg.data)["seed"])
