"""Shared CLI pieces: the app's option types and lazy command registration."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Optional

import typer

# Command modules under ros_ssl.cli, registered in this order (one module per stage).
OPTIONAL_COMMANDS: list[str] = [
    "simulate_cmd",
    "label_cmd",
    "train_cmd",
    "demo_cmd",
    "pretrain_cmd",
    "export_cmd",
    "run_cmd",
]

ConfigOpt = Annotated[
    Optional[str],
    typer.Option("--config", "-c", help="Robot profile: a YAML path or a built-in name (sim, thymio, "
                                       "thymio_scan). Default: sim."),
]
BagArg = Annotated[Path, typer.Argument(help="A rosbag2 directory, .mcap or .db3 file, or a ROS 1 .bag file.")]


def import_command(module: str) -> None:
    importlib.import_module(f"ros_ssl.cli.{module}")
