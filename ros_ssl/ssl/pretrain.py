"""Self-supervised pretraining of an encoder on every frame of a dataset, labelled or not.

A run directory holds::

    config.yaml            model (encoder name), image_hw, mean/std, method, dataset, frames, recipe
    checkpoints/encoder.pt the encoder's state_dict: ``ros-ssl train DATASET --init RUN`` starts from it
    checkpoints/last.pt    {model, optimizer, scheduler, scaler, epoch, config}: resume from here
    metrics.csv            one row per epoch (loss, learning rate, images/s)

The loop is the trainer's (``ros_ssl.train.engine``): one process or many under ``torchrun``
(DistributedDataParallel, gloo on CPU, NCCL on GPU), only rank 0 writes, a non-finite loss stops the
run with a clear message. ``SslTask`` supplies the method's loss on a batch of views, BYOL's momentum
update after each step and ``encoder.pt`` after each epoch. Contrastive negatives are the global batch:
every process's embeddings are gathered with their gradient (``ros_ssl.ssl.gather``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ros_ssl import __version__
from ros_ssl.data import Dataset, load_dataset
from ros_ssl.models import build_encoder, normalize
from ros_ssl.ssl.data import ViewBatches, make_view_loader
from ros_ssl.ssl.gather import gather_constant
from ros_ssl.ssl.methods import PairTargets, build_method
from ros_ssl.ssl.positives import near_mask, neighbour_table, relative_motion
from ros_ssl.ssl.recipe import Neighbourhood, PretrainRecipe
from ros_ssl.ssl.transforms import BatchColour, MultiView, view_transform
from ros_ssl.train.checkpoint import save_checkpoint
from ros_ssl.train.distributed import DistInfo, init_distributed, shutdown
from ros_ssl.train.engine import Engine, EpochLog, EpochStats, Task
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.run_config import PretrainRunConfig

# Methods whose second view is a near frame of the same recording (odometry-aware pairs).
PAIRED = ("temporal", "egomotion")
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
    ds = load_dataset(dataset)
    indices = ds.indices(recordings) if recordings is not None else np.arange(len(ds))
    batch_size = min(recipe.batch_size, len(indices) // info.world_size)
    if batch_size < 2:
        raise TrainingError(f"dataset {dataset} has {len(indices)} frame(s) to pretrain on; need at least "
                            f"{2 * info.world_size}")
    config = PretrainRunConfig(
        method=recipe.method, model=recipe.model, image_hw=ds.image_hw, mean=tuple(recipe.mean),
        std=tuple(recipe.std), dataset=str(ds.path.resolve()), frames=len(indices),
        recordings=None if recordings is None else tuple(str(ds.recordings[r]["id"]) for r in recordings),
        recipe=recipe,
        world_size=info.world_size, versions={"ros_ssl": __version__, "torch": str(torch.__version__)})
    engine = Engine(out, config, FIXED_KEYS, recipe, info, resume=resume, progress=progress)
    stats = engine.fit(SslTask(ds, indices, batch_size, recipe, out, info, engine.channels_last))
    if stats is None:  # resumed a run that had finished
        return PretrainResult(out, recipe.epochs, float("nan"), 0.0)
    return PretrainResult(out, recipe.epochs, stats.loss, stats.images_per_s)


@dataclass(frozen=True)
class ViewSetup:
    """What the loss of a batch of views needs besides the model and the batch."""

    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels_last: bool = False
    # Paired methods: stamps, poses and recording of every frame, and the "same place" thresholds.
    meta: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    positives: Neighbourhood | None = None
    motion: bool = False  # egomotion: also the pose change between each item's two frames
    colour: BatchColour | None = None  # colour jitter on the device (augment.batch_colour)


def view_loss(model: nn.Module, views: list[torch.Tensor], ids: torch.Tensor,
              setup: ViewSetup) -> torch.Tensor:
    """The method's loss on a batch of uint8 views of the frames ``ids``."""
    memory_format = torch.channels_last if setup.channels_last else torch.contiguous_format
    x = []
    for view in views:
        v = view.to(setup.device, non_blocking=True)
        x.append(normalize(v if setup.colour is None else setup.colour(v), setup.mean, setup.std)
                 .contiguous(memory_format=memory_format))
    loss: torch.Tensor = model(x, pair_targets(ids, setup))
    return loss


def pair_targets(ids: torch.Tensor, setup: ViewSetup) -> PairTargets | None:
    """Positives over the global batch (every process's frame ids) and the local pose changes."""
    if setup.meta is None or setup.positives is None:
        return None
    stamps, poses, recording = setup.meta
    flat = gather_constant(ids.to(setup.device)).T.reshape(-1).cpu()  # view-major, as the methods concatenate
    positives = near_mask(stamps[flat], poses[flat], recording[flat], setup.positives).to(setup.device)
    motion = None
    if setup.motion:
        hood = setup.positives
        scale = torch.tensor([hood.max_dist, hood.max_dist, hood.max_yaw], dtype=torch.float64)
        motion = (relative_motion(poses[ids[:, 0]], poses[ids[:, 1]]) / scale).float().to(setup.device)
    return PairTargets(positives, motion)


class SslTask(Task):
    """One SSL method as the engine runs it: its loss on views, its after-step hook, encoder.pt per epoch."""

    csv_fields = CSV_FIELDS
    advice = "and start again"

    def __init__(self, ds: Dataset, indices: np.ndarray, batch_size: int, recipe: PretrainRecipe, out: Path,
                 info: DistInfo, channels_last: bool) -> None:
        self.method = build_method(recipe.method, build_encoder(recipe.model, ds.image_hw), ds.image_hw,
                                   recipe.params)
        self.module = self.method
        self.loss_name, self.progress_label = recipe.method, f"{recipe.method} epoch"
        transform = MultiView([view_transform(recipe.augment)] * self.method.n_views)
        neighbours, meta = None, None
        if recipe.method in PAIRED:
            neighbours = neighbour_table(ds.stamps, ds.poses, ds.recording, recipe.positives)
            meta = (torch.from_numpy(np.array(ds.stamps)), torch.from_numpy(np.array(ds.poses)),
                    torch.from_numpy(np.array(ds.recording)))
        self.loader = make_view_loader(ViewBatches(ds.path, indices, transform, neighbours), batch_size,
                                       workers=recipe.workers, seed=recipe.seed, rank=info.rank,
                                       world_size=info.world_size,
                                       recording=np.asarray(ds.recording)[indices],
                                       worlds_per_batch=recipe.worlds_per_batch,
                                       pin_memory=info.device.type == "cuda")
        colour = BatchColour(recipe.augment) if recipe.augment.batch_colour else None
        self.setup = ViewSetup(info.device, recipe.mean, recipe.std, channels_last, meta, recipe.positives,
                               recipe.method == "egomotion", colour)
        self.out = out

    def training_step(self, net: nn.Module, batch: tuple[list[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        views, ids = batch
        return view_loss(net, views, ids, self.setup)

    def batch_images(self, batch: tuple[list[torch.Tensor], torch.Tensor]) -> int:
        return int(batch[0][0].shape[0])

    def after_step(self, step: int, total_steps: int) -> None:
        self.method.after_step(step, total_steps)

    def end_epoch(self, stats: EpochStats) -> EpochLog:
        """Save encoder.pt (what ``ros-ssl train --init`` reads)."""
        save_checkpoint(self.out / "checkpoints" / "encoder.pt", self.method.encoder.state_dict())
        momentum = getattr(self.method, "momentum", None)
        rate = stats.images_per_s
        return EpochLog(
            [stats.epoch, round(stats.loss, 6), round(stats.lr, 8),
             "" if momentum is None else round(momentum, 6), round(rate, 1), round(stats.seconds, 2)],
            f"{self.loss_name} epoch {stats.epoch + 1}/{stats.epochs}: loss {stats.loss:.4f}, "
            f"{rate:.0f} images/s")
