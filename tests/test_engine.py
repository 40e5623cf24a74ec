"""The training engine with a tiny task (least squares on random points), not the detector."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.train.checkpoint import load_checkpoint
from ros_ssl.train.distributed import DistInfo
from ros_ssl.train.engine import Engine, EpochLog, EpochStats, Task
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.recipe import Recipe
from ros_ssl.train.run_config import RunConfig, Split, read_run_config

INFO = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
# 5 steps per epoch over a loader of 3 batches: every epoch cycles the loader.
RECIPE = Recipe(epochs=4, batch_size=8, steps_per_epoch=5, lr=0.05, warmup_epochs=0.5)
FIXED_KEYS = ("model", "image_hw")


class Crash(Exception):
    pass


class LeastSquares(Task):
    """Fit y = x @ w on 24 random points; records its steps, can crash or diverge on request."""

    csv_fields = ("epoch", "loss", "lr", "steps")
    progress_label = "tiny epoch"
    loss_name = "tiny"
    advice = "and try again"

    def __init__(self, crash_at_epoch: int = -1, nan_at_step: int = -1) -> None:
        g = torch.Generator().manual_seed(1)
        x = torch.randn(24, 3, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(24, generator=g)
        sampler = BatchSampler(RandomSampler(range(24), generator=torch.Generator().manual_seed(0)), 8, True)
        self.loader = DataLoader(TensorDataset(x, y), sampler=sampler, batch_size=None)
        self.module = nn.Linear(3, 1)
        self.crash_at_epoch, self.nan_at_step = crash_at_epoch, nan_at_step
        self.steps: list[int] = []
        self.epochs_done = 0

    def training_step(self, net: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        loss: torch.Tensor = ((net(x).squeeze(1) - y) ** 2).mean()
        return loss * math.nan if len(self.steps) == self.nan_at_step else loss

    def batch_images(self, batch: Any) -> int:
        return int(batch[0].shape[0])

    def after_step(self, step: int, total_steps: int) -> None:
        self.steps.append(step)
        assert total_steps == RECIPE.epochs * RECIPE.steps_per_epoch

    def end_epoch(self, stats: EpochStats) -> EpochLog:
        if stats.epoch == self.crash_at_epoch:
            raise Crash  # as if the process died before last.pt of this epoch was written
        self.epochs_done += 1
        return EpochLog([stats.epoch, round(stats.loss, 6), stats.lr, len(self.steps)],
                        f"epoch {stats.epoch}")

    def state(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done}

    def load_state(self, state: dict[str, Any]) -> None:
        self.epochs_done = int(state["epochs_done"])


def _config(model: str = "tiny") -> RunConfig:
    return RunConfig(model=model, image_hw=(4, 4), label_shape=(1, 1),
                     geometry=LabelGeometry.sensor_distance(["s"], [0.0]), mean=(0.5,) * 3, std=(0.25,) * 3,
                     dataset="none", split=Split(("a",), (), ()), groups=Split(), recipe=RECIPE, world_size=1,
                     versions={})


def _fit(out: Path, task: LeastSquares, resume: bool = False,
         config: RunConfig | None = None) -> EpochStats | None:
    engine = Engine(out, config or _config(), FIXED_KEYS, RECIPE, INFO, resume=resume, progress=False)
    return engine.fit(task)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_cycles_the_loader_and_writes_one_metrics_row_per_epoch(tmp_path: Path) -> None:
    task = LeastSquares()
    stats = _fit(tmp_path / "run", task)
    assert stats is not None and stats.epoch == 3 and stats.images == 5 * 8
    assert task.steps == list(range(20))  # 5 steps per epoch from a 3-batch loader
    rows = _rows(tmp_path / "run")
    assert list(rows[0]) == list(task.csv_fields)
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["steps"] for r in rows] == ["5", "10", "15", "20"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) and float(rows[-1]["lr"]) == 0.0
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert set(state) == {"model", "optimizer", "scheduler", "scaler", "epoch", "config", "epochs_done"}
    assert state["epoch"] == 3 and state["epochs_done"] == 4 and state["config"] == _config().to_dict()
    assert read_run_config(tmp_path / "run") == _config()


def test_resume_continues_at_the_next_epoch_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    whole = LeastSquares()
    _fit(tmp_path / "whole", whole)
    with pytest.raises(Crash):
        _fit(tmp_path / "split", LeastSquares(crash_at_epoch=2))
    assert load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["epoch"] == 1

    resumed = LeastSquares()
    _fit(tmp_path / "split", resumed, resume=True)
    # Epochs 2 and 3 ran, with the task's state back.
    assert resumed.steps == list(range(10, 20)) and resumed.epochs_done == 4
    for a, b in zip(whole.module.parameters(), resumed.module.parameters(), strict=True):
        assert torch.equal(a, b)
    assert _rows(tmp_path / "split") == _rows(tmp_path / "whole")[:2] + [
        dict(r, steps=str(int(r["steps"]) - 10)) for r in _rows(tmp_path / "whole")[2:]]
    assert _fit(tmp_path / "split", LeastSquares(), resume=True) is None  # nothing left to run


def test_a_non_finite_loss_stops_with_the_tasks_message(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"the tiny loss became nan in epoch 2 by step 5; lower the "
                                            r"learning rate \(now .*\) and try again"):
        _fit(tmp_path / "nan", LeastSquares(nan_at_step=7))


def test_refuses_a_used_run_directory_and_a_changed_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"cannot resume: .*last\.pt not found"):
        _fit(out, LeastSquares(), resume=True)
    _fit(out, LeastSquares())
    with pytest.raises(TrainingError, match="already holds a run; pass --resume"):
        _fit(out, LeastSquares())
    with pytest.raises(TrainingError, match=r"cannot resume .*: its model differs"):
        _fit(out, LeastSquares(), resume=True, config=_config("other"))
    # Keys outside the fixed ones may change between sessions.
    assert _fit(out, LeastSquares(), resume=True, config=replace(_config(), dataset="moved")) is None
