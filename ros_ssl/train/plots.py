"""PNG figures of an evaluation: AUC vs distance per sensor, and sample frames with predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ros_ssl.config.geometry import LabelGeometry


def _table(values: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], np.float64)


def plot_auc(metrics: dict[str, Any], path: Path) -> None:
    """The paper's figure: AUC against distance, one line per sensor (known labels solid, truth dashed).

    For the grid geometry: heat maps of AUC over the cells instead.
    """
    auc = _table(metrics["auc"])
    truth = _table(metrics["auc_truth"]) if "auc_truth" in metrics else None
    g = _geometry(metrics)
    if g.is_grid:
        panels = [("known labels", auc)] + ([("dense truth", truth)] if truth is not None else [])
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
        extent = (g.y[0], g.y[-1], g.x[0], g.x[-1])
        for ax, (title, table) in zip(axes[0], panels, strict=True):
            im = ax.imshow(table, origin="lower", extent=extent, vmin=0.5, vmax=1.0, cmap="viridis",
                           aspect="auto")
            ax.set(title=f"AUC, {title}", xlabel="lateral y (m, +left)", ylabel="ahead x (m)")
            ax.invert_xaxis()
            fig.colorbar(im, ax=ax)
    else:
        fig, ax = plt.subplots(figsize=(7, 4))
        d = 100 * np.asarray(metrics["distances"], np.float64)
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(metrics["sensors"])))
        for i, (name, colour) in enumerate(zip(metrics["sensors"], colours, strict=True)):
            ax.plot(d, auc[i], "-o", ms=3, color=colour, label=name)
            if truth is not None:
                ax.plot(d, truth[i], "--", color=colour, alpha=0.6)
        ax.axhline(0.5, color="grey", lw=0.8)
        extra = ", dashed: dense truth" if truth is not None else ""
        lowest = np.nanmin(auc) if np.isfinite(auc).any() else 0.5
        ax.set(xlabel="distance ahead (cm)", ylabel="ROC AUC", ylim=(min(0.4, lowest - 0.05), 1.01),
               title=f"{metrics['model']}: mean AUC {_fmt(metrics['mean_auc'])} (solid: known labels{extra})")
        ax.legend(fontsize=8, ncol=3, loc="lower left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_samples(frames: np.ndarray, probs: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                 metrics: dict[str, Any], path: Path) -> None:
    """Each frame beside its predicted obstacle probabilities, laid out like the view: sensors (or lateral
    cells) left to right, distance bottom to top. Known labels: white ring = obstacle, black dot = free."""
    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    grid = _geometry(metrics).is_grid
    for k in range(n):
        # View layout: columns left..right, rows near (bottom)..far (top).
        p, y, m = (probs[k], labels[k], mask[k])
        if grid:  # (x ahead, y lateral +left): columns = y from left (+) to right (-)
            p, y, m = p[:, ::-1], y[:, ::-1], m[:, ::-1]
        else:     # (sensor left..right, distance): columns = sensors, rows = distances
            p, y, m = p.T, y.T, m.T
        axes[0, k].imshow(frames[k])
        axes[0, k].set_axis_off()
        image = axes[1, k].imshow(p, origin="lower", vmin=0, vmax=1, cmap="magma", aspect="auto")
        rows, cols = np.nonzero(m)
        pos = y[rows, cols] == 1
        axes[1, k].scatter(cols[pos], rows[pos], s=14, facecolors="none", edgecolors="white", linewidths=0.8)
        axes[1, k].scatter(cols[~pos], rows[~pos], s=3, color="black")
        axes[1, k].set_xticks([])
        axes[1, k].set_yticks([])
    axes[1, 0].set_ylabel("near -> far")
    fig.suptitle("predicted obstacle probability (known labels: ring = obstacle, dot = free)", fontsize=9)
    fig.tight_layout()
    fig.colorbar(image, ax=list(axes[1]), fraction=0.02, pad=0.01)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _geometry(metrics: dict[str, Any]) -> LabelGeometry:
    """The label geometry stored in the metrics (as in metrics.json)."""
    return LabelGeometry.from_dict(metrics["geometry"], "metrics geometry")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
