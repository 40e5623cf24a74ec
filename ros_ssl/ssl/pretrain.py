"""Self-supervised pretraining of an encoder on every frame of a dataset, labelled or not.

A run directory holds::

    config.yaml            model (encoder name), image_hw, mean/std, method, dataset, frames, recipe
    checkpoints/encoder.pt the encoder's state_dict: ``ros-ssl train DATASET --init RUN`` starts from it
    checkpoints/last.pt    {model, optimizer, scheduler, scaler, epoch, config}: resume from here
    metrics.csv            one row per epoch (loss, learning rate, images/s)

Same conventions as the trainer: one process or many under ``torchrun`` (DistributedDataParallel,
gloo on CPU, NCCL on GPU), only rank 0 writes, a non-finite loss stops the run with a clear message.
Contrastive negatives are those of each process's own batch (no cross-process gathering).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ros_ssl import __version__
from ros_ssl.data import load_dataset
from ros_ssl.models import build_encoder, normalize
from ros_ssl.ssl.data import ViewBatches, make_view_loader
from ros_ssl.ssl.methods import SslMethod, build_method
from ros_ssl.ssl.positives import Neighbourhood, near_mask, neighbour_table
from ros_ssl.ssl.recipe import PretrainRecipe
from ros_ssl.ssl.transforms import MultiView, view_transform
from ros_ssl.train.checkpoint import load_checkpoint, save_checkpoint, write_config
from ros_ssl.train.data import set_epoch
from ros_ssl.train.distributed import DistInfo, barrier, init_distributed, shutdown
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.runs import (autocast, check_finite, check_resumable, mixed_precision, optimizer_step,
                                restore, seed_everything, warmup_cosine)

CSV_FIELDS = ["epoch", "loss", "lr", "momentum", "images_per_s", "seconds"]
# Checked against the config of a resumed run: these must not change between sessions.
FIXED_KEYS = ("method", "model", "image_hw", "mean", "std", "dataset", "recordings")


@dataclass(frozen=True)
class PretrainResult:
    run_dir: Path
    epochs: int
    final_loss: float
    images_per_s: float


def pretrain(dataset: str | Path, out: str | Path, recipe: PretrainRecipe, *,
             recordings: list[int] | None = None, resume: bool = False,
             progress: bool = True) -> PretrainResult:
    """Pretrain ``recipe.model`` with ``recipe.method`` on the frames of ``recordings`` (default: all).

    Under torchrun every process calls this; the returned figures are rank 0's.
    """
    recipe.validate()
    info = init_distributed()
    try:
        return _pretrain(Path(dataset), Path(out), recipe, recordings, resume, progress, info)
    finally:
        shutdown(info)


def _pretrain(dataset: Path, out: Path, recipe: PretrainRecipe, recordings: list[int] | None, resume: bool,
              progress: bool, info: DistInfo) -> PretrainResult:
    last = out / "checkpoints" / "last.pt"
    if resume and not last.is_file():
        raise TrainingError(f"cannot resume: {last} not found")
    if not resume and last.exists():
        raise TrainingError(f"{out} already holds a run; pass --resume to continue it or choose another "
                            f"--out")
    seed_everything(recipe.seed + info.rank)
    ds = load_dataset(dataset)
    indices = ds.indices(recordings) if recordings is not None else np.arange(len(ds))
    batch_size = min(recipe.batch_size, len(indices) // info.world_size)
    if batch_size < 2:
        raise TrainingError(f"dataset {dataset} has {len(indices)} frame(s) to pretrain on; need at least "
                            f"{2 * info.world_size}")
    config = {"kind": "ssl", "method": recipe.method, "model": recipe.model, "image_hw": list(ds.image_hw),
              "mean": list(recipe.mean), "std": list(recipe.std), "dataset": str(ds.path.resolve()),
              "frames": int(len(indices)), "recordings": recordings, "recipe": recipe.to_dict(),
              "world_size": info.world_size,
              "versions": {"ros_ssl": __version__, "torch": str(torch.__version__)}}
    if resume:
        check_resumable(out, config, FIXED_KEYS)

    method = build_method(recipe.method, build_encoder(recipe.model, ds.image_hw), ds.image_hw, recipe.params)
    transform = MultiView([view_transform(recipe.augment)] * method.n_views)
    neighbours, meta = None, None
    if recipe.method == "temporal":
        neighbours = neighbour_table(ds.stamps, ds.poses, ds.recording, recipe.positives)
        meta = (torch.from_numpy(np.array(ds.stamps)), torch.from_numpy(np.array(ds.poses)),
                torch.from_numpy(np.array(ds.recording)))
    cuda = info.device.type == "cuda"
    loader = make_view_loader(ViewBatches(ds.path, indices, transform, neighbours), batch_size,
                              workers=recipe.workers, seed=recipe.seed, rank=info.rank,
                              world_size=info.world_size, pin_memory=cuda)
    steps = recipe.steps_per_epoch or len(loader)
    total_steps = steps * recipe.epochs

    channels_last = cuda and recipe.channels_last
    method.to(info.device)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    net: nn.Module = DistributedDataParallel(method, device_ids=[info.device] if cuda else None) \
        if info.distributed else method
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    warmup = int(recipe.warmup_epochs * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, total_steps))
    amp_dtype, scaler = mixed_precision(cuda and recipe.amp)
    setup = ViewSetup(info.device, recipe.mean, recipe.std, amp_dtype, channels_last, meta, recipe.positives)

    start = 0
    if resume:
        start = restore(load_checkpoint(last, info.device), method, optimizer, scheduler, scaler)
    if info.is_main:
        write_config(out, config)
        if not resume:
            with open(out / "metrics.csv", "w", newline="") as f:
                csv.writer(f).writerow(CSV_FIELDS)

    loss, rate = float("nan"), 0.0
    for epoch in range(start, recipe.epochs):
        t0 = time.perf_counter()
        set_epoch(loader, epoch, recipe.seed)
        loss, images = _pretrain_one_epoch(net, method, loader, steps, optimizer, scheduler, scaler, setup,
                                           epoch, recipe, progress and info.is_main)
        seconds = time.perf_counter() - t0
        rate = images * info.world_size / seconds
        if info.is_main:
            save_checkpoint(out / "checkpoints" / "encoder.pt", method.encoder.state_dict())
            save_checkpoint(last, {"model": method.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(),
                                   "scaler": scaler.state_dict() if scaler else {}, "epoch": epoch,
                                   "config": config})
            momentum = getattr(method, "momentum", None)
            with open(out / "metrics.csv", "a", newline="") as f:
                csv.writer(f).writerow([epoch, round(loss, 6), round(scheduler.get_last_lr()[0], 8),
                                        "" if momentum is None else round(momentum, 6), round(rate, 1),
                                        round(seconds, 2)])
            if progress:
                tqdm.write(f"{recipe.method} epoch {epoch + 1}/{recipe.epochs}: loss {loss:.4f}, "
                           f"{rate:.0f} images/s")
        barrier(info)
    return PretrainResult(out, recipe.epochs, loss, rate)


@dataclass(frozen=True)
class ViewSetup:
    """What every pretraining step needs besides the model and the batch."""

    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    amp_dtype: torch.dtype | None = None  # autocast dtype on GPU, None = full precision
    channels_last: bool = False
    # Temporal method: stamps, poses and recording of every frame, and the "same place" thresholds.
    meta: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    positives: Neighbourhood | None = None


def pretrain_step(model: nn.Module, views: list[torch.Tensor], ids: torch.Tensor,
                  optimizer: torch.optim.Optimizer, setup: ViewSetup,
                  scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One optimiser step on a batch of uint8 views; returns the (detached) loss."""
    memory_format = torch.channels_last if setup.channels_last else torch.contiguous_format
    x = [normalize(v.to(setup.device, non_blocking=True), setup.mean, setup.std)
         .contiguous(memory_format=memory_format) for v in views]
    positives = None
    if setup.meta is not None and setup.positives is not None:
        flat = ids.T.reshape(-1)  # view-major: the order in which the methods concatenate their views
        positives = near_mask(*(m[flat] for m in setup.meta), setup.positives).to(setup.device)
    with autocast(setup.device, setup.amp_dtype):
        loss = model(x, positives)
    optimizer_step(loss, optimizer, scaler)
    return loss.detach()


def _pretrain_one_epoch(net: nn.Module, method: SslMethod, loader: torch.utils.data.DataLoader, steps: int,
                        optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                        scaler: torch.amp.GradScaler | None, setup: ViewSetup, epoch: int,
                        recipe: PretrainRecipe, progress: bool) -> tuple[float, int]:
    """``steps`` optimiser steps (cycling the loader if it is shorter); returns mean loss and images seen."""
    net.train()
    total = torch.zeros((), device=setup.device)
    images, step, cycle = 0, 0, 0
    bar = tqdm(total=steps, desc=f"{recipe.method} epoch {epoch + 1}/{recipe.epochs}", disable=not progress,
               leave=False)
    while step < steps:
        for views, ids in loader:
            total += pretrain_step(net, views, ids, optimizer, setup, scaler)
            scheduler.step()
            method.after_step(epoch * steps + step, recipe.epochs * steps)
            images += int(views[0].shape[0])
            step += 1
            bar.update()
            if step % 20 == 0 or step == steps:
                check_finite(total, epoch, step, optimizer, recipe.method, "and start again")
                bar.set_postfix(loss=f"{total.item() / step:.4f}")
            if step == steps:
                break
        cycle += 1
        set_epoch(loader, epoch * 1000 + cycle, recipe.seed)
    bar.close()
    return total.item() / steps, images
