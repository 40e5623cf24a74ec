"""Train the detector: recipe -> split by world -> epochs -> best on validation AUC -> test metrics.

Shaped like torchvision's reference recipes: ``train(dataset, out, recipe)`` splits the dataset, records
the run's ``RunConfig`` and hands a ``DetectorTask`` to the engine (``ros_ssl.train.engine``: epochs,
DDP, mixed precision, checkpoints and resume, the non-finite-loss check). The task supplies the masked
BCE of a batch and, on rank 0 after each epoch, the validation pass that chooses ``best.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ros_ssl import __version__
from ros_ssl.data import Dataset, load_dataset
from ros_ssl.data.thinning import thin_still
from ros_ssl.models import normalize
from ros_ssl.train.augment import Augment, label_mirror
from ros_ssl.train.checkpoint import (
    build_detector,
    load_detector_weights,
    load_encoder_weights,
    save_checkpoint,
)
from ros_ssl.train.data import RecordingSplit, make_loader, split_recordings
from ros_ssl.train.distributed import DistInfo, barrier, init_distributed, shutdown
from ros_ssl.train.engine import Engine, EpochLog, EpochStats, Task
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.evaluate import evaluate, predict
from ros_ssl.train.loss import balanced_pos_weight, masked_bce
from ros_ssl.train.metrics import auc_table, mean_auc
from ros_ssl.train.recipe import Recipe
from ros_ssl.train.run_config import RunConfig, Split

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
    """What the loss of a batch needs besides the model and the batch."""

    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pos_weight: torch.Tensor | None = None
    channels_last: bool = False


def detector_loss(model: nn.Module, batch: dict[str, torch.Tensor], setup: StepSetup) -> torch.Tensor:
    """Masked BCE of the model's logits on a batch of uint8 frames."""
    x = normalize(batch["image"].to(setup.device, non_blocking=True), setup.mean, setup.std)
    if setup.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    labels = batch["labels"].to(setup.device, non_blocking=True)
    mask = batch["mask"].to(setup.device, non_blocking=True)
    return masked_bce(model(x), labels, mask, setup.pos_weight)


def train(dataset: str | Path, out: str | Path, recipe: Recipe, resume: bool = False,
          progress: bool = True) -> TrainResult:
    """Train a detector on ``dataset`` into run directory ``out``; evaluate the best checkpoint on test."""
    info = init_distributed()
    try:
        return _train(info, Path(dataset), Path(out), recipe, resume, progress)
    finally:
        shutdown(info)


def _train(info: DistInfo, dataset: Path, out: Path, recipe: Recipe, resume: bool,
           progress: bool) -> TrainResult:
    ds = load_dataset(dataset)
    split = split_recordings(ds, recipe.val_fraction, recipe.test_fraction, recipe.split_seed,
                             recipe.train_fraction)
    train_idx, val_idx = thin_still(ds, split.train, recipe.still_every), ds.indices(split.val)
    if not ds.mask[train_idx].any():
        raise TrainingError(f"dataset {dataset}: the training recordings have no known label; label more "
                            f"driving or check the profile's tolerances")
    config = _run_config(ds, recipe, split, info)
    engine = Engine(out, config, FIXED_KEYS, recipe, info, resume=resume, progress=progress)
    task = DetectorTask(ds, config, train_idx, val_idx, out, info, engine.channels_last, resume)
    engine.fit(task)
    metrics = None
    if info.is_main and split.test:
        metrics = evaluate(out, ds.path, "test", device=info.device, bootstrap=recipe.bootstrap,
                           progress=progress)
    barrier(info)
    return TrainResult(out, task.best_epoch, task.best_auc, metrics, info.is_main)


class DetectorTask(Task):
    """Detector training as the engine runs it: masked BCE per batch; validation after each epoch keeps
    the best checkpoint (``best.pt`` and its ``encoder.pt``)."""

    csv_fields = CSV_FIELDS
    advice = "or check the dataset for corrupt frames"

    def __init__(self, ds: Dataset, config: RunConfig, train_idx: np.ndarray, val_idx: np.ndarray, out: Path,
                 info: DistInfo, channels_last: bool, resume: bool) -> None:
        recipe = config.recipe
        cuda = info.device.type == "cuda"
        model = build_detector(config)
        if recipe.init and not resume:
            load = load_detector_weights if recipe.init_head else load_encoder_weights
            load(model, recipe.init, recipe.model)
        if recipe.freeze:
            model.encoder.requires_grad_(False)
        self.module = self.model = model
        self.loader = make_loader(ds.path, train_idx, recipe.batch_size, shuffle=True,
                                  augment=Augment(recipe.augment, label_mirror(ds.geometry, ds.profile)),
                                  workers=recipe.workers, seed=recipe.seed, rank=info.rank,
                                  world_size=info.world_size, pin_memory=cuda)
        if not (recipe.steps_per_epoch or len(self.loader)):
            raise TrainingError(f"dataset {ds.path}: no training batch; the training split has "
                                f"{len(train_idx)} frames")
        pos_weight = _pos_weight(recipe, ds, train_idx, info.device)
        self.setup = StepSetup(info.device, recipe.mean, recipe.std, pos_weight, channels_last)
        self.val_loader = (make_loader(ds.path, val_idx, recipe.eval_batch_size, shuffle=False,
                                       pin_memory=cuda)
                           if len(val_idx) and info.is_main else None)
        self.config, self.out = config, out
        self.best_epoch, self.best_score = -1, -math.inf
        self.best_auc: float | None = None

    def train_mode(self, net: nn.Module) -> None:
        net.train()
        if self.config.recipe.freeze:
            # Linear probe: BatchNorm statistics of the pretrained encoder stay fixed.
            self.model.encoder.eval()

    def training_step(self, net: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return detector_loss(net, batch, self.setup)

    def batch_images(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["image"].shape[0])

    def end_epoch(self, stats: EpochStats) -> EpochLog:
        """Validate; on a new best, save best.pt and encoder.pt."""
        val_loss, val_auc = (self._validate(self.val_loader) if self.val_loader is not None
                             else (float("nan"), float("nan")))
        # Best on validation mean AUC; without one (no validation part, or one class only), on the loss,
        # and without either, the latest epoch.
        score = (val_auc if math.isfinite(val_auc)
                 else -val_loss if math.isfinite(val_loss) else float(stats.epoch))
        improved = score > self.best_score
        if improved:
            self.best_epoch, self.best_score = stats.epoch, score
            self.best_auc = val_auc if math.isfinite(val_auc) else None
            checkpoints = self.out / "checkpoints"
            save_checkpoint(checkpoints / "best.pt",
                            {"model": self.model.state_dict(), "epoch": stats.epoch,
                             "val_mean_auc": self.best_auc, "config": self.config.to_dict()})
            save_checkpoint(checkpoints / "encoder.pt", self.model.encoder.state_dict())
        auc_text = f"{val_auc:.3f}" if math.isfinite(val_auc) else "n/a (too few positives; loss decides)"
        return EpochLog(
            [stats.epoch + 1, _r(stats.loss), _r(val_loss), _r(val_auc), _r(stats.lr),
             round(stats.images_per_s, 1), round(stats.seconds, 2), int(improved)],
            f"epoch {stats.epoch + 1}/{stats.epochs}: train loss {stats.loss:.4f}, val loss {val_loss:.4f}, "
            f"val mean AUC {auc_text}{' *' if improved else ''}")

    def state(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_score": self.best_score, "best_auc": self.best_auc}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best_epoch = int(state["best_epoch"])
        self.best_score = float(state["best_score"])
        self.best_auc = state["best_auc"]

    def _validate(self, loader: DataLoader[Any]) -> tuple[float, float]:
        out = predict(self.model, loader, self.setup.device, self.setup.mean, self.setup.std)
        loss = masked_bce(torch.from_numpy(out["logits"]), torch.from_numpy(out["labels"]),
                          torch.from_numpy(out["mask"])).item()
        return loss, mean_auc(auc_table(out["logits"], out["labels"], out["mask"], min_count=VAL_MIN_COUNT))


def _pos_weight(recipe: Recipe, ds: Dataset, train_idx: np.ndarray,
                device: torch.device) -> torch.Tensor | None:
    if recipe.pos_weight == "none":
        return None
    if recipe.pos_weight == "auto":
        return torch.from_numpy(balanced_pos_weight(ds.labels[train_idx], ds.mask[train_idx])).to(device)
    return torch.tensor(float(recipe.pos_weight), device=device)


def _run_config(ds: Dataset, recipe: Recipe, split: RecordingSplit, info: DistInfo) -> RunConfig:
    ids = [r["id"] for r in ds.recordings]
    groups = ds.groups()
    parts = (split.train, split.val, split.test)
    return RunConfig(
        model=recipe.model, image_hw=ds.image_hw, label_shape=ds.label_shape,
        geometry=ds.geometry,
        mean=tuple(recipe.mean), std=tuple(recipe.std), dataset=str(ds.path.resolve()),
        split=Split(*(tuple(ids[i] for i in part) for part in parts)),
        groups=Split(*(tuple(sorted({groups[i] for i in part})) for part in parts)),
        recipe=recipe, world_size=info.world_size,
        versions={"ros_ssl": __version__, "torch": str(torch.__version__)})


def _r(x: float) -> float | str:
    return round(x, 6) if math.isfinite(x) else ""
