"""The one training loop, for the detector and every SSL method.

Shaped like torchvision's reference recipes with Lightning's ``training_step``: a ``Task`` supplies only
what is its own (its module and loader, the loss of one batch, what follows a step, the end-of-epoch
work and what its checkpoint holds beyond the engine's); ``Engine`` owns the rest: the run-directory
guard, seeding, DistributedDataParallel, channels_last, AdamW with a per-step warm-up/cosine schedule,
mixed precision, checkpoints and resume, metrics.csv, the non-finite-loss check and rank-0 writing::

    engine = Engine(out, config, FIXED_KEYS, recipe, info, resume=resume, progress=progress)
    task = MyTask(...)  # built after the engine seeded the generators: its initial weights follow the seed
    engine.fit(task)

``checkpoints/last.pt`` holds {model, optimizer, scheduler, scaler, epoch, config} plus the task's
``state()``; a resumed run continues at the epoch after it. Only rank 0 writes; the other processes of a
torchrun launch train alongside and meet it at the barrier after every epoch.
"""

from __future__ import annotations

import csv
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ros_ssl.train.checkpoint import load_checkpoint, save_checkpoint
from ros_ssl.train.data import set_epoch
from ros_ssl.train.distributed import DistInfo, barrier
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.run_config import AnyRunConfig, read_run_config, write_run_config
from ros_ssl.train.runs import autocast, mixed_precision, optimizer_step, seed_everything, warmup_cosine

METRICS = "metrics.csv"
# The running loss is checked (a GPU sync) every this many steps and at the end of each epoch.
CHECK_EVERY = 20


class LoopRecipe(Protocol):
    """The recipe fields the loop reads; ``Recipe`` and ``PretrainRecipe`` both have them."""

    @property
    def epochs(self) -> int: ...
    @property
    def steps_per_epoch(self) -> int: ...  # 0 = one pass over the loader
    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def warmup_epochs(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def amp(self) -> bool: ...
    @property
    def channels_last(self) -> bool: ...


@dataclass(frozen=True)
class EpochStats:
    """What the loop measured in one epoch (this process's figures)."""

    epoch: int  # 0-based
    epochs: int
    loss: float  # mean training loss over the epoch's steps
    images: int
    seconds: float
    lr: float  # after the epoch's last step
    world_size: int

    @property
    def images_per_s(self) -> float:
        """Throughput of the whole run (every process trains on as many images)."""
        return self.images * self.world_size / self.seconds


@dataclass(frozen=True)
class EpochLog:
    """A task's account of an epoch: its metrics.csv row and its progress line."""

    row: list[Any]
    line: str


class Task(ABC):
    """What one kind of training supplies to the engine; subclasses set these attributes in ``__init__``."""

    module: nn.Module  # trained and checkpointed as "model"; the engine moves it to the device and wraps it
    loader: DataLoader[Any]  # training batches; the engine reshuffles it each epoch and cycles it if short
    csv_fields: Sequence[str]  # metrics.csv header; ``end_epoch`` returns the matching row
    progress_label: str = "epoch"  # progress bar "<label> 3/20"
    # A non-finite loss stops the run with
    # "the <loss_name> loss became nan ...; lower the learning rate <advice>".
    loss_name: str = "training"
    advice: str = ""

    def train_mode(self, net: nn.Module) -> None:
        """Switch to training mode before each epoch (a frozen encoder may stay in eval mode)."""
        net.train()

    @abstractmethod
    def training_step(self, net: nn.Module, batch: Any) -> torch.Tensor:
        """The loss of one batch; runs under autocast. ``net`` is ``module``, DDP-wrapped when distributed."""

    @abstractmethod
    def batch_images(self, batch: Any) -> int:
        """How many images ``batch`` holds (for images/s)."""

    def after_step(self, step: int, total_steps: int) -> None:
        """Called after optimiser step ``step`` (0-based, counted over the run) of ``total_steps``."""
        return None  # optional hook: most tasks need nothing here

    @abstractmethod
    def end_epoch(self, stats: EpochStats) -> EpochLog:
        """Rank 0, after each epoch, before last.pt: validation, extra checkpoint files; the epoch's log."""

    def state(self) -> dict[str, Any]:
        """What last.pt holds for this task beyond the engine's keys (plain values: loaded weights_only)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Take back ``state()`` from the checkpoint of a resumed run."""
        return None  # optional hook: a task without ``state()`` has nothing to take back


@dataclass(frozen=True)
class _Optimisation:
    """AdamW, its per-step schedule and mixed precision: what one optimiser step needs."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    amp_dtype: torch.dtype | None

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


class Engine:
    """Runs a ``Task`` in run directory ``out``: one process, or each process of a torchrun launch."""

    def __init__(self, out: Path, config: AnyRunConfig, fixed_keys: Sequence[str], recipe: LoopRecipe,
                 info: DistInfo, *, resume: bool, progress: bool) -> None:
        """Check the run directory (``fixed_keys`` of ``config`` must match a resumed run's), then seed."""
        self.last = out / "checkpoints" / "last.pt"
        if resume and not self.last.is_file():
            raise TrainingError(f"cannot resume: {self.last} not found")
        if not resume and self.last.exists():
            raise TrainingError(f"{out} already holds a run; pass --resume to continue it or choose another "
                                f"--out")
        if resume:
            _check_resumable(out, config, fixed_keys)
        seed_everything(recipe.seed + info.rank)
        self.out, self.config, self.recipe, self.info = out, config, recipe, info
        self.resume = resume
        self.progress = progress and info.is_main
        self.channels_last = info.device.type == "cuda" and recipe.channels_last

    def fit(self, task: Task) -> EpochStats | None:
        """Train ``task`` up to ``recipe.epochs``; the last epoch's figures (None when none was left)."""
        info, recipe = self.info, self.recipe
        cuda = info.device.type == "cuda"
        model = task.module.to(info.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        net: nn.Module = DistributedDataParallel(model, device_ids=[info.device] if cuda else None) \
            if info.distributed else model
        steps = recipe.steps_per_epoch or len(task.loader)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr,
                                      weight_decay=recipe.weight_decay)
        schedule = warmup_cosine(int(recipe.warmup_epochs * steps), max(1, recipe.epochs * steps))
        amp_dtype, scaler = mixed_precision(cuda and recipe.amp)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        opt = _Optimisation(optimizer, scheduler, scaler, amp_dtype)

        start = 0
        if self.resume:
            state = load_checkpoint(self.last, info.device)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state)
            task.load_state(state)
            start = int(state["epoch"]) + 1
        if info.is_main:
            write_run_config(self.out, self.config)
            if not self.resume:
                with open(self.out / METRICS, "w", newline="") as f:
                    csv.writer(f).writerow(task.csv_fields)

        stats = None
        for epoch in range(start, recipe.epochs):
            t0 = time.perf_counter()
            set_epoch(task.loader, epoch, recipe.seed)
            loss, images = self._train_one_epoch(task, net, opt, steps, epoch)
            stats = EpochStats(epoch, recipe.epochs, loss, images, time.perf_counter() - t0,
                               float(opt.scheduler.get_last_lr()[0]), info.world_size)
            if info.is_main:
                log = task.end_epoch(stats)
                save_checkpoint(self.last, {"model": model.state_dict(), **opt.state_dict(), "epoch": epoch,
                                            "config": self.config.to_dict(), **task.state()})
                with open(self.out / METRICS, "a", newline="") as f:
                    csv.writer(f).writerow(log.row)
                if self.progress:
                    tqdm.write(log.line)
            barrier(info)
        return stats

    def _train_one_epoch(self, task: Task, net: nn.Module, opt: _Optimisation, steps: int,
                         epoch: int) -> tuple[float, int]:
        """``steps`` optimiser steps (cycling the loader if it is shorter); mean loss and images seen."""
        task.train_mode(net)
        total = torch.zeros((), device=self.info.device)
        images, step, cycle = 0, 0, 0
        bar = tqdm(total=steps, desc=f"{task.progress_label} {epoch + 1}/{self.recipe.epochs}",
                   disable=not self.progress, leave=False)
        while step < steps:
            for batch in task.loader:
                with autocast(self.info.device, opt.amp_dtype):
                    loss = task.training_step(net, batch)
                optimizer_step(loss, opt.optimizer, opt.scaler)
                opt.scheduler.step()
                task.after_step(epoch * steps + step, self.recipe.epochs * steps)
                total += loss.detach()
                images += task.batch_images(batch)
                step += 1
                bar.update()
                if step % CHECK_EVERY == 0 or step == steps:
                    _check_finite(total, epoch, step, opt.optimizer, task)
                    bar.set_postfix(loss=f"{total.item() / step:.4f}")
                if step == steps:
                    break
            cycle += 1
            set_epoch(task.loader, epoch * 1000 + cycle, self.recipe.seed)
        bar.close()
        return total.item() / steps, images


def _check_resumable(out: Path, config: AnyRunConfig, fixed_keys: Sequence[str]) -> None:
    """Raise TrainingError if the run in ``out`` differs from ``config`` in any of ``fixed_keys``."""
    previous = read_run_config(out)
    for key in fixed_keys:
        if getattr(previous, key, None) != getattr(config, key):
            raise TrainingError(f"cannot resume {out}: its {key} differs from this session's (dataset or "
                                f"recipe changed); start a new --out")


def _check_finite(total: torch.Tensor, epoch: int, step: int, optimizer: torch.optim.Optimizer,
                  task: Task) -> None:
    """Stop the run with a clear message once the running loss sum is NaN or infinite."""
    value = total.item()
    if not math.isfinite(value):
        lr = optimizer.param_groups[0]["lr"]
        raise TrainingError(f"the {task.loss_name} loss became {value} in epoch {epoch + 1} by step {step}; "
                            f"lower the learning rate (now {lr:.3g}) {task.advice}")
