"""Masked binary cross-entropy: only cells with a known label contribute.

Most cells are unknown (far distances are rarely reached by the short-range sensors); averaging over
all cells would train the unknowns towards 0. Normalising by the number of known cells keeps the loss
scale independent of how sparse a batch is.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
               pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE-with-logits over known cells (``mask`` True); 0 with a gradient when none is known.

    ``pos_weight`` (broadcastable to the label shape) scales the positive term, as in
    ``torch.nn.BCEWithLogitsLoss``.
    """
    per_cell = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none",
                                                  pos_weight=pos_weight)
    known = mask.to(per_cell.dtype)
    return (per_cell * known).sum() / known.sum().clamp_min(1.0)


def balanced_pos_weight(labels: np.ndarray, mask: np.ndarray, max_weight: float = 10.0) -> np.ndarray:
    """Per-cell negatives/positives ratio over known cells, clipped to [1, max_weight] (1 where no positive).

    Far cells see few obstacles; weighting their positives keeps the detector from predicting 0 there.
    """
    known = mask.astype(bool)
    pos = ((labels == 1) & known).sum(axis=0).astype(np.float64)
    neg = ((labels == 0) & known).sum(axis=0).astype(np.float64)
    ratio = np.divide(neg, pos, out=np.ones_like(pos), where=pos > 0)
    weight: np.ndarray = np.clip(ratio, 1.0, max_weight).astype(np.float32)
    return weight
