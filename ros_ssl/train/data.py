"""Batches from the memory-mapped dataset: uint8 frames until the batch, drawn across recordings.

The torch Dataset here maps a *list* of positions to a whole batch (one fancy-indexing read of the
memmap per array instead of one per frame) and is driven by a BatchSampler over a shuffled sampler
(RandomSampler, or ``ShardSampler`` under torchrun), so a batch mixes frames of every recording.
Frames stay uint8 until the model: normalisation happens on the device (see ``ros_ssl.models.normalize``).

Memory stays bounded on any number of nodes: frames are memory-mapped per shard (only the rows a batch
asks for are read, and the kernel may drop them again), each loader worker reopens the dataset by path
instead of receiving a copy, and under torchrun each rank reads whole shards of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from ros_ssl.data import Dataset, load_dataset, split_by_group
from ros_ssl.errors import DatasetError
from ros_ssl.train.augment import Augment


class FrameBatches(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """``batches[positions]`` -> dict of image (B, 3, H, W) uint8, labels (B, A, B) uint8, mask bool, index.

    ``positions`` index into ``indices`` (frame indices of the dataset). With ``with_truth`` the dense
    simulator truth (255 = none) comes along. The memmap is opened lazily, so worker processes open
    their own instead of pickling the arrays.
    """

    def __init__(self, path: str | Path, indices: np.ndarray, augment: Augment | None = None,
                 with_truth: bool = False) -> None:
        self.path = Path(path)
        self.indices = np.asarray(indices, np.int64)
        self.augment = augment
        self.with_truth = with_truth
        self._dataset: Dataset | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, _dataset=None)

    def dataset(self) -> Dataset:
        """The dataset, opened on first use in each process (memory maps, small arrays)."""
        if self._dataset is None:
            self._dataset = load_dataset(self.path)
        return self._dataset

    def __getitem__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        ds = self.dataset()
        rows = np.sort(self.indices[np.asarray(positions, np.int64)])  # sorted reads are sequential on disk
        images = torch.from_numpy(np.ascontiguousarray(ds.frames[rows])).permute(0, 3, 1, 2)
        labels = torch.from_numpy(np.ascontiguousarray(ds.labels[rows]))
        mask = torch.from_numpy(np.ascontiguousarray(ds.mask[rows]))
        if self.augment is not None:
            images, labels, mask = self.augment(images, labels, mask)
        batch = {"image": images, "labels": labels, "mask": mask, "index": torch.from_numpy(rows)}
        if self.with_truth:
            batch["truth"] = torch.from_numpy(np.ascontiguousarray(ds.truth[rows]))
        return batch


def make_loader(path: str | Path, indices: np.ndarray, batch_size: int, *, shuffle: bool,
                augment: Augment | None = None, with_truth: bool = False, workers: int = 0, seed: int = 0,
                rank: int = 0, world_size: int = 1,
                pin_memory: bool = False) -> DataLoader[dict[str, torch.Tensor]]:
    """A loader of batches over ``indices``; shuffled loaders drop the last partial batch when there are
    more frames than one batch (a batch of one breaks BatchNorm). Call ``set_epoch`` before each epoch."""
    data = FrameBatches(path, indices, augment, with_truth)
    n = len(data)
    inner: Sampler[int]
    if world_size > 1:
        inner = ShardSampler(data.dataset().recording[data.indices], rank, world_size, shuffle=shuffle,
                             seed=seed)
    elif shuffle:
        inner = RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))
    else:
        inner = SequentialSampler(range(n))
    drop_last = shuffle and n // world_size > batch_size
    sampler = BatchSampler(inner, batch_size, drop_last=drop_last)
    return DataLoader(data, sampler=sampler, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                      persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None)


class ShardSampler(Sampler[int]):
    """Positions of whole shards for one rank of ``world_size``: torchrun across nodes reading shards.

    Each epoch the shards (recordings) are dealt to the ranks anew, identically on every rank, largest
    first to the rank with the fewest frames (so ranks are balanced by frame count to within one shard;
    equal-sized shards are ordered by a per-epoch shuffle). A rank's frames are shuffled; every rank
    yields ``ceil(n / world_size)`` positions, cycling or cutting its own (DDP steps in lockstep).
    With fewer shards than ranks the largest shards are cut in halves until every rank has one.
    """

    def __init__(self, shard_of: np.ndarray, rank: int, world_size: int, *, shuffle: bool = True,
                 seed: int = 0) -> None:
        shard_of = np.asarray(shard_of)
        order = np.argsort(shard_of, kind="stable")
        cuts = np.flatnonzero(np.diff(shard_of[order])) + 1
        units = [u for u in np.split(order, cuts) if len(u)]
        while 0 < len(units) < world_size and max(len(u) for u in units) > 1:
            big = max(range(len(units)), key=lambda k: len(units[k]))
            u = units.pop(big)
            units[big:big] = [u[: len(u) // 2], u[len(u) // 2:]]
        self.units = units
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0
        self.num_samples = math.ceil(len(shard_of) / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def assignment(self) -> list[list[int]]:
        """Unit (shard) indices of each rank this epoch."""
        sizes = [len(u) for u in self.units]
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(len(sizes)) if self.shuffle
                 else np.arange(len(sizes)))
        load = [0] * self.world_size
        ranks: list[list[int]] = [[] for _ in range(self.world_size)]
        for k in sorted(order.tolist(), key=lambda k: -sizes[k]):  # stable: shuffled among equal sizes
            r = load.index(min(load))
            ranks[r].append(k)
            load[r] += sizes[k]
        return [sorted(units) for units in ranks]

    def __iter__(self) -> Iterator[int]:
        mine = [self.units[k] for k in self.assignment()[self.rank]]
        positions = np.concatenate(mine) if mine else np.concatenate(self.units or [np.zeros(0, np.int64)])
        if self.shuffle:
            positions = np.random.default_rng([self.seed, self.epoch, self.rank]).permutation(positions)
        if len(positions):
            positions = np.resize(positions, self.num_samples)  # cycles when short, cuts when long
        return iter(positions.tolist())

    def __len__(self) -> int:
        return self.num_samples


def set_epoch(loader: DataLoader[Any], epoch: int, seed: int = 0) -> None:
    """Reshuffle deterministically for ``epoch`` (same order on every rank for DistributedSampler)."""
    if not isinstance(loader.sampler, BatchSampler):
        raise TypeError("set_epoch needs a loader whose sampler is a BatchSampler, as make_loader builds")
    inner = loader.sampler.sampler
    if isinstance(inner, DistributedSampler | ShardSampler):
        inner.set_epoch(epoch)
    elif isinstance(inner, RandomSampler) and inner.generator is not None:
        inner.generator.manual_seed(seed * 100_003 + epoch)


@dataclass(frozen=True)
class RecordingSplit:
    """Recording indices of each part, after ``train_fraction`` thinned the training part."""

    train: list[int]
    val: list[int]
    test: list[int]


def split_recordings(ds: Dataset, val_fraction: float, test_fraction: float, seed: int,
                     train_fraction: float = 1.0) -> RecordingSplit:
    """Split by group (world or bag), then keep ``train_fraction`` of the training recordings (>= 1)."""
    if not ds.recordings:
        raise DatasetError(f"dataset {ds.path} holds no recordings")
    split = split_by_group(ds.groups(), val_fraction, test_fraction, seed)
    train = split.train
    if train_fraction < 1:
        keep = max(1, round(train_fraction * len(train)))
        order = np.random.default_rng(seed + 1).permutation(len(train))[:keep]
        train = sorted(train[i] for i in order)
    return RecordingSplit(train, split.val, split.test)
