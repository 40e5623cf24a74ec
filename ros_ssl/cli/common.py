"""Option types and checks shared by the command modules."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.errors import OutputError

ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Robot profile: a YAML path or a built-in name (sim, thymio, "
                                       "thymio_scan). Default: sim."),
]
BagArg = Annotated[Path,
                   typer.Argument(help="A rosbag2 directory, .mcap or .db3 file, or a ROS 1 .bag file.")]


def check_writable(out: Path) -> None:
    """Refuse an output directory that cannot be written, before any work is done for it.

    Probes with a real file in the nearest existing directory (permissions, read-only mounts and
    root's rights all count as they will for the real writes) and removes it at once.
    """
    base = out
    while not base.exists() and base.parent != base:
        base = base.parent
    if not base.is_dir():
        detail = "is a file" if base == out else f"cannot be created: {base} is not a directory"
        raise OutputError(f"output {out} {detail}; expected a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ros-ssl-write-test-", dir=base)
    except OSError as err:
        raise OutputError(f"output {out} is not writable: {base}: {err.strerror}") from err
    os.close(fd)
    os.unlink(probe)
