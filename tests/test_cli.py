"""The command line: every stage is reachable, documented, and cheap to start (no torch, rclpy, pybullet)."""

import re
import subprocess
import sys
from pathlib import Path

import typer.main
from projecttools import project
from typer.testing import CliRunner

import ros_ssl
from ros_ssl.cli.main import _register, app

ROOT = Path(__file__).resolve().parents[1]
# The options and arguments each command is known by (README, scripts): renaming one must fail here.
KNOWN = {
    "inspect": {"bag", "--config", "--strict"},
    "simulate": {"--out", "--duration", "--seed", "--config", "--workers", "-j", "--progress", "--sensors",
                 "--max-range", "--scan", "--camera-hz", "--proximity-hz", "--odometry-hz"},
    "profile": set(),  # a group: its subcommands' options are checked in tests/test_profile_suggest.py
    "label": {"bags", "--out", "--config", "--workers", "-j", "--report", "--dry-run", "--executor",
              "--address"},
    "label-stats": {"dataset", "--out"},
    "dataset": set(),  # a group: its subcommands' options are checked in tests/faults/test_dataset_faults.py
    "train": {"dataset", "--out", "--recipe", "--model", "--epochs", "--init", "--freeze", "--resume",
              "--set"},
    "evaluate": {"run", "dataset", "--split", "--checkpoint", "--out", "--bootstrap"},
    "demo": {"--out", "--duration", "--worlds", "--seed", "--recipe"},
    "pretrain": {"dataset", "--out", "--method", "--recipe", "--epochs", "--set", "--resume"},
    "embed": {"run", "dataset", "--out", "--queries", "--k", "--exclude-s"},
    "study": {"--out", "--dataset", "--quick", "--methods", "--fractions", "--modes", "--seeds",
              "--test-worlds", "--unlabelled-worlds", "--pretrain-batch", "--pretrain-per-seed",
              "--bootstrap"},
    "export": {"run", "--out", "--variants", "--auc-tolerance", "--force"},
    "infer": {"model", "bag", "--out", "--variant", "--providers"},
    "run": {"nodeset", "--duration", "--out", "--model", "--config", "--rounds", "--quick"},
    "learn": {"--drop", "--models", "--dataset", "--holdout", "--work", "--recipe", "--epochs", "--lr",
              "--retrain", "--tolerance", "--poll", "--once", "--config"},
    "models": set(),  # a group: list and rollback, exercised in tests/test_learner.py
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ros_ssl", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def test_help_lists_every_stage_and_each_stage_documents_its_options() -> None:
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    _register()
    commands = typer.main.get_group(app).commands
    assert set(commands) == set(KNOWN)
    for name, command in commands.items():
        assert _mentions(out.stdout, name), name
        declared = {n for p in command.params for n in (*p.opts, *p.secondary_opts)}
        assert KNOWN[name] <= declared, (name, KNOWN[name] - declared)
        # In-process (a subprocess per command costs a second of imports each); wide enough not to wrap.
        sub = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert sub.exit_code == 0, sub.output
        assert "Usage: " in sub.output and _mentions(sub.output, "--help")
        assert " ".join(command.help.split()[:4]) in " ".join(sub.output.split()), name
        missing = sorted(n for n in declared if not _mentions(sub.output, n))
        assert not missing, (name, missing)


def test_cli_start_up_imports_no_heavy_layer() -> None:
    code = ("import sys; from ros_ssl.cli.main import _register; _register(); "
            "print(sorted(m for m in ('torch', 'rclpy', 'pybullet', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_version() -> None:
    out = _run("--version")
    meta = project()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ros_ssl.__version__ == meta["version"]


def test_robot_side_never_imports_torch() -> None:
    """Dependency rule: bag I/O, labeler, dataset, edge runtime and nodes run on a robot without torch."""
    mods = ["ros_ssl.bag.streams", "ros_ssl.label.pipeline", "ros_ssl.data", "ros_ssl.edge.runtime",
            "ros_ssl.nodes.recorder", "ros_ssl.nodes.detector", "ros_ssl.nodes.controller",
            "ros_ssl.nodes.simulator"]
    code = (f"import importlib, sys; [importlib.import_module(m) for m in {mods!r}]; "
            "print('torch' in sys.modules, 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
