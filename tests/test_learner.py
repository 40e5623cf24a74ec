"""The learner (ros_ssl.loop): rounds, idempotent labelling, atomic publishing, rollback, and its faults.

Small simulated bags (seed 2 meets obstacles early) stand in for the recorder's hand-off; one world is
held out and labelled once. Faults: a bag cut mid-write in the drop folder, the models folder failing
for a moment and for good, a broken package dropped into the models folder, the learner killed in the
middle of a round and started again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ros_ssl.cli.main import _register, app
from ros_ssl.config import load_profile
from ros_ssl.data import load_dataset
from ros_ssl.errors import ModelPackageError
from ros_ssl.label.pipeline import label_bags
from ros_ssl.loop import ModelsDir, bag_problem, drop_bags
from ros_ssl.loop.learner import Learner, LearnerConfig
from ros_ssl.loop.models import CURRENT
from ros_ssl.sim.record import simulate
from ros_ssl.train.recipe import load_recipe

pytestmark = pytest.mark.slow  # simulated bags, training and export: about 40 s in all
PROFILE = load_profile("sim")
RECIPE = {"epochs": 2, "batch_size": 32, "bootstrap": 10}


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three 12 s bags: a and b go through the drop folder, h is the held-out world (labelled)."""
    root = tmp_path_factory.mktemp("bags")
    out = {name: simulate(root / f"bag_{name}", 12.0, seed, PROFILE, progress=False).path
           for name, seed in (("a", 2), ("b", 3), ("h", 4))}
    label_bags([out["h"]], root / "holdout", PROFILE, 1, progress=False)
    out["holdout"] = root / "holdout"
    return out


def _learner(tmp: Path, bags: dict[str, Path], **kw: object) -> Learner:
    cfg = LearnerConfig(drop=tmp / "drop", models=tmp / "models", dataset=tmp / "dataset",
                        holdout=bags["holdout"], work=tmp / "work", profile=PROFILE,
                        recipe=load_recipe("quick", RECIPE), finetune_epochs=1, **kw)  # type: ignore[arg-type]
    return Learner(cfg, log=lambda _: None)


def _drop(tmp: Path, bag: Path) -> Path:
    (tmp / "drop").mkdir(exist_ok=True)
    return Path(shutil.copytree(bag, tmp / "drop" / bag.name))


def test_rounds_publish_atomically_keep_history_and_roll_back(tmp_path: Path, bags: dict[str, Path]) -> None:
    learner = _learner(tmp_path, bags, tolerance=1.0)
    assert learner.step() is None  # empty drop folder: nothing to do
    _drop(tmp_path, bags["a"])
    first = learner.step()
    assert first is not None and first.outcome == "published", first
    assert first.metric == "auc_truth" and first.score is not None and first.current_score is None
    models = ModelsDir(tmp_path / "models")
    assert models.current() == "round_000" and (tmp_path / "models" / CURRENT).is_symlink()
    assert learner.step() is None  # nothing new: no round, nothing labelled twice
    _drop(tmp_path, bags["b"])
    second = learner.step()
    assert second is not None and second.outcome == "published" and second.current_score is not None
    assert models.current() == "round_001" and second.bags == 2
    run = json.loads((tmp_path / "models" / "round_001" / "metadata.json").read_text())["run"]["dir"]
    cfg = (Path(run) / "config.yaml").read_text()
    assert "init_head: true" in cfg and "round_000" in cfg  # fine-tuned from the whole previous detector
    assert [r["event"] for r in models.history()] == ["publish", "publish"]
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]
    # A broken package dropped into the folder: listed as broken, never chosen by rollback.
    shutil.copytree(tmp_path / "models" / "round_000", tmp_path / "models" / "round_000b")
    (tmp_path / "models" / "round_000b" / "model.onnx").write_bytes(b"broken")
    _register()
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--models", str(tmp_path / "models")])
    assert listed.exit_code == 0 and "* round_001" in listed.output and "BROKEN" in listed.output
    with pytest.raises(ModelPackageError, match="round_000b"):
        models.rollback("round_000b")
    done = runner.invoke(app, ["models", "rollback", "--models", str(tmp_path / "models")])
    assert done.exit_code == 0, done.output
    assert models.current() == "round_000" and models.history()[-1]["event"] == "rollback"


def test_retrain_trains_each_round_from_scratch_on_every_recording(tmp_path: Path,
                                                                  bags: dict[str, Path]) -> None:
    learner = _learner(tmp_path, bags, tolerance=1.0, retrain=True)
    for name in ("a", "b"):
        _drop(tmp_path, bags[name])
        result = learner.step()
        assert result is not None and result.outcome == "published", result
    assert result.bags == 2 and ModelsDir(tmp_path / "models").current() == "round_001"
    run = json.loads((tmp_path / "models" / "round_001" / "metadata.json").read_text())["run"]["dir"]
    cfg = (Path(run) / "config.yaml").read_text()
    assert "init_head: false" in cfg and "init: ''" in cfg  # from scratch, not from round_000
    assert len(load_dataset(tmp_path / "dataset").recordings) == 2


def test_cut_bag_is_skipped_and_counted_never_labelled(tmp_path: Path, bags: dict[str, Path]) -> None:
    bag = _drop(tmp_path, bags["a"])
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])  # a copy cut mid-write
    (tmp_path / "drop" / ".incoming-x").mkdir()  # in flight: never read
    assert "MCAP magic" in bag_problem(bag) and [b.id for b in drop_bags(tmp_path / "drop")] == [bag.name]
    learner = _learner(tmp_path, bags)
    assert learner.step() is None
    assert learner.skipped_bags == 1 and not (tmp_path / "dataset").exists()
    assert learner.label_new() == 0  # same size: not looked at again
    shutil.rmtree(bag)
    _drop(tmp_path, bags["a"])  # the copy finished: labelled now
    assert learner.label_new() == 1 and learner.skipped_bags == 0


def test_models_folder_failing_for_a_moment_then_for_good(tmp_path: Path, bags: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _drop(tmp_path, bags["a"])
    learner = _learner(tmp_path, bags, tolerance=1.0)
    real_copy = ModelsDir._copy_in
    calls: list[str] = []

    def flaky(self: ModelsDir, package: Path, model_id: str) -> None:
        calls.append(model_id)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", str(self.path))
        real_copy(self, package, model_id)

    monkeypatch.setattr(ModelsDir, "_copy_in", flaky)
    monkeypatch.setattr("ros_ssl.loop.models.time.sleep", lambda _: None)
    assert learner.step().outcome == "published" and len(calls) == 2  # type: ignore[union-attr]

    def broken(self: ModelsDir, package: Path, model_id: str) -> None:
        raise PermissionError(13, "Permission denied", str(self.path))

    monkeypatch.setattr(ModelsDir, "_copy_in", broken)
    _drop(tmp_path, bags["b"])
    failed = learner.step()
    assert failed is not None and failed.outcome == "publish_failed"
    assert "current stays round_000" in failed.error
    assert ModelsDir(tmp_path / "models").current() == "round_000"
    assert [r["model_id"] for r in ModelsDir(tmp_path / "models").history()] == ["round_000"]


def test_learner_killed_mid_round_continues_after_restart(tmp_path: Path, bags: dict[str, Path]) -> None:
    _drop(tmp_path, bags["a"])
    _drop(tmp_path, bags["b"])
    args = [sys.executable, "-m", "ros_ssl", "learn", "--drop", str(tmp_path / "drop"),
            "--models", str(tmp_path / "models"), "--dataset", str(tmp_path / "dataset"),
            "--holdout", str(bags["holdout"]), "--work", str(tmp_path / "work"), "--once", "--tolerance", "1"]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model: paper_cnn\nepochs: 30\nbatch_size: 16\nbootstrap: 10\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two torch threads on two busy cores crawl
    proc = subprocess.Popen([*args, "--recipe", str(recipe)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    metrics = tmp_path / "work" / "runs" / "round_000" / "metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    trained = metrics.is_file() and metrics.read_text().count("\n") >= 2
    os.kill(proc.pid, signal.SIGKILL)  # mid-training: labelled, not published
    proc.wait()
    assert trained, "the learner wrote no epoch in 120 s"
    assert ModelsDir(tmp_path / "models").current() is None
    labelled = [r["id"] for r in load_dataset(tmp_path / "dataset").recordings]
    recipe.write_text("model: paper_cnn\nepochs: 2\nbatch_size: 16\nbootstrap: 10\n")
    out = subprocess.run([*args, "--recipe", str(recipe)], capture_output=True, text=True, timeout=300,
                         check=False, env=env)
    assert out.returncode == 0, out.stderr
    assert "round 0: published round_000" in out.stdout
    assert [r["id"] for r in load_dataset(tmp_path / "dataset").recordings] == labelled  # no duplicate
    state = json.loads((tmp_path / "work" / "state.json").read_text())
    assert [r["outcome"] for r in state["rounds"]] == ["published"] and len(labelled) == 2
