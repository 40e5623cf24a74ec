"""``ros-ssl inspect BAG``: topics, types, counts, rates, duration, gaps, and the profile's topics.

Example::

    ros-ssl inspect runs/sim.bag --config sim
"""

from __future__ import annotations

import typer

from ros_ssl.bag.inspect import inspect_bag
from ros_ssl.cli.app import app
from ros_ssl.cli.common import BagArg, ConfigOpt
from ros_ssl.config import load_profile


@app.command("inspect")
def inspect(bag: BagArg, config: ConfigOpt = None,
            strict: bool = typer.Option(False,
                                        help="Exit 1 if a topic the profile needs is missing.")) -> None:
    """Print a summary of BAG and whether the profile's camera, proximity and odometry topics are there."""
    summary = inspect_bag(bag, load_profile(config))
    typer.echo(summary.format())
    if strict and not all(summary.required.values()):
        raise typer.Exit(1)
