"""Train the detector: recipe -> split by world -> epochs -> best checkpoint on validation AUC -> test metrics.

Shaped like torchvision's reference recipes: ``train(dataset, out, recipe)`` sets up (distributed if
torchrun launched it), then alternates ``train_one_epoch`` and a validation pass on rank 0; the last
checkpoint resumes a run at the next epoch; a non-finite loss stops the run with a clear message.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ros_ssl import __version__
from ros_ssl.data import Dataset, load_dataset
from ros_ssl.models import Detector, normalize
from ros_ssl.train.augment import Augment, label_mirror
from ros_ssl.train.checkpoint import (
    build_detector,
    load_checkpoint,
    load_encoder_weights,
    save_checkpoint,
    write_config,
)
from ros_ssl.train.data import make_loader, set_epoch, split_recordings
from ros_ssl.train.distributed import DistInfo, barrier, init_distributed, shutdown
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.evaluate import evaluate, predict
from ros_ssl.train.loss import balanced_pos_weight, masked_bce
from ros_ssl.train.metrics import auc_table, mean_auc
from ros_ssl.train.recipe import Recipe
from ros_ssl.train.runs import (autocast, check_finite, check_resumable, mixed_precision, optimizer_step,
                                restore, seed_everything, warmup_cosine)

CSV_FIELDS = ["epoch", "train_loss", "val_loss", "val_mean_auc", "lr", "images_per_s", "seconds", "best"]
# Validation AUC skips cells with fewer known positives (or negatives) than this: a far cell of a few
# validation worlds may hold two positives, and its AUC would swing the checkpoint choice at random.
VAL_MIN_COUNT = 10
# Checked against the config of a resumed run: these must not change between sessions.
FIXED_KEYS = ("model", "image_hw", "label_shape", "geometry", "split", "mean", "std")


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_auc: float | None
    # Evaluation of the best checkpoint on the test recordings (None when the split has no test part).
    metrics: dict[str, Any] | None
    # False in the other processes of a distributed run: they neither write nor report.
    is_main: bool = True


@dataclass(frozen=True)
class StepSetup:
    """What every optimisation step needs besides the model and the batch."""

    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pos_weight: torch.Tensor | None = None
    amp_dtype: torch.dtype | None = None  # autocast dtype on GPU, None = full precision
    channels_last: bool = False


def train_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
               setup: StepSetup, scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One optimiser step on a batch; returns the (detached) masked loss."""
    x = normalize(batch["image"].to(setup.device, non_blocking=True), setup.mean, setup.std)
    if setup.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    labels = batch["labels"].to(setup.device, non_blocking=True)
    mask = batch["mask"].to(setup.device, non_blocking=True)
    with autocast(setup.device, setup.amp_dtype):
        logits = model(x)
    loss = masked_bce(logits, labels, mask, setup.pos_weight)
    optimizer_step(loss, optimizer, scaler)
    return loss.detach()


def train(dataset: str | Path, out: str | Path, recipe: Recipe, resume: bool = False,
          progress: bool = True) -> TrainResult:
    """Train a detector on ``dataset`` into run directory ``out``; evaluate the best checkpoint on test."""
    info = init_distributed()
    try:
        return _train(info, Path(dataset), Path(out), recipe, resume, progress)
    finally:
        shutdown(info)


def _train(info: DistInfo, dataset: Path, out: Path, recipe: Recipe, resume: bool, progress: bool) -> TrainResult:
    ds = load_dataset(dataset)
    split = split_recordings(ds, recipe.val_fraction, recipe.test_fraction, recipe.split_seed,
                             recipe.train_fraction)
    train_idx, val_idx = ds.indices(split.train), ds.indices(split.val)
    if not ds.mask[train_idx].any():
        raise TrainingError(f"dataset {dataset}: the training recordings have no known label; label more "
                            f"driving or check the profile's tolerances")
    config = _run_config(ds, recipe, split, info)
    last_file, best_file = out / "checkpoints" / "last.pt", out / "checkpoints" / "best.pt"
    if resume and not last_file.is_file():
        raise TrainingError(f"cannot resume: {last_file} not found")
    if not resume and last_file.exists():
        raise TrainingError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume:
        check_resumable(out, config, FIXED_KEYS)

    seed_everything(recipe.seed + info.rank)
    cuda = info.device.type == "cuda"
    model = build_detector(config)
    if recipe.init and not resume:
        load_encoder_weights(model, recipe.init, recipe.model)
    if recipe.freeze:
        model.encoder.requires_grad_(False)
    model.to(info.device)
    channels_last = cuda and recipe.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = DistributedDataParallel(model, device_ids=[info.device] if cuda else None) \
        if info.distributed else model

    loader = make_loader(ds.path, train_idx, recipe.batch_size, shuffle=True,
                         augment=Augment(recipe.augment, label_mirror(ds.geometry, ds.profile)),
                         workers=recipe.workers, seed=recipe.seed, rank=info.rank, world_size=info.world_size,
                         pin_memory=cuda)
    steps = recipe.steps_per_epoch or len(loader)
    if steps == 0:
        raise TrainingError(f"dataset {dataset}: no training batch; the training split has {len(train_idx)} frames")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    warmup = int(recipe.warmup_epochs * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, max(1, recipe.epochs * steps)))
    amp_dtype, scaler = mixed_precision(cuda and recipe.amp)
    setup = StepSetup(info.device, recipe.mean, recipe.std, _pos_weight(recipe, ds, train_idx, info.device),
                      amp_dtype, channels_last)

    start, best_epoch, best_score, best_auc = 0, -1, -math.inf, None
    if resume:
        state = load_checkpoint(last_file, info.device)
        start = restore(state, model, optimizer, scheduler, scaler)
        best_epoch, best_score, best_auc = int(state["best_epoch"]), float(state["best_score"]), state["best_auc"]
    if info.is_main:
        write_config(out, config)
        if not resume:
            with open(out / "metrics.csv", "w", newline="") as f:
                csv.writer(f).writerow(CSV_FIELDS)
    val_loader = (make_loader(ds.path, val_idx, recipe.eval_batch_size, shuffle=False, pin_memory=cuda)
                  if len(val_idx) and info.is_main else None)

    for epoch in range(start, recipe.epochs):
        t0 = time.perf_counter()
        set_epoch(loader, epoch, recipe.seed)
        train_loss, images = _train_one_epoch(net, model, loader, steps, optimizer, scheduler, scaler, setup,
                                              epoch, recipe, progress and info.is_main)
        seconds = time.perf_counter() - t0
        if info.is_main:
            val_loss, val_auc = (_validate(model, val_loader, setup) if val_loader is not None
                                 else (float("nan"), float("nan")))
            # Best on validation mean AUC; without one (no validation part, or one class only), on the loss,
            # and without either, the latest epoch.
            score = val_auc if math.isfinite(val_auc) else -val_loss if math.isfinite(val_loss) else float(epoch)
            improved = score > best_score
            if improved:
                best_epoch, best_score = epoch, score
                best_auc = val_auc if math.isfinite(val_auc) else None
                core = {"model": model.state_dict(), "epoch": epoch, "val_mean_auc": best_auc, "config": config}
                save_checkpoint(best_file, core)
                save_checkpoint(out / "checkpoints" / "encoder.pt", model.encoder.state_dict())
            save_checkpoint(last_file, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else {},
                "epoch": epoch, "config": config, "best_epoch": best_epoch, "best_score": best_score,
                "best_auc": best_auc})
            with open(out / "metrics.csv", "a", newline="") as f:
                csv.writer(f).writerow([epoch + 1, _r(train_loss), _r(val_loss), _r(val_auc),
                                        _r(scheduler.get_last_lr()[0]), round(images * info.world_size / seconds, 1),
                                        round(seconds, 2), int(improved)])
            if progress:
                auc_text = f"{val_auc:.3f}" if math.isfinite(val_auc) else "n/a (too few positives; loss decides)"
                tqdm.write(f"epoch {epoch + 1}/{recipe.epochs}: train loss {train_loss:.4f}, val loss "
                           f"{val_loss:.4f}, val mean AUC {auc_text}{' *' if improved else ''}")
        barrier(info)

    metrics = None
    if info.is_main and split.test:
        metrics = evaluate(out, ds.path, "test", device=info.device, bootstrap=recipe.bootstrap, progress=progress)
    barrier(info)
    return TrainResult(out, best_epoch, best_auc, metrics, info.is_main)


def _train_one_epoch(net: nn.Module, model: Detector, loader: torch.utils.data.DataLoader, steps: int,
                     optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                     scaler: torch.amp.GradScaler | None, setup: StepSetup, epoch: int, recipe: Recipe,
                     progress: bool) -> tuple[float, int]:
    """``steps`` optimiser steps (cycling the loader if it is shorter); returns mean loss and images seen."""
    net.train()
    if recipe.freeze:
        model.encoder.eval()  # linear probe: BatchNorm statistics of the pretrained encoder stay fixed
    total = torch.zeros((), device=setup.device)
    images, step, cycle = 0, 0, 0
    bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{recipe.epochs}", disable=not progress, leave=False)
    while step < steps:
        for batch in loader:
            loss = train_step(net, batch, optimizer, setup, scaler)
            scheduler.step()
            total += loss
            images += int(batch["image"].shape[0])
            step += 1
            bar.update()
            if step % 20 == 0 or step == steps:
                check_finite(total, epoch, step, optimizer, "training",
                             "or check the dataset for corrupt frames")
                bar.set_postfix(loss=f"{total.item() / step:.4f}")
            if step == steps:
                break
        cycle += 1
        set_epoch(loader, epoch * 1000 + cycle, recipe.seed)
    bar.close()
    return total.item() / steps, images


def _validate(model: Detector, loader: torch.utils.data.DataLoader, setup: StepSetup) -> tuple[float, float]:
    out = predict(model, loader, setup.device, setup.mean, setup.std)
    loss = masked_bce(torch.from_numpy(out["logits"]), torch.from_numpy(out["labels"]),
                      torch.from_numpy(out["mask"])).item()
    return loss, mean_auc(auc_table(out["logits"], out["labels"], out["mask"], min_count=VAL_MIN_COUNT))


def _pos_weight(recipe: Recipe, ds: Dataset, train_idx: np.ndarray, device: torch.device) -> torch.Tensor | None:
    if recipe.pos_weight == "none":
        return None
    if recipe.pos_weight == "auto":
        return torch.from_numpy(balanced_pos_weight(ds.labels[train_idx], ds.mask[train_idx])).to(device)
    return torch.tensor(float(recipe.pos_weight), device=device)


def _run_config(ds: Dataset, recipe: Recipe, split: Any, info: DistInfo) -> dict[str, Any]:
    ids = [r["id"] for r in ds.recordings]
    groups = ds.groups()
    return {
        "model": recipe.model, "image_hw": list(ds.image_hw), "label_shape": list(ds.label_shape),
        "geometry": ds.geometry, "mean": list(recipe.mean), "std": list(recipe.std),
        "dataset": str(ds.path.resolve()),
        "split": {part: [ids[i] for i in getattr(split, part)] for part in ("train", "val", "test")},
        "groups": {part: sorted({groups[i] for i in getattr(split, part)}) for part in ("train", "val", "test")},
        "recipe": recipe.to_dict(), "world_size": info.world_size,
        "versions": {"ros_ssl": __version__, "torch": str(torch.__version__)},
    }


def _r(x: float) -> float | str:
    return round(x, 6) if math.isfinite(x) else ""
