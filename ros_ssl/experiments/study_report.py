"""The study's numbers: dense-truth AUC per run, paired differences against scratch, the three outputs.

Every run's logits on the test frames are scored against the simulator's dense truth (every cell of
every frame). Intervals come from one set of bootstrap replicates that resample test recordings (whole
worlds, since frames of one world are correlated); every run is scored under the same replicates, so a
method's difference to scratch (same mode, fraction and seed) is computed replicate by replicate: a
paired interval, much narrower than two overlapping marginal ones. Seeds are averaged inside each
replicate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.data import Dataset
from ros_ssl.data.store import UNKNOWN_TRUTH
from ros_ssl.train.metrics import auc_table, mean_auc, mean_auc_replicates, recording_weights

SCRATCH = "scratch"
LEVEL = 0.95
TARGET_FRACTION, TARGET_RATIO = 0.2, 0.95  # the bar: 20% of labels reach 95% of scratch at 100%
STATS = "test_stats.npz"


@dataclass(frozen=True)
class Cell:
    """One finished detector run: which encoder, how trained, on which share of labels, which seed."""

    encoder: str
    mode: str
    fraction: float
    seed: int
    scores: Path  # (N, A, B) float16 logits on every test frame


def summarise(cells: list[Cell], test: Dataset, replicates: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """study.json's content and details.json's extras (per-seed values, targets, test set sizes).

    ``seeds`` counts the seeds with a finished run, so a partial study says how much it rests on.
    """
    truth = np.asarray(test.truth)
    labels, mask = (truth == 1).astype(np.uint8), truth != UNKNOWN_TRUTH
    recs, unit = np.unique(np.asarray(test.recording), return_inverse=True)
    weights = recording_weights(len(recs), max(replicates, 1), seed=0)
    scored = {(c.encoder, c.mode, c.fraction, c.seed): _cell_stats(c, labels, mask, unit, weights)
              for c in cells}
    rows, per_seed = [], []
    keys = sorted({(c.mode, c.fraction) for c in cells}, key=lambda k: (k[0] != "finetune", k[1]))
    encoders = list(dict.fromkeys([SCRATCH, *(c.encoder for c in cells)]))
    for mode, fraction in keys:
        for encoder in encoders:
            mine = {s: v for (e, m, f, s), v in scored.items() if (e, m, f) == (encoder, mode, fraction)}
            base = {s: v for (e, m, f, s), v in scored.items() if (e, m, f) == (SCRATCH, mode, fraction)}
            paired = sorted(set(mine) & set(base))
            if not paired:
                continue
            auc = np.mean([mine[s][0] for s in paired])
            auc_reps = np.mean([mine[s][1] for s in paired], axis=0)
            delta = np.mean([mine[s][0] - base[s][0] for s in paired])
            delta_reps = np.mean([mine[s][1] - base[s][1] for s in paired], axis=0)
            rows.append({"encoder": encoder, "mode": mode, "fraction": fraction, "auc_truth": _r(auc),
                         "auc_truth_ci": _ci(auc_reps, replicates), "delta_truth": _r(delta),
                         "delta_truth_ci": _ci(delta_reps, replicates)})
            per_seed.append({"encoder": encoder, "mode": mode, "fraction": fraction, "seeds": paired,
                             "auc_truth": [_r(mine[s][0]) for s in paired]})
    positives = ((labels == 1) & mask).sum(axis=(0, 1))
    seeds = len({c.seed for c in cells})
    summary = {"test_worlds": len(recs), "frames_test": len(truth), "seeds": seeds, "rows": rows}
    details = {"per_seed": per_seed, "targets": targets(rows), "bootstrap": {
        "replicates": replicates, "level": LEVEL, "by": "test recording", "paired": "same frames and seeds"},
        "truth_positives_per_distance": positives.tolist(), "truth_cells_known": int(mask.sum())}
    return summary, details


def _cell_stats(cell: Cell, labels: np.ndarray, mask: np.ndarray, unit: np.ndarray,
                weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Point mean AUC and its replicates, cached next to the scores (scores never change once written)."""
    cache = cell.scores.with_name(STATS)
    if cache.is_file():
        with np.load(cache) as saved:
            if saved["replicates"].shape == (len(weights),):
                return float(saved["point"]), saved["replicates"]
    scores = np.load(cell.scores).astype(np.float32)
    point = mean_auc(auc_table(scores, labels, mask))
    reps = mean_auc_replicates(scores, labels, mask, unit, weights)
    np.savez(cache, point=point, replicates=reps)
    return point, reps


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def _r(x: float | np.floating[Any]) -> float | None:
    return round(float(x), 4) if math.isfinite(float(x)) else None


def _ci(reps: np.ndarray, replicates: int) -> list[float | None]:
    finite = reps[np.isfinite(reps)]
    if replicates < 2 or len(finite) < 2:
        return [None, None]
    lo, hi = np.percentile(finite, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return [_r(lo), _r(hi)]


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's two bars, judged on the rows.

    1. The best SSL row at 20 % labels (either mode) reaches 95 % of scratch fine-tuned on 100 %.
    2. At 5 % and at 20 %, some SSL encoder beats scratch with the paired interval above zero. Judged on
       fine-tuning: the probe's scratch is a frozen random encoder, too weak a bar to count.
    """
    def find(encoder: str | None, mode: str | None, fraction: float) -> list[dict[str, Any]]:
        return [r for r in rows if math.isclose(r["fraction"], fraction) and r["auc_truth"] is not None
                and (mode is None or r["mode"] == mode)
                and (r["encoder"] == encoder if encoder else r["encoder"] != SCRATCH)]

    result: dict[str, Any] = {}
    reference, ssl_20 = find(SCRATCH, "finetune", 1.0), find(None, None, TARGET_FRACTION)
    if reference and ssl_20:
        best = max(ssl_20, key=lambda r: r["auc_truth"])
        ratio = best["auc_truth"] / reference[0]["auc_truth"]
        result["ratio_at_20pct"] = {"best": f"{best['encoder']} ({best['mode']})", "auc": best["auc_truth"],
                                    "scratch_100pct": reference[0]["auc_truth"], "ratio": round(ratio, 4),
                                    "goal": TARGET_RATIO, "met": bool(ratio >= TARGET_RATIO)}
    for fraction in (0.05, TARGET_FRACTION):
        candidates = find(None, "finetune", fraction)
        if not candidates:
            continue
        best = max(candidates, key=lambda r: r["delta_truth"] if r["delta_truth"] is not None else -1.0)
        lo = best["delta_truth_ci"][0]
        result[f"beats_scratch_at_{fraction * 100:g}pct"] = {
            "best": best["encoder"], "delta": best["delta_truth"], "ci": best["delta_truth_ci"],
            "met": bool(lo is not None and lo > 0)}
    return result


def write_report(out: Path, summary: dict[str, Any], details: dict[str, Any]) -> None:
    """study.json (the issue's shape), details.json, study.md and study.png, each written atomically."""
    _write(out / "study.json", json.dumps(summary, indent=1))
    _write(out / "details.json", json.dumps(details, indent=1))
    _write(out / "study.md", format_study(summary, details))
    plot_study(summary, details, out / "study.png")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _pm(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def format_study(summary: dict[str, Any], details: dict[str, Any]) -> str:
    """Markdown: one table per mode, one row per encoder, one column per label fraction."""
    rows = summary["rows"]
    fractions = sorted({r["fraction"] for r in rows})
    intro = (f"Dense-truth mean AUC on {summary['frames_test']} frames of {summary['test_worlds']} held-out "
             f"worlds, mean of {summary['seeds']} seed(s); in brackets the 95% bootstrap interval by test "
             f"world; delta = paired difference to scratch (same mode, labels, frames and seeds).")
    lines = [intro, ""]
    for mode in dict.fromkeys(r["mode"] for r in rows):
        title = ("fine-tuned" if mode == "finetune"
                 else "frozen encoder, linear probe (scratch = random encoder)")
        lines += [f"**{title}**", "", "| encoder | " + " | ".join(f"{f * 100:g} % labels" for f in fractions)
                  + " |", "|---|" + "---:|" * len(fractions)]
        for encoder in dict.fromkeys(r["encoder"] for r in rows if r["mode"] == mode):
            cells = []
            for f in fractions:
                r = next((r for r in rows if (r["encoder"], r["mode"]) == (encoder, mode)
                          and math.isclose(r["fraction"], f)), None)
                if r is None or r["auc_truth"] is None:
                    cells.append("n/a")
                    continue
                text = f"{r['auc_truth']:.3f}"
                if r["auc_truth_ci"][0] is not None:
                    text += f" ({r['auc_truth_ci'][0]:.3f}-{r['auc_truth_ci'][1]:.3f})"
                if encoder != SCRATCH:
                    lo, hi = r["delta_truth_ci"]
                    text += f"<br>delta {_pm(r['delta_truth'])}"
                    text += f" ({_pm(lo)}..{_pm(hi)})" if lo is not None else ""
                cells.append(text)
            lines.append(f"| {encoder} | " + " | ".join(cells) + " |")
        lines.append("")
    t = details["targets"]
    if "ratio_at_20pct" in t:
        r = t["ratio_at_20pct"]
        lines.append(f"- Target 1 (best SSL at 20 % >= {r['goal']:.0%} of scratch fine-tuned at 100 %): "
                     f"{r['best']} {r['auc']:.3f} vs {r['scratch_100pct']:.3f} = {r['ratio']:.1%}: "
                     f"{'met' if r['met'] else 'not met'}.")
    for key, label in (("beats_scratch_at_5pct", "5 %"), ("beats_scratch_at_20pct", "20 %")):
        if key in t:
            r = t[key]
            ci = "n/a" if r["ci"][0] is None else f"{_pm(r['ci'][0])}..{_pm(r['ci'][1])}"
            lines.append(f"- Target 2 at {label} (an SSL encoder beats scratch, fine-tuned, paired interval "
                         f"above 0): best {r['best']} delta {_pm(r['delta'])} ({ci}): "
                         f"{'met' if r['met'] else 'not met'}.")
    pos = details["truth_positives_per_distance"]
    lines.append(f"- Dense truth: {details['truth_cells_known']} known cells, {min(pos)}-{max(pos)} obstacle "
                 f"cells per distance band.")
    return "\n".join(lines) + "\n"


def plot_study(summary: dict[str, Any], details: dict[str, Any], path: Path) -> None:
    """Dense-truth AUC vs share of labelled recordings, one line per encoder with its interval, per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    modes = list(dict.fromkeys(r["mode"] for r in rows)) or ["finetune"]
    fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 4.2), sharey=True, squeeze=False)
    fractions = sorted({r["fraction"] * 100 for r in rows}) or [100.0]
    goal = details["targets"].get("ratio_at_20pct")
    for ax, mode in zip(axes[0], modes, strict=True):
        for encoder in dict.fromkeys(r["encoder"] for r in rows if r["mode"] == mode):
            mine = sorted((r for r in rows if (r["encoder"], r["mode"]) == (encoder, mode)
                           and r["auc_truth"] is not None), key=lambda r: r["fraction"])
            x = [r["fraction"] * 100 for r in mine]
            y = [r["auc_truth"] for r in mine]
            lo = [r["auc_truth"] - _or(r["auc_truth_ci"][0], r["auc_truth"]) for r in mine]
            hi = [_or(r["auc_truth_ci"][1], r["auc_truth"]) - r["auc_truth"] for r in mine]
            ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=encoder,
                        linestyle="--" if encoder == SCRATCH else "-",
                        color="black" if encoder == SCRATCH else None)
        if goal:
            ax.axhline(goal["goal"] * goal["scratch_100pct"], color="grey", linestyle=":", linewidth=1,
                       label=f"{goal['goal']:.0%} of scratch fine-tuned at 100%")
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{f:g}%" for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel("labelled training recordings")
        ax.set_title("fine-tuned" if mode == "finetune" else "linear probe (frozen encoder)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(f"mean AUC vs dense truth, {summary['test_worlds']} held-out worlds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
