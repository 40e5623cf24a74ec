"""``ros-ssl demo``: simulate -> label -> train -> evaluate on held-out worlds, in a few minutes on a laptop.

Example::

    ros-ssl demo --out runs/demo
    cat runs/demo/metrics.json

Each world is a different random arena (seed); worlds, never frames, are split into train, validation and
test, so the printed AUC is measured on worlds the detector never saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.common import ConfigOpt
from ros_ssl.cli.main import app


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="New folder for bags, dataset, run and metrics.json.")],
    duration: Annotated[float, typer.Option(help="Seconds of simulated driving per world.")] = 30.0,
    worlds: Annotated[int, typer.Option(min=3, help="Number of worlds (3 or more: train, validation, test).")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the first world; world k uses seed + k.")] = 0,
    recipe: Annotated[str, typer.Option(help="Training recipe (name in training/ or a YAML path).")] = "quick",
    workers: Annotated[int, typer.Option(help="Labelling processes.")] = 2,
    config: ConfigOpt = None,
) -> None:
    """Run the whole pipeline on simulated worlds and print the AUC table; leaves OUT/metrics.json."""
    from ros_ssl.config import load_profile
    from ros_ssl.errors import ConfigError
    from ros_ssl.label.pipeline import label_bags
    from ros_ssl.sim.record import simulate
    from ros_ssl.train.evaluate import format_table
    from ros_ssl.train.recipe import load_recipe
    from ros_ssl.train.trainer import train

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"demo folder {out} is not empty; choose a new --out")
    profile = load_profile(config or "sim")
    train_recipe = load_recipe(recipe)  # validated before minutes of simulation
    bags = []
    for k in range(worlds):
        bag = out / "bags" / f"world_{seed + k:03d}"
        typer.echo(f"[1/4] simulating world {k + 1}/{worlds} (seed {seed + k}, {duration:g} s)")
        simulate(bag, duration, seed + k, profile, progress=True)
        bags.append(bag)
    typer.echo("[2/4] labelling")
    report = label_bags(bags, out / "dataset", profile, workers, True)
    for failed in report["failed"]:
        typer.echo(f"  skipped {failed['bag']}: {failed['error']}")
    typer.echo(f"[3/4] training ({train_recipe.model}, {train_recipe.epochs} epochs)")
    result = train(out / "dataset", out / "run", train_recipe, progress=True)
    if result.metrics is None:
        raise ConfigError(f"recipe {recipe!r} has test_fraction 0, so no world is held out; use one above 0")
    typer.echo("[4/4] evaluation on held-out worlds")
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=1))
    summary = {k: result.metrics[k] for k in ("model", "mean_auc", "mean_auc_truth") if k in result.metrics}
    summary["test_worlds"] = result.metrics["counts"]["recordings"]
    summary["frames"] = result.metrics["counts"]["frames"]
    typer.echo(format_table(result.metrics))
    typer.echo(json.dumps(summary))
    typer.echo(f"metrics in {out / 'metrics.json'}, plots in {out / 'run'}")
