"""Score pseudo-labels against simulator ground truth: coverage and errors per distance (or grid row).

Coverage is the fraction of cells the labeler could label at all; accuracy, false-positive rate
(free called obstacle) and false-negative rate (obstacle called free) are measured over the known
cells that have ground truth. This is what shows the cost of odometry drift and loose tolerances.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data.store import UNKNOWN_TRUTH, Dataset

REPORT_JSON = "label_report.json"
REPORT_PNG = "label_report.png"


def _ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> list[float | None]:
    """num / den per entry (scalars count as one entry); None (JSON null) where the denominator is 0."""
    pairs = zip(np.atleast_1d(num), np.atleast_1d(den), strict=True)
    return [float(n) / float(d) if d else None for n, d in pairs]


def score_labels(labels: np.ndarray, mask: np.ndarray, truth: np.ndarray,
                 geometry: LabelGeometry) -> dict[str, Any]:
    """Per-column and overall coverage / accuracy / FPR / FNR of (N, A, B) labels against truth."""
    labels, mask, truth = np.asarray(labels), np.asarray(mask, bool), np.asarray(truth)
    grid = geometry.is_grid
    # sensor x distance: columns are distances (axis 2); grid: columns are rows ahead (axis 1).
    axis, values, name = (1, geometry.x, "x") if grid else (2, geometry.distances, "distance")
    other = tuple(a for a in (0, 1, 2) if a != axis)
    has_truth = truth != UNKNOWN_TRUTH
    scored = mask & has_truth
    correct = scored & (labels == truth)
    neg, pos = scored & (truth == 0), scored & (truth == 1)
    fp, fn = neg & (labels == 1), pos & (labels == 0)

    def per(a: np.ndarray) -> np.ndarray:
        return np.asarray(a.sum(axis=other))

    report: dict[str, Any] = {
        "geometry": geometry.kind.value, "axis": name, "values": list(values),
        "frames": len(labels), "has_truth": bool(has_truth.any()),
        "coverage": _ratio(per(mask), np.full(len(values), mask.size // max(len(values), 1))),
        "accuracy": _ratio(per(correct), per(scored)),
        "fpr": _ratio(per(fp), per(neg)),
        "fnr": _ratio(per(fn), per(pos)),
        "scored": per(scored).astype(int).tolist(),
        "overall": {
            "coverage": _ratio(mask.sum(), mask.size)[0],
            "accuracy": _ratio(correct.sum(), scored.sum())[0],
            "fpr": _ratio(fp.sum(), neg.sum())[0],
            "fnr": _ratio(fn.sum(), pos.sum())[0],
            "scored": int(scored.sum()),
            "obstacle_fraction": _ratio(pos.sum(), scored.sum())[0],
        },
    }
    if not grid:
        report["sensors"] = {name: {"coverage": _ratio(mask[:, i].sum(), mask[:, i].size)[0],
                                    "accuracy": _ratio(correct[:, i].sum(), scored[:, i].sum())[0]}
                             for i, name in enumerate(geometry.sensors)}
    return report


def score_dataset(ds: Dataset) -> dict[str, Any]:
    report = score_labels(ds.labels, ds.mask, ds.truth, ds.geometry)
    report["recordings"] = len(ds.recordings)
    return report


def format_table(report: dict[str, Any]) -> str:
    """Plain-text table: one line per distance (or grid row), then the overall line."""
    def pct(v: float | None) -> str:
        return "    -" if v is None else f"{100 * v:5.1f}"

    lines = [f"{report['axis']:>8}  cover%   acc%   fpr%   fnr%   scored"]
    for i, v in enumerate(report["values"]):
        lines.append(f"{v:8.3f}  {pct(report['coverage'][i])}  {pct(report['accuracy'][i])}  "
                     f"{pct(report['fpr'][i])}  {pct(report['fnr'][i])}  {report['scored'][i]:7d}")
    o = report["overall"]
    lines.append(f"{'all':>8}  {pct(o['coverage'])}  {pct(o['accuracy'])}  {pct(o['fpr'])}  {pct(o['fnr'])}  "
                 f"{o['scored']:7d}")
    if not report["has_truth"]:
        lines.append("no ground truth in this dataset (real robot): only coverage is meaningful")
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """PNG of coverage and accuracy (and FPR / FNR) against distance or grid row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(key: str) -> list[float]:
        return [math.nan if v is None else 100 * v for v in report[key]]

    x = report["values"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(x, series("coverage"), "o-", label="coverage (known cells)")
    if report["has_truth"]:
        ax.plot(x, series("accuracy"), "s-", label="accuracy vs truth")
        ax.plot(x, series("fpr"), "--", label="false-positive rate")
        ax.plot(x, series("fnr"), ":", label="false-negative rate")
    ax.set_xlabel("distance ahead (m)" if report["axis"] == "distance" else "grid row ahead (m)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=4, fontsize=8, frameon=False)
    o = report["overall"]
    acc = "-" if o["accuracy"] is None else f"{100 * o['accuracy']:.1f}%"
    ax.set_title(f"pseudo-labels: {report['frames']} frames, coverage {100 * (o['coverage'] or 0):.1f}%, "
                 f"accuracy {acc}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(ds: Dataset, out_dir: str | Path | None = None) -> tuple[dict[str, Any], Path, Path]:
    """Score a dataset and write label_report.json and label_report.png (default: into the dataset)."""
    out = Path(out_dir) if out_dir is not None else ds.path
    out.mkdir(parents=True, exist_ok=True)
    report = score_dataset(ds)
    json_path = out / REPORT_JSON
    json_path.write_text(json.dumps(report, indent=1))
    return report, json_path, plot_report(report, out / REPORT_PNG)
