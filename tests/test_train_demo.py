"""``ros-ssl demo`` orchestration: simulate -> label -> train -> evaluate leaves DIR/metrics.json.

The simulator and labeler are replaced by a synthetic dataset (they have their own tests, and minutes of
simulation do not belong in the suite); the training and evaluation are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import ros_ssl.cli.demo_cmd  # noqa: F401  (registers demo)
import ros_ssl.label.pipeline
import ros_ssl.sim.record
from ros_ssl.cli.app import app
from ros_ssl.train.synthetic import make_synthetic_dataset

torch.set_num_threads(1)


def test_demo_runs_every_stage_and_leaves_metrics_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulated: list[tuple[Path, float, int]] = []

    def fake_simulate(out: Path, duration_s: float, seed: int, profile: Any, progress: bool = True) -> None:
        Path(out).mkdir(parents=True)
        simulated.append((Path(out), duration_s, seed))

    def fake_label_bags(paths: list[Path], out: Path, profile: Any, workers: int, progress: bool) -> dict[str, Any]:
        make_synthetic_dataset(out, recordings=len(paths), frames=48, distance_step=0.1)
        return {"failed": []}

    monkeypatch.setattr(ros_ssl.sim.record, "simulate", fake_simulate)
    monkeypatch.setattr(ros_ssl.label.pipeline, "label_bags", fake_label_bags)
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--duration", "5", "--worlds", "6", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert [s for _, _, s in simulated] == [3, 4, 5, 6, 7, 8] and all(d == 5 for _, d, _ in simulated)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["recordings"] == 2 and metrics["counts"]["groups_also_in_training"] == []
    assert "mean AUC (known labels)" in result.output and '"mean_auc"' in result.output
    assert (out / "run" / "checkpoints" / "best.pt").is_file()

    again = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert "is not empty" in str(again.exception)
