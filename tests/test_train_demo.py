"""``ros-ssl demo`` orchestration: simulate -> label -> train -> evaluate leaves DIR/metrics.json.

The simulator and labeler are replaced by a synthetic dataset (they have their own tests, and minutes of
simulation do not belong in the suite); the training and evaluation are the real ones.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
import torch
from typer.testing import CliRunner

import ros_ssl.cli.demo_cmd  # registers demo
import ros_ssl.label.pipeline
import ros_ssl.sim.record
from ros_ssl.cli.app import app
from ros_ssl.train.synthetic import make_synthetic_dataset

torch.set_num_threads(1)


@pytest.mark.slow
def test_demo_runs_every_stage_and_leaves_metrics_json(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Autospecced fakes: the demo's calls are checked against the real signatures, and the fakes read the
    # arguments by the real parameter names, so a changed signature fails here instead of passing unnoticed.
    real_simulate, real_label_bags = ros_ssl.sim.record.simulate, ros_ssl.label.pipeline.label_bags

    def fake_simulate(*args: Any, **kwargs: Any) -> None:
        call = inspect.signature(real_simulate).bind(*args, **kwargs).arguments
        Path(call["out"]).mkdir(parents=True)

    def fake_label_bags(*args: Any, **kwargs: Any) -> dict[str, Any]:
        call = inspect.signature(real_label_bags).bind(*args, **kwargs).arguments
        make_synthetic_dataset(call["out"], recordings=len(list(call["paths"])), frames=48, distance_step=0.1)
        return {"failed": []}

    simulate = create_autospec(real_simulate, side_effect=fake_simulate)
    label_bags = create_autospec(real_label_bags, side_effect=fake_label_bags)
    monkeypatch.setattr(ros_ssl.sim.record, "simulate", simulate)
    monkeypatch.setattr(ros_ssl.label.pipeline, "label_bags", label_bags)
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--duration", "5", "--worlds", "6",
                                      "--seed", "3"])
    assert result.exit_code == 0, result.output
    simulated = [inspect.signature(real_simulate).bind(*c.args, **c.kwargs).arguments
                 for c in simulate.call_args_list]
    assert [c["seed"] for c in simulated] == [3, 4, 5, 6, 7, 8]
    assert all(c["duration_s"] == 5 for c in simulated)
    assert label_bags.call_count == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["recordings"] == 2 and metrics["counts"]["groups_also_in_training"] == []
    assert "mean AUC (known labels)" in result.output and '"mean_auc"' in result.output
    assert (out / "run" / "checkpoints" / "best.pt").is_file()

    again = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert "is not empty" in str(again.exception)
