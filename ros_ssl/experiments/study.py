"""Label-efficiency study: does self-supervised pretraining let the detector learn from fewer labels?

On simulated worlds: pretrain each SSL method on every frame of the non-test worlds (labels unused),
then fine-tune the detector from scratch and from each pretrained encoder with a fraction (5%, 20%,
100%) of the labelled training recordings, and score mean AUC on the held-out test worlds. Every run
uses the same split and the same fine-tuning budget (optimiser steps), so rows differ only in the
encoder's initialisation and columns only in how many labelled recordings it sees.

Layout of the study folder (a rerun skips what is already there)::

    bags/world_NNN       simulated recordings (skipped when --dataset is given)
    dataset/             their labels
    pretrain/<method>/   SSL runs (``ros-ssl pretrain``)
    finetune/<init>_<pct>/ detector runs (``ros-ssl train``), each with metrics.json on the test worlds
    study.json, study.md, study.png
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ros_ssl.data import load_dataset
from ros_ssl.errors import ConfigError
from ros_ssl.ssl.methods import METHODS
from ros_ssl.ssl.pretrain import pretrain
from ros_ssl.ssl.recipe import load_pretrain_recipe
from ros_ssl.train.data import split_recordings
from ros_ssl.train.recipe import load_recipe
from ros_ssl.train.trainer import train

SCRATCH = "scratch"
TARGET_FRACTION, TARGET_RATIO = 0.2, 0.95  # the bar: 20% of labels reach 95% of scratch at 100%


@dataclass(frozen=True)
class StudyConfig:
    worlds: int = 20  # simulated worlds (one recording each); 15% validation, 15% test
    duration_s: float = 40.0  # simulated seconds per world
    first_seed: int = 1000  # world k has seed first_seed + k (away from the demo's seeds)
    methods: tuple[str, ...] = ("simclr", "temporal", "byol", "vicreg", "rotation", "mae")
    fractions: tuple[float, ...] = (0.05, 0.2, 1.0)
    model: str = "paper_cnn"
    # Pretraining budget per method: epochs x steps of batch_size frames.
    pretrain_epochs: int = 6
    pretrain_steps: int = 40
    pretrain_batch: int = 128
    # Fine-tuning: a trainer recipe, with every run given the same epochs x steps of its batch size.
    finetune_recipe: str = "ssl_finetune"
    finetune_epochs: int = 8
    finetune_steps: int = 50
    bootstrap: int = 200
    seed: int = 0
    label_workers: int = 2

    def validate(self) -> StudyConfig:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"study method {unknown[0]!r} is not one of {', '.join(METHODS)}")
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise ConfigError(f"study fractions {self.fractions} must be in (0, 1]")
        if self.worlds < 3:
            raise ConfigError(f"a study needs at least 3 worlds (train, validation, test), got {self.worlds}")
        for name in ("pretrain_epochs", "pretrain_steps", "pretrain_batch", "finetune_epochs",
                     "finetune_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"study {name} = {getattr(self, name)} must be >= 1")
        return self


# Seconds on a laptop: 5 worlds of 4 s, one short epoch per run.
QUICK = StudyConfig(worlds=5, duration_s=4.0, pretrain_epochs=1, pretrain_steps=2, pretrain_batch=16,
                    finetune_epochs=1, finetune_steps=2, bootstrap=0, label_workers=1)


def run_study(out: str | Path, config: StudyConfig, dataset: str | Path | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Run (or finish) the study into ``out``; returns what study.json holds."""
    config.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Seconds per step; a rerun keeps the figures of the steps it skips.
    previous = out / "study.json"
    timings: dict[str, float] = json.loads(previous.read_text())["timings"] if previous.is_file() else {}
    t0 = time.perf_counter()
    if dataset is None:
        dataset = _simulated_dataset(out, config, progress)
        timings["data_s"] = time.perf_counter() - t0
    dataset = Path(dataset)
    ds = load_dataset(dataset)
    base = load_recipe(config.finetune_recipe, {"model": config.model, "epochs": config.finetune_epochs,
                                                "steps_per_epoch": config.finetune_steps,
                                                "bootstrap": config.bootstrap, "seed": config.seed})
    split = split_recordings(ds, base.val_fraction, base.test_fraction, base.split_seed)
    if not split.test:
        raise ConfigError(f"dataset {dataset} leaves no test world for the study; use more worlds")
    unlabelled = sorted(split.train + split.val)  # SSL sees every non-test frame; the test worlds stay unseen

    inits: dict[str, str] = {SCRATCH: ""}
    for method in config.methods:
        t = time.perf_counter()
        run = out / "pretrain" / method
        ssl_recipe = load_pretrain_recipe(f"ssl_{method}", {
            "model": config.model, "epochs": config.pretrain_epochs, "steps_per_epoch": config.pretrain_steps,
            "batch_size": config.pretrain_batch, "seed": config.seed})
        inits[method] = str(run)
        if _epochs_done(run) < ssl_recipe.epochs:
            resume = (run / "checkpoints" / "last.pt").is_file()
            pretrain(dataset, run, ssl_recipe, recordings=unlabelled, resume=resume, progress=progress)
            timings[f"pretrain_{method}_s"] = time.perf_counter() - t

    results = []
    for fraction in config.fractions:
        for name, init in inits.items():
            t = time.perf_counter()
            run = out / "finetune" / f"{name}_{_pct(fraction)}"
            metrics_file = run / "metrics.json"
            if not metrics_file.is_file():
                shutil.rmtree(run, ignore_errors=True)  # an interrupted run starts over
                recipe = replace(base, train_fraction=fraction, init=init).validate()
                train(dataset, run, recipe, progress=progress)
                timings[f"finetune_{name}_{_pct(fraction)}_s"] = time.perf_counter() - t
            metrics = json.loads(metrics_file.read_text())
            run_split = split_recordings(ds, base.val_fraction, base.test_fraction, base.split_seed, fraction)
            results.append({
                "init": name, "fraction": fraction, "train_recordings": len(run_split.train),
                "train_frames_labelled": int(ds.mask[ds.indices(run_split.train)].any(axis=(1, 2)).sum()),
                "mean_auc": metrics.get("mean_auc"), "mean_auc_ci": metrics.get("auc_ci", {}).get("mean"),
                "mean_auc_truth": metrics.get("mean_auc_truth"), "run": str(run)})

    summary = {
        "config": asdict(config), "dataset": str(dataset),
        "split": {"train": len(split.train), "val": len(split.val), "test": len(split.test),
                  "test_frames": len(ds.indices(split.test)),
                  "pretrain_frames": len(ds.indices(unlabelled))},
        "results": results, "target": _target(results),
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    (out / "study.json").write_text(json.dumps(summary, indent=1))
    (out / "study.md").write_text(format_study(summary))
    plot_study(summary, out / "study.png")
    return summary


def _simulated_dataset(out: Path, config: StudyConfig, progress: bool) -> Path:
    from ros_ssl.config import load_profile
    from ros_ssl.label.pipeline import label_bags
    from ros_ssl.sim.record import simulate

    profile = load_profile("sim")
    bags = []
    for k in range(config.worlds):
        bag = out / "bags" / f"world_{config.first_seed + k:04d}"
        if not bag.exists():
            simulate(bag, config.duration_s, config.first_seed + k, profile, progress=progress)
        bags.append(bag)
    label_bags(bags, out / "dataset", profile, config.label_workers, progress)
    return out / "dataset"


def _epochs_done(run: Path) -> int:
    """Epochs a pretraining run has finished (rows of its metrics.csv; 0 if none)."""
    file = run / "metrics.csv"
    return max(0, len(file.read_text().strip().splitlines()) - 1) if file.is_file() else 0


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


def _target(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's bar: best pretrained encoder at 20% of labels vs scratch at 100%."""
    def row(init: str, fraction: float) -> dict[str, Any] | None:
        for r in results:
            if r["init"] == init and math.isclose(r["fraction"], fraction) and r["mean_auc"] is not None:
                return r
        return None

    def auc(init: str, fraction: float) -> float:
        r = row(init, fraction)
        return float(r["mean_auc"]) if r else float("nan")

    pretrained = {r["init"] for r in results if r["init"] != SCRATCH}
    scores = {m: auc(m, TARGET_FRACTION) for m in pretrained}
    scores = {m: s for m, s in scores.items() if math.isfinite(s)}
    reference = auc(SCRATCH, 1.0)
    if not scores or not math.isfinite(reference):
        return {"evaluated": False, "why": "needs scratch at 100% and a pretrained encoder at 20% of labels"}
    best = max(scores, key=lambda m: scores[m])
    ratio = scores[best] / reference
    # Bootstrap intervals (by test recording) that overlap mean the comparison is within the noise.
    ci_best = (row(best, TARGET_FRACTION) or {}).get("mean_auc_ci")
    ci_ref = (row(SCRATCH, 1.0) or {}).get("mean_auc_ci")
    overlap = None
    if ci_best and ci_ref and None not in ci_best and None not in ci_ref:
        overlap = bool(ci_best[0] <= ci_ref[1] and ci_ref[0] <= ci_best[1])
    return {"evaluated": True, "best": best, "best_auc_at_20pct": round(scores[best], 4),
            "scratch_auc_at_100pct": round(reference, 4),
            "scratch_auc_at_20pct": _round(auc(SCRATCH, TARGET_FRACTION)),
            "ratio": round(ratio, 4), "goal": TARGET_RATIO, "met": bool(ratio >= TARGET_RATIO),
            "intervals_overlap": overlap}


def _round(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def format_study(summary: dict[str, Any]) -> str:
    """Markdown: mean AUC on held-out worlds, one row per initialisation, one column per label fraction."""
    results = summary["results"]
    fractions = sorted({r["fraction"] for r in results})
    inits = list(dict.fromkeys(r["init"] for r in results))
    cell = {(r["init"], r["fraction"]): r for r in results}
    recs = {f: next(r["train_recordings"] for r in results if r["fraction"] == f) for f in fractions}
    lines = []
    for key, title in (("mean_auc", "known labels"), ("mean_auc_truth", "dense simulator truth")):
        header = " | ".join(f"{f * 100:g}% labels ({recs[f]} rec.)" for f in fractions)
        lines += [f"Mean AUC on {summary['split']['test']} held-out test world(s), {title}:", "",
                  f"| encoder | {header} |",
                  "|---|" + "---:|" * len(fractions)]
        for init in inits:
            row = []
            for f in fractions:
                r = cell.get((init, f))
                value = r.get(key) if r else None
                text = "n/a" if value is None else f"{value:.3f}"
                if key == "mean_auc" and r and r.get("mean_auc_ci"):
                    lo, hi = r["mean_auc_ci"]
                    if lo is not None and hi is not None:
                        text += f" ({lo:.3f}-{hi:.3f})"
                row.append(text)
            lines.append(f"| {init} | " + " | ".join(row) + " |")
        lines.append("")
    t = summary["target"]
    if t.get("evaluated"):
        lines.append(f"Target (best pretrained at 20% >= {t['goal']:.0%} of scratch at 100%): {t['best']} "
                     f"reaches {t['best_auc_at_20pct']:.3f} vs {t['scratch_auc_at_100pct']:.3f} = "
                     f"{t['ratio']:.1%} -> {'met' if t['met'] else 'not met'}.")
        if t.get("intervals_overlap"):
            lines.append("Their 95% bootstrap intervals (by test world) overlap: the difference is within "
                         "the noise of this test set.")
    else:
        lines.append(f"Target not evaluated: {t['why']}.")
    s = summary["split"]
    if s["test"] < 3:
        lines.append(f"Only {s['test']} test world(s): too few to tell methods apart; run the full study.")
    lines.append(f"Split by world: {s['train']} train / {s['val']} val / {s['test']} test recordings; SSL on "
                 f"{s['pretrain_frames']} frames of the non-test worlds.")
    return "\n".join(lines) + "\n"


def plot_study(summary: dict[str, Any], path: Path) -> None:
    """Mean AUC (known labels) vs share of labelled recordings, one line per initialisation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    results = summary["results"]
    for init in dict.fromkeys(r["init"] for r in results):
        rows = sorted((r for r in results if r["init"] == init and r["mean_auc"] is not None),
                      key=lambda r: r["fraction"])
        if rows:
            ax.plot([r["fraction"] * 100 for r in rows], [r["mean_auc"] for r in rows], marker="o",
                    linestyle="--" if init == SCRATCH else "-", color="black" if init == SCRATCH else None,
                    label=init)
    target = summary["target"]
    if target.get("evaluated"):
        ax.axhline(target["goal"] * target["scratch_auc_at_100pct"], color="grey", linestyle=":", linewidth=1,
                   label=f"{target['goal']:.0%} of scratch at 100%")
    ax.set_xscale("log")
    fractions = sorted({r["fraction"] * 100 for r in results})
    ax.set_xticks(fractions, [f"{f:g}%" for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("labelled training recordings")
    ax.set_ylabel("mean AUC, held-out worlds")
    ax.set_title("Label efficiency of SSL-pretrained encoders")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

