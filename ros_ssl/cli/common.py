"""Option types shared by the command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Robot profile: a YAML path or a built-in name (sim, thymio, "
                                       "thymio_scan). Default: sim."),
]
BagArg = Annotated[Path,
                   typer.Argument(help="A rosbag2 directory, .mcap or .db3 file, or a ROS 1 .bag file.")]
