"""ROC AUC per label cell on known cells, its mean, and bootstrap intervals by recording (numpy only).

No torch here: the edge side scores ONNX predictions with the same code.

AUC is the rank statistic P(score_pos > score_neg) + 0.5 P(tie), computed from sorted scores in
O(n log n). A cell whose known labels hold a single class has no AUC (NaN).
Bootstrap: recordings (not frames, which are correlated) are resampled with replacement; each
replicate is a weight per recording, so the sort is done once per cell for all replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``scores`` for binary ``labels`` (ties count one half); NaN if one class only."""
    table = _auc_weighted(np.asarray(scores, np.float64), np.asarray(labels).astype(bool),
                          np.zeros(len(scores), np.int64), np.ones((1, 1)))
    return float(table[0])


def auc_table(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, min_count: int = 1) -> np.ndarray:
    """(A, B) AUC of ``probs`` (N, A, B) against ``labels`` on cells where ``mask`` is True.

    NaN where a cell has fewer than ``min_count`` known positives or negatives (1: only where undefined).
    """
    _, a, b = probs.shape
    out = np.full((a, b), np.nan)
    for i in range(a):
        for j in range(b):
            known = np.asarray(mask[:, i, j], bool)
            y = np.asarray(labels[known, i, j]) == 1
            if min(int(y.sum()), int((~y).sum())) >= min_count:
                out[i, j] = roc_auc(probs[known, i, j], y)
    return out


def mean_auc(table: np.ndarray) -> float:
    """Mean over the cells that have an AUC; NaN if none has."""
    finite = np.isfinite(table)
    return float(table[finite].mean()) if finite.any() else float("nan")


@dataclass(frozen=True)
class Bootstrap:
    """Percentile intervals from resampling recordings; NaN where a cell is undefined."""

    mean_low: float
    mean_high: float
    low: np.ndarray   # (A, B)
    high: np.ndarray  # (A, B)
    replicates: int
    level: float


def bootstrap_auc(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, recording: np.ndarray,
                  replicates: int = 200, level: float = 0.95, seed: int = 0) -> Bootstrap:
    """Confidence intervals of each cell's AUC and of the mean AUC, resampling whole recordings."""
    recs, rec_index = np.unique(np.asarray(recording), return_inverse=True)
    weights = recording_weights(len(recs), replicates, seed)
    cells = _cell_replicates(probs, labels, mask, rec_index, weights)
    means = _cell_means(cells)
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    low, high = _percentiles(cells, q)
    mean_low, mean_high = _percentiles(means[:, None], q)
    return Bootstrap(float(mean_low[0]), float(mean_high[0]), low, high, replicates, level)


def recording_weights(n_units: int, replicates: int, seed: int = 0) -> np.ndarray:
    """(R, U): how often each of U recordings is drawn (with replacement) in each of R replicates."""
    draws = np.random.default_rng(seed).integers(0, n_units, (replicates, n_units))
    return np.stack([np.bincount(d, minlength=n_units) for d in draws]).astype(np.float64)


def mean_auc_replicates(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, unit: np.ndarray,
                        weights: np.ndarray) -> np.ndarray:
    """(R,) mean AUC under each row of ``weights`` (recording index ``unit`` of each frame).

    Two models scored under the same ``weights`` give paired replicates: their difference row by row is
    the bootstrap distribution of the difference on the same resampled recordings.
    """
    return _cell_means(_cell_replicates(probs, labels, mask, unit, weights))


def _cell_replicates(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, unit: np.ndarray,
                     weights: np.ndarray) -> np.ndarray:
    """(R, A, B) AUC of every cell under each row of ``weights``."""
    _, a, b = probs.shape
    cells = np.full((len(weights), a, b), np.nan)
    for i in range(a):
        for j in range(b):
            known = np.asarray(mask[:, i, j], bool)
            cells[:, i, j] = _auc_weighted(np.asarray(probs[known, i, j], np.float64),
                                           np.asarray(labels[known, i, j]).astype(bool), unit[known], weights)
    return cells


def _cell_means(cells: np.ndarray) -> np.ndarray:
    """(R,) mean over the defined cells of each replicate; NaN where none is."""
    finite = np.isfinite(cells)
    counts = finite.sum(axis=(1, 2))
    sums = np.where(finite, cells, 0.0).sum(axis=(1, 2))
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _percentiles(samples: np.ndarray, q: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles over axis 0 ignoring NaN replicates; NaN where every replicate is NaN."""
    finite = np.isfinite(samples).any(axis=0)
    low = np.full(samples.shape[1:], np.nan)
    high = np.full(samples.shape[1:], np.nan)
    if finite.any():
        low[finite] = np.nanpercentile(samples[:, finite], q[0], axis=0)
        high[finite] = np.nanpercentile(samples[:, finite], q[1], axis=0)
    return low, high


def _auc_weighted(scores: np.ndarray, positive: np.ndarray, unit: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
    """AUC for each row of ``weights`` (R, U); NaN if one class.

    Sample k counts ``weights[r, unit[k]]`` times. With W = weights, the AUC numerator is
    sum_uv W_u W_v C_uv, where C_uv counts (positive in unit u, negative in unit v) pairs the positive wins
    (ties count one half); C is built once from the sorted distinct scores, so each replicate costs O(U^2).
    """
    r, n_units = weights.shape
    if len(scores) == 0:
        return np.full(r, np.nan)
    values, group = np.unique(scores, return_inverse=True)
    flat = group * n_units + unit
    size = len(values) * n_units
    pos = np.bincount(flat[positive], minlength=size).reshape(len(values), n_units).astype(np.float64)
    neg = np.bincount(flat[~positive], minlength=size).reshape(len(values), n_units).astype(np.float64)
    neg_below = np.cumsum(neg, axis=0) - neg
    wins = pos.T @ (neg_below + 0.5 * neg)  # (U, U)
    numerator = np.einsum("ru,uv,rv->r", weights, wins, weights)
    total_pos, total_neg = weights @ pos.sum(axis=0), weights @ neg.sum(axis=0)
    ok = (total_pos > 0) & (total_neg > 0)
    return np.where(ok, numerator / np.where(ok, total_pos * total_neg, 1.0), np.nan)
