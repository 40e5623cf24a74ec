"""``ros-ssl demo``: simulate -> label -> train -> evaluate on held-out worlds (``ros_ssl.experiments.demo``).

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

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o",
                                      help="New folder for bags, dataset, run and metrics.json.")],
    duration: Annotated[float, typer.Option(help="Seconds of simulated driving per world.")] = 30.0,
    worlds: Annotated[int, typer.Option(min=3,
                                        help="Number of worlds (3 or more: train, validation, test).")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the first world; world k uses seed + k.")] = 0,
    recipe: Annotated[str, typer.Option(
        help="Training recipe (name in training/ or a YAML path).")] = "quick",
    workers: Annotated[int, typer.Option(help="Labelling processes.")] = 2,
    config: ConfigOpt = None,
) -> None:
    """Run the whole pipeline on simulated worlds and print the AUC table; leaves OUT/metrics.json."""
    from ros_ssl.config import load_profile
    from ros_ssl.experiments.demo import demo_summary, run_demo
    from ros_ssl.train.evaluate import format_table

    profile = load_profile(config or "sim")
    metrics = run_demo(out, profile, duration, worlds, seed, recipe, workers, log=typer.echo)
    typer.echo(format_table(metrics))
    typer.echo(json.dumps(demo_summary(metrics)))
    typer.echo(f"metrics in {out / 'metrics.json'}, plots in {out / 'run'}")
