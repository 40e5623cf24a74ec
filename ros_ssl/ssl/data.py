"""Batches of augmented views for pretraining: every frame counts, labelled or not.

Like the trainer's ``FrameBatches``, the torch Dataset maps a list of positions to a whole batch (one
memmap read per batch), is driven by a BatchSampler, and opens the memmap lazily in each worker.
Views stay uint8 until the device.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler

from ros_ssl.data import Dataset, load_dataset
from ros_ssl.ssl.transforms import MultiView
from ros_ssl.train.data import ShardSampler


class ViewBatches(torch.utils.data.Dataset[tuple[list[Tensor], Tensor]]):
    """``batches[positions]`` -> (views: list of (B, 3, H, W) uint8, frame index of each view (B, n_views)).

    Without ``neighbours`` all views of an item come from one frame. With a neighbour table
    (``ros_ssl.ssl.positives.neighbour_table``) the second view is drawn from a random near frame, or
    from the frame itself when it has none.
    """

    def __init__(self, path: str | Path, indices: np.ndarray, views: MultiView,
                 neighbours: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.path = Path(path)
        self.indices = np.asarray(indices, np.int64)
        self.views = views
        self.neighbours = neighbours
        self._dataset: Dataset | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, _dataset=None)

    def __getitem__(self, positions: list[int]) -> tuple[list[Tensor], Tensor]:
        if self._dataset is None:
            self._dataset = load_dataset(self.path)
        rows = self.indices[np.asarray(positions, np.int64)]
        if self.neighbours is None:
            ids = np.repeat(rows[:, None], len(self.views.transforms), axis=1)
        else:
            offset, index = self.neighbours
            count = offset[rows + 1] - offset[rows]
            pick = (torch.rand(len(rows)).numpy() * count).astype(np.int64)  # torch RNG: seeded per worker
            partner = rows.copy()
            has = count > 0
            partner[has] = index[offset[rows[has]] + pick[has]]
            ids = np.stack([rows, partner], axis=1)
        unique, inverse = np.unique(ids, return_inverse=True)
        images = torch.from_numpy(np.ascontiguousarray(self._dataset.frames[unique])).permute(0, 3, 1, 2)
        inverse = inverse.reshape(ids.shape)
        views = [torch.stack([t(images[inverse[b, v]]) for b in range(len(rows))])
                 for v, t in enumerate(self.views.transforms)]
        return views, torch.from_numpy(ids)


class WorldMixSampler(Sampler[int]):
    """Positions in runs of ``batch_size``, each run drawn from ``worlds`` random recordings in equal shares.

    Most negatives of a batch then come from the anchor's own world (same floor, same walls), so the
    contrastive loss cannot be met by telling worlds apart. Every pass reshuffles (the generator moves
    on); under DDP each process seeds its own generator, so processes draw different batches.
    """

    def __init__(self, recording: np.ndarray, batch_size: int, worlds: int, seed: int) -> None:
        self.groups = [np.flatnonzero(recording == r) for r in np.unique(recording)]
        self.batch_size, self.worlds = batch_size, min(worlds, len(self.groups))
        self.n = len(recording)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (self.n // self.batch_size) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.n // self.batch_size):
            chosen = torch.randperm(len(self.groups), generator=self.generator)[:self.worlds].tolist()
            shares = np.array_split(np.arange(self.batch_size), self.worlds)
            for g, share in zip(chosen, shares, strict=True):
                group = self.groups[g]
                pick = torch.randint(0, len(group), (len(share),), generator=self.generator).numpy()
                yield from group[pick].tolist()


def make_view_loader(data: ViewBatches, batch_size: int, *, recording: np.ndarray, workers: int = 0,
                     seed: int = 0, rank: int = 0, world_size: int = 1, worlds_per_batch: int = 0,
                     pin_memory: bool = False) -> DataLoader[tuple[list[Tensor], Tensor]]:
    """Shuffled full batches of views (``recording``: each position's recording): RandomSampler, or under
    torchrun a ``ShardSampler`` dealing whole recordings (shards) to the ranks, as the detector's loader
    does (reshuffled each epoch by ``ros_ssl.train.data.set_epoch``); with ``worlds_per_batch``, batches
    of a few recordings from a ``WorldMixSampler``."""
    n = len(data)
    inner: torch.utils.data.Sampler[int]
    if worlds_per_batch > 0:
        inner = WorldMixSampler(recording, batch_size, worlds_per_batch, seed * 1009 + rank)
    elif world_size > 1:
        inner = ShardSampler(recording, rank, world_size, shuffle=True, seed=seed)
    else:
        inner = RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))
    sampler = BatchSampler(inner, batch_size, drop_last=True)
    return DataLoader(data, sampler=sampler, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                      persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None)
