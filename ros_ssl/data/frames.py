"""The frames of every shard as one read-only array-like, without copying them into one file or buffer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# Memory maps kept open at once (each holds a file descriptor); older ones are reopened on demand.
OPEN_MAPS = 256


class FrameView:
    """Rows of several per-shard arrays, concatenated on read: ``view[i]``, ``view[a:b]``, ``view[[i, j]]``.

    Indexing reads only the rows asked for (order preserved) and returns an ndarray; ``np.asarray(view)``
    reads everything. ``open_part(k)`` gives the rows of part ``k`` (a memory map, opened lazily).
    """

    def __init__(self, counts: list[int], row_shape: tuple[int, ...], dtype: np.dtype[Any],
                 open_part: Callable[[int], np.ndarray]) -> None:
        self._starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        self._open_part = open_part
        self._parts: dict[int, np.ndarray] = {}
        self.shape: tuple[int, ...] = (int(self._starts[-1]), *row_shape)
        self.dtype = dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _part(self, k: int) -> np.ndarray:
        part = self._parts.pop(k, None)
        if part is None:
            part = self._open_part(k)
            if len(self._parts) >= OPEN_MAPS:
                del self._parts[next(iter(self._parts))]
        self._parts[k] = part  # most recently used last
        return part

    def __getitem__(self, key: int | np.integer[Any] | slice | np.ndarray | list[int]) -> np.ndarray:
        n = len(self)
        if isinstance(key, int | np.integer):
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"index {int(key)} is out of bounds for {n} frames")
            row: np.ndarray = self.take(np.array([i]))[0]
            return row
        if isinstance(key, slice):
            return self.take(np.arange(*key.indices(n)))
        index = np.asarray(key)
        if index.dtype == np.bool_:
            if index.shape != (n,):
                raise IndexError(f"boolean index of shape {index.shape} does not match {n} frames")
            return self.take(np.flatnonzero(index))
        if not np.issubdtype(index.dtype, np.integer) and index.size:
            raise IndexError(f"frames are indexed by int, slice or integer array, not {index.dtype}")
        index = index.astype(np.int64)
        index = np.where(index < 0, index + n, index)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"index {int(index.max() if index.max() >= n else index.min())} is out of "
                             f"bounds for {n} frames")
        return self.take(index.ravel()).reshape(*index.shape, *self.shape[1:])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (valid, non-negative) in that order."""
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        if not len(rows):
            return out
        part = np.searchsorted(self._starts, rows, side="right") - 1
        for k in np.unique(part):
            sel = part == k
            out[sel] = self._part(int(k))[rows[sel] - self._starts[k]]
        return out

    def __array__(self, dtype: np.dtype[Any] | None = None, copy: bool | None = None) -> np.ndarray:
        whole = self.take(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype, copy=False)
