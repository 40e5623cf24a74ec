"""``ros-ssl train`` / ``ros-ssl evaluate`` end to end on a tiny synthetic dataset (seconds on one core)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import ros_ssl.cli.train_cmd  # noqa: F401  (registers train and evaluate)
from ros_ssl.cli.main import app
from ros_ssl.errors import DatasetError
from ros_ssl.train.checkpoint import load_checkpoint
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.synthetic import make_synthetic_dataset

torch.set_num_threads(1)
EPOCHS = 10
FAST = ["--batch-size", "32", "--lr", "0.004", "--set", "bootstrap=100", "--quiet"]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "ds", recordings=8, frames=48,
                                  distance_step=0.1, image_hw=(32, 40))


@pytest.fixture(scope="module")
def run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("runs") / "cnn"
    output = _invoke("train", dataset, "--out", out, "--epochs", EPOCHS, *FAST)
    return out, output


@pytest.mark.slow
def test_train_learns_and_writes_the_run_directory(run: tuple[Path, str]) -> None:
    out, output = run
    for name in ("config.yaml", "metrics.csv", "metrics.json", "auc_vs_distance.png", "samples.png",
                 "checkpoints/best.pt", "checkpoints/last.pt", "checkpoints/encoder.pt"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mean_auc"] > 0.8 and metrics["mean_auc_truth"] > 0.8  # held-out world, chance is 0.5
    assert metrics["split"] == "test" and metrics["counts"]["groups_also_in_training"] == []
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert "mean AUC (known labels)" in output and "center_left" in output


@pytest.mark.slow
def test_evaluate_writes_the_metrics_schema(run: tuple[Path, str], dataset: Path, tmp_path: Path) -> None:
    out, _ = run
    output = _invoke("evaluate", out, dataset, "--split", "all", "--out", tmp_path, "--bootstrap", "50")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert isinstance(metrics["mean_auc"], float)
    assert metrics["sensors"] == ["left", "center_left", "center", "center_right", "right"]
    assert metrics["distances"] == [0.0, 0.1, 0.2, 0.3]
    for key in ("auc", "auc_truth"):
        assert len(metrics[key]) == 5 and all(len(row) == 4 for row in metrics[key])
        assert all(v is None or 0 <= v <= 1 for row in metrics[key] for v in row)
    ci = metrics["auc_ci"]
    assert ci["by"] == "recording" and ci["replicates"] == 50 and ci["mean"][0] <= ci["mean"][1]
    assert metrics["counts"]["recordings"] == 8 and metrics["counts"]["frames"] == 8 * 48
    assert len(metrics["counts"]["groups_also_in_training"]) == 6  # 'all' includes the training worlds
    assert (tmp_path / "auc_vs_distance.png").stat().st_size > 0 and (tmp_path / "samples.png").is_file()
    assert output.splitlines()[0].split() == ["distance", *metrics["sensors"]]


@pytest.mark.slow
def test_resume_continues_and_a_used_out_is_refused(run: tuple[Path, str], dataset: Path,
                                                    tmp_path: Path) -> None:
    out, _ = run
    with pytest.raises(TrainingError, match="already holds a run"):
        _invoke("train", dataset, "--out", out, "--epochs", 1, *FAST)
    copy = tmp_path / "resumed"
    copy.mkdir()
    for f in out.rglob("*"):
        if f.is_file():
            (copy / f.relative_to(out)).parent.mkdir(parents=True, exist_ok=True)
            (copy / f.relative_to(out)).write_bytes(f.read_bytes())
    _invoke("train", dataset, "--out", copy, "--epochs", EPOCHS + 1, "--resume", *FAST)
    rows = list(csv.DictReader((copy / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 2))
    assert load_checkpoint(copy / "checkpoints" / "last.pt")["epoch"] == EPOCHS


@pytest.mark.slow
def test_init_and_freeze_train_only_the_head(run: tuple[Path, str], dataset: Path, tmp_path: Path) -> None:
    out, _ = run
    probe = tmp_path / "probe"
    _invoke("train", dataset, "--out", probe, "--epochs", 1, "--init", out, "--freeze", *FAST)
    pretrained = load_checkpoint(out / "checkpoints" / "encoder.pt")
    best = load_checkpoint(probe / "checkpoints" / "best.pt")["model"]
    assert all(torch.equal(best[f"encoder.{k}"], v) for k, v in pretrained.items())
    assert best["norm.num_batches_tracked"] > 0  # the probe standardises features before its linear head
    with pytest.raises(TrainingError, match="holds a paper_cnn encoder"):
        _invoke("train", dataset, "--out", tmp_path / "other", "--init", out, "--model", "mobilenet_v3_small",
                "--epochs", 1, *FAST)


def test_a_non_finite_loss_stops_with_a_clear_error(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="training loss became nan in epoch 1"):
        _invoke("train", dataset, "--out", tmp_path / "nan", "--epochs", 1,
                "--set", "std=[1.0e-40, 1.0e-40, 1.0e-40]", *FAST)


@pytest.mark.slow
def test_evaluate_on_another_dataset_needs_split_all(run: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = run
    other = make_synthetic_dataset(tmp_path / "other", recordings=3, frames=16, seed=5, distance_step=0.1,
                                   image_hw=(32, 40))
    with pytest.raises(DatasetError, match="shares no recording"):
        _invoke("evaluate", out, other, "--out", tmp_path / "e1", "--bootstrap", "0", "--no-plots")
    _invoke("evaluate", out, other, "--split", "all", "--out", tmp_path / "e2", "--bootstrap", "0",
            "--no-plots")
    metrics = json.loads((tmp_path / "e2" / "metrics.json").read_text())
    assert metrics["counts"]["recordings"] == 3 and "auc_ci" not in metrics
