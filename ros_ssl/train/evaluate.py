"""Score a run like the paper (AUC per sensor x distance on known labels) and better (dense truth, CIs).

``evaluate(run_dir, dataset)`` writes ``metrics.json`` and two plots next to it:
``auc_vs_distance.png`` (the paper's figure) and ``samples.png`` (frames with predictions).
For the grid geometry, ``sensors`` lists the grid rows (x ahead) and ``distances`` the lateral centres.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import Dataset, load_dataset
from ros_ssl.data.store import UNKNOWN_TRUTH
from ros_ssl.errors import DatasetError
from ros_ssl.models import Detector, normalize
from ros_ssl.train.checkpoint import load_detector
from ros_ssl.train.data import make_loader
from ros_ssl.train.metrics import auc_table, bootstrap_auc, mean_auc
from ros_ssl.train.plots import plot_auc, plot_samples
from ros_ssl.train.run_config import RunConfig

SPLITS = ("train", "val", "test", "all")


@torch.no_grad()
def predict(model: Detector, loader: torch.utils.data.DataLoader[dict[str, torch.Tensor]],
            device: torch.device, mean: Sequence[float], std: Sequence[float],
            progress: bool = False) -> dict[str, np.ndarray]:
    """Logits for every batch of a non-empty ``loader`` with its labels, mask, frame index (and truth)."""
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for batch in tqdm(loader, desc="predict", disable=not progress, leave=False):
        x = normalize(batch["image"].to(device, non_blocking=True), mean, std)
        logits = model(x).float().cpu().numpy()
        parts.setdefault("logits", []).append(logits)
        for key in ("labels", "mask", "index", "truth"):
            if key in batch:
                parts.setdefault(key, []).append(batch[key].numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def select_recordings(ds: Dataset, config: RunConfig, split: str) -> list[int]:
    """Recording indices of ``split`` as recorded in the run's config (``all``: every recording)."""
    if split not in SPLITS:
        raise DatasetError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if split == "all":
        return list(range(len(ds.recordings)))
    known = config.split.all()
    ids = [r["id"] for r in ds.recordings]
    if not known & set(ids):
        raise DatasetError(f"dataset {ds.path} shares no recording with the run's training data, so it "
                           f"has no '{split}' part; evaluate it with --split all")
    wanted = set(config.split.part(split))
    return [i for i, rid in enumerate(ids) if rid in wanted]


def evaluate(run_dir: str | Path, dataset_path: str | Path, split: str = "test", which: str = "best",
             out_dir: str | Path | None = None, device: torch.device | None = None, bootstrap: int = 1000,
             plots: bool = True, progress: bool = False) -> dict[str, Any]:
    """Evaluate ``which`` checkpoint of ``run_dir`` on ``split`` of a dataset; write metrics.json (+ PNGs)."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, config = load_detector(run_dir, which, device)
    ds = load_dataset(dataset_path)
    if ds.geometry != config.geometry or tuple(ds.image_hw) != config.image_hw:
        raise DatasetError(f"dataset {ds.path} has another label geometry or image size than run {run_dir}; "
                           f"label it with the same profile")
    recordings = select_recordings(ds, config, split)
    indices = ds.indices(recordings)
    if len(indices) == 0:
        raise DatasetError(f"dataset {ds.path} has no frames in the '{split}' part of run {run_dir}")
    loader = make_loader(ds.path, indices, config.recipe.eval_batch_size, shuffle=False,
                         with_truth=ds.has_truth, pin_memory=device.type == "cuda")
    out = predict(model, loader, device, config.mean, config.std, progress)
    recording = ds.recording[out["index"]]
    metrics: dict[str, Any] = {
        "run": str(run_dir), "dataset": str(ds.path), "split": split, "checkpoint": which,
        "model": config.model, "geometry": ds.geometry.to_dict(), **_axes(ds.geometry),
    }
    metrics.update(_score(out["logits"], out["labels"], out["mask"], recording, bootstrap, ""))
    if "truth" in out:
        truth = out["truth"]
        metrics.update(_score(out["logits"], (truth == 1).astype(np.uint8), truth != UNKNOWN_TRUTH, recording,
                              bootstrap, "_truth"))
    train_groups = set(config.groups.train)
    metrics["counts"] = {
        "frames": len(indices), "recordings": len(recordings),
        "known": out["mask"].sum(axis=0).tolist(),
        "positive": ((out["labels"] == 1) & out["mask"]).sum(axis=0).tolist(),
        "known_fraction": float(out["mask"].mean()) if out["mask"].size else 0.0,
        "groups_also_in_training": sorted({ds.groups()[r] for r in recordings} & train_groups),
    }
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if plots:
        plot_auc(metrics, out_dir / "auc_vs_distance.png")
        pick = _sample_rows(out["labels"], out["mask"], 8)
        probs = 1 / (1 + np.exp(-out["logits"][pick]))
        plot_samples(ds.frames[out["index"][pick]], probs, out["labels"][pick], out["mask"][pick], metrics,
                     out_dir / "samples.png")
    return metrics


def _sample_rows(labels: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Rows to draw: half show known obstacles (rare, and the interesting ones: in each of n/2 stretches
    of the evaluated frames, the one with the most known obstacle cells), the rest spread over all frames."""
    positives = ((labels == 1) & mask).sum(axis=(1, 2))
    stretches = np.array_split(np.arange(len(labels)), n // 2)
    chosen = np.array([part[np.argmax(positives[part])] for part in stretches
                       if len(part) and positives[part].max() > 0], int)
    k = len(chosen)
    rest = np.linspace(0, len(labels) - 1, min(n - k, len(labels))).astype(int)
    return np.unique(np.concatenate([chosen, rest]))


def _axes(geometry: LabelGeometry) -> dict[str, list[Any]]:
    """metrics.json's row names and column values (grid: rows "x=0.025", lateral centres)."""
    return {"sensors": geometry.row_names, "distances": list(geometry.columns)}


def _score(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray, recording: np.ndarray, replicates: int,
           suffix: str) -> dict[str, Any]:
    table = auc_table(scores, labels, mask)
    result: dict[str, Any] = {f"mean_auc{suffix}": _num(mean_auc(table)), f"auc{suffix}": _nested(table)}
    if replicates > 0 and len(scores):
        boot = bootstrap_auc(scores, labels, mask, recording, replicates)
        result[f"auc{suffix}_ci"] = {"level": boot.level, "replicates": boot.replicates,
                                     "by": "recording", "mean": [_num(boot.mean_low), _num(boot.mean_high)],
                                     "low": _nested(boot.low), "high": _nested(boot.high)}
    return result


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def _nested(table: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in table]


def format_table(metrics: dict[str, Any]) -> str:
    """AUC table as text: one row per distance, one column per sensor (truth AUC mean below if present)."""
    sensors, distances = metrics["sensors"], metrics["distances"]
    width = max(8, *(len(s) + 1 for s in sensors))
    lines = ["distance" + "".join(f"{s:>{width}}" for s in sensors)]
    for j, d in enumerate(distances):
        cells = [metrics["auc"][i][j] for i in range(len(sensors))]
        lines.append(f"{d:8.3f}"
                     + "".join(f"{'-':>{width}}" if v is None else f"{v:>{width}.3f}" for v in cells))
    lines.append(f"mean AUC (known labels): {_fmt(metrics['mean_auc'])}{_ci(metrics.get('auc_ci'))}")
    if "mean_auc_truth" in metrics:
        lines.append(f"mean AUC (dense truth):  {_fmt(metrics['mean_auc_truth'])}"
                     f"{_ci(metrics.get('auc_truth_ci'))}")
    c = metrics["counts"]
    lines.append(f"{c['frames']} frames from {c['recordings']} recording(s), "
                 f"{100 * c['known_fraction']:.1f}% of cells known")
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _ci(ci: dict[str, Any] | None) -> str:
    if not ci or ci["mean"][0] is None:
        return ""
    return f"  ({100 * ci['level']:.0f}% CI {ci['mean'][0]:.3f}..{ci['mean'][1]:.3f} by recording)"
