"""The demo: simulate -> label -> train -> evaluate on held-out worlds, in a few minutes on a laptop.

Each world is a different random arena (seed); worlds, never frames, are split into train, validation
and test, so the reported AUC is measured on worlds the detector never saw. Layout of the demo folder::

    bags/world_NNN   simulated recordings
    dataset/         their labels
    run/             the detector's training run (checkpoints, plots)
    metrics.json     its metrics on the test worlds
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ros_ssl.config.profile import RobotProfile
from ros_ssl.errors import ConfigError
from ros_ssl.label import pipeline  # stages called through their modules: a test can stand in for them
from ros_ssl.sim import record
from ros_ssl.train.recipe import load_recipe
from ros_ssl.train.trainer import train


def run_demo(out: Path, profile: RobotProfile, duration_s: float = 30.0, worlds: int = 6, seed: int = 0,
             recipe: str = "quick", workers: int = 2, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage into ``out`` (new or empty); returns the test metrics written to metrics.json.

    ``log`` receives one line per stage (and per skipped bag).
    """
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"demo folder {out} is not empty; choose a new --out")
    train_recipe = load_recipe(recipe)  # validated before minutes of simulation
    bags = []
    for k in range(worlds):
        bag = out / "bags" / f"world_{seed + k:03d}"
        log(f"[1/4] simulating world {k + 1}/{worlds} (seed {seed + k}, {duration_s:g} s)")
        record.simulate(bag, duration_s, seed + k, profile, progress=True)
        bags.append(bag)
    log("[2/4] labelling")
    report = pipeline.label_bags(bags, out / "dataset", profile, workers, True)
    for failed in report["failed"]:
        log(f"  skipped {failed['bag']}: {failed['error']}")
    log(f"[3/4] training ({train_recipe.model}, {train_recipe.epochs} epochs)")
    result = train(out / "dataset", out / "run", train_recipe, progress=True)
    if result.metrics is None:
        raise ConfigError(f"recipe {recipe!r} has test_fraction 0, so no world is held out; use one above 0")
    log("[4/4] evaluation on held-out worlds")
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=1))
    return result.metrics


def demo_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The one-line JSON the demo prints: model, mean AUCs, number of test worlds and frames."""
    summary: dict[str, Any] = {k: metrics[k] for k in ("model", "mean_auc", "mean_auc_truth") if k in metrics}
    summary["test_worlds"] = metrics["counts"]["recordings"]
    summary["frames"] = metrics["counts"]["frames"]
    return summary
