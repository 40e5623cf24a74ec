"""``ros-ssl study``: the issue's study.json shape, paired statistics, the split and resuming."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ros_ssl.cli.main import _register, app
from ros_ssl.data import Dataset, load_dataset
from ros_ssl.experiments.study import QUICK, make_view, split_worlds
from ros_ssl.experiments.study_report import Cell, summarise, targets
from ros_ssl.train.metrics import auc_table, mean_auc
from ros_ssl.train.run_config import PretrainRunConfig, read_run_config
from ros_ssl.train.synthetic import make_synthetic_dataset

torch.set_num_threads(1)
_register()
ROW_KEYS = {"encoder", "mode", "fraction", "auc_truth", "auc_truth_ci", "delta_truth", "delta_truth_ci"}


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("study") / "ds", recordings=6, frames=24)


def invoke(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.mark.slow
def test_quick_study_writes_the_issue_shape_and_a_rerun_skips_runs(six: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    args = ("study", "--out", out, "--quick", "--dataset", six, "--methods", "egomotion", "--fractions", "1",
            "--seeds", "2", "--bootstrap", "20")
    text = invoke(*args)
    assert "| egomotion |" in text and "linear probe" in text
    summary = json.loads((out / "study.json").read_text())
    assert set(summary) == {"test_worlds", "frames_test", "seeds", "rows"}
    assert (summary["test_worlds"], summary["frames_test"], summary["seeds"]) == (2, 48, 2)
    assert {(r["encoder"], r["mode"]) for r in summary["rows"]} == {
        (e, m) for e in ("scratch", "egomotion") for m in ("finetune", "probe")}
    for row in summary["rows"]:
        assert set(row) == ROW_KEYS and row["fraction"] == 1.0
        assert len(row["auc_truth_ci"]) == 2 and len(row["delta_truth_ci"]) == 2
        if row["encoder"] == "scratch":
            assert row["delta_truth"] == 0 and row["delta_truth_ci"] == [0, 0]
    assert (out / "study.png").stat().st_size > 0 and (out / "study.md").is_file()
    # SSL saw the labelled and the extra worlds, never a test world; the detector runs saw no test world.
    ssl = read_run_config(out / "pretrain" / "egomotion")
    assert isinstance(ssl, PretrainRunConfig) and Path(ssl.dataset) == (out / "views" / "ssl").resolve()
    ssl_ids = {r["id"] for r in load_dataset(ssl.dataset).recordings}
    test_ids = {r["id"] for r in load_dataset(out / "views" / "test").recordings}
    assert len(test_ids) == 2 and not ssl_ids & test_ids
    assert len(ssl_ids) == 4  # 3 labelled + 1 unlabelled
    finetune = read_run_config(out / "runs" / "egomotion_finetune_100pct_s1")
    assert not finetune.split.all() & test_ids

    scores = out / "runs" / "egomotion_probe_100pct_s0" / "test_scores.npy"
    stamp = scores.stat().st_mtime_ns
    invoke(*args)
    assert scores.stat().st_mtime_ns == stamp  # the rerun trained nothing
    assert json.loads((out / "study.json").read_text()) == summary


def _fake_test(n_rec: int = 4, frames: int = 30) -> Dataset:
    rng = np.random.default_rng(0)
    truth = (rng.random((n_rec * frames, 2, 3)) < 0.3).astype(np.uint8)
    truth[::7, 0, 0] = 255  # some cells without truth
    return cast(Dataset, SimpleNamespace(truth=truth, recording=np.repeat(np.arange(n_rec), frames)))


def test_paired_delta_is_the_seed_mean_of_differences_on_the_same_frames(tmp_path: Path) -> None:
    test = _fake_test()
    truth = np.asarray(test.truth)
    labels, mask = (truth == 1).astype(np.uint8), truth != 255
    rng = np.random.default_rng(1)
    cells, points = [], {}
    for encoder, signal in (("scratch", 0.5), ("ssl", 1.5)):
        for seed in (0, 1):
            scores = signal * labels + rng.normal(size=truth.shape)
            path = tmp_path / f"{encoder}_{seed}" / "test_scores.npy"
            path.parent.mkdir()
            np.save(path, scores.astype(np.float16))
            points[encoder, seed] = mean_auc(auc_table(scores.astype(np.float16).astype(np.float32), labels,
                                                       mask))
            cells.append(Cell(encoder, "finetune", 0.2, seed, path))
    summary, details = summarise(cells, test, 200)
    assert (summary["test_worlds"], summary["frames_test"], summary["seeds"]) == (4, 120, 2)
    scratch, ssl = summary["rows"]
    assert scratch["encoder"] == "scratch" and scratch["delta_truth"] == 0
    expected = np.mean([points["ssl", s] - points["scratch", s] for s in (0, 1)])
    assert ssl["delta_truth"] == pytest.approx(expected, abs=1e-4)
    assert ssl["auc_truth"] == pytest.approx(np.mean([points["ssl", s] for s in (0, 1)]), abs=1e-4)
    lo, hi = ssl["delta_truth_ci"]
    assert 0 < lo <= ssl["delta_truth"] <= hi  # a clear, consistent gain: the paired interval is above 0
    assert details["per_seed"][1]["seeds"] == [0, 1]
    # The statistics are cached next to the scores and read back unchanged.
    assert (tmp_path / "ssl_0" / "test_stats.npz").is_file()
    assert summarise(cells, test, 200)[0] == summary


def _row(encoder: str, mode: str, fraction: float, auc: float, delta: float,
         ci: tuple[float, float]) -> dict[str, Any]:
    return {"encoder": encoder, "mode": mode, "fraction": fraction, "auc_truth": auc,
            "auc_truth_ci": [auc - 0.01, auc + 0.01], "delta_truth": delta, "delta_truth_ci": list(ci)}


def test_targets_judge_the_ratio_and_the_paired_interval() -> None:
    rows = [_row("scratch", "finetune", 1.0, 0.90, 0.0, (0, 0)),
            _row("scratch", "finetune", 0.2, 0.80, 0.0, (0, 0)),
            _row("simclr", "finetune", 0.2, 0.86, 0.06, (0.02, 0.09)),
            _row("simclr", "probe", 0.2, 0.87, 0.30, (0.25, 0.35)),
            _row("simclr", "finetune", 0.05, 0.70, 0.01, (-0.01, 0.03))]
    t = targets(rows)
    assert t["ratio_at_20pct"]["best"] == "simclr (probe)" and math.isclose(t["ratio_at_20pct"]["ratio"],
                                                                             round(0.87 / 0.90, 4))
    assert t["ratio_at_20pct"]["met"] is True
    assert t["beats_scratch_at_20pct"]["met"] is True
    assert t["beats_scratch_at_5pct"]["met"] is False  # interval reaches below 0; the probe does not count


def test_split_worlds_keeps_parts_disjoint_and_views_link_shards(six: Path, tmp_path: Path) -> None:
    split = split_worlds(six, QUICK)
    assert (len(split.test), len(split.unlabelled), len(split.labelled)) == (2, 1, 3)
    assert not set(split.test) & set(split.labelled + split.unlabelled)
    view = make_view(six, tmp_path / "view", split.test)
    ds = load_dataset(view)
    assert [r["id"] for r in ds.recordings] == sorted(split.test) and len(ds) == 48
    assert make_view(six, tmp_path / "view", split.test) == view  # an existing view is kept
