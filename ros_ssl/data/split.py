"""Train/validation/test splits by recording group (world or bag), never by frame.

Neighbouring frames are near duplicates; a frame-level split leaks the test set into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros_ssl.errors import DatasetError


@dataclass(frozen=True)
class Split:
    train: list[int]
    val: list[int]
    test: list[int]


def split_by_group(groups: list[str], val_fraction: float = 0.15, test_fraction: float = 0.15,
                   seed: int = 0) -> Split:
    """Split recording indices so that all recordings of one group land in the same part.

    Each non-empty fraction gets at least one group when there are enough groups (3 or more).
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DatasetError(f"split fractions val={val_fraction}, test={test_fraction} must be in [0, 1) "
                           f"and sum below 1")
    unique = sorted(set(groups))
    rng = np.random.default_rng(seed)
    order = [unique[i] for i in rng.permutation(len(unique))]
    n = len(order)
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * n)
    if n >= 3:
        n_test = max(n_test, 1 if test_fraction > 0 else 0)
        n_val = max(n_val, 1 if val_fraction > 0 else 0)
    if n - n_test - n_val < 1:
        raise DatasetError(f"{n} recording group(s) cannot be split into train/val/test; record more worlds "
                           f"or lower the fractions")
    test_g, val_g = set(order[:n_test]), set(order[n_test:n_test + n_val])
    part = {g: ("test" if g in test_g else "val" if g in val_g else "train") for g in unique}
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, g in enumerate(groups):
        out[part[g]].append(i)
    return Split(**out)
