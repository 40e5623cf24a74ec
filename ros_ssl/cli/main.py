"""``ros-ssl``: one subcommand per stage of log -> label -> train -> deploy.

Example::

    ros-ssl simulate --out runs/sim.bag --duration 60 --seed 1
    ros-ssl inspect runs/sim.bag

Errors that ros_ssl raises on purpose (bad bag, bad profile, bad model) print as one line and exit 2; so do
the operating system's refusals (no permission, read-only file system, disk or quota full).
"""

from __future__ import annotations

import errno
import importlib
import sys

from ros_ssl.cli.app import app
from ros_ssl.errors import RosSslError

__all__ = ["app", "main"]

# OSError numbers that mean "not allowed or no room there", not a bug: reported as one line.
REFUSAL_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})

# Command modules under ros_ssl.cli, registered in this order (one module per stage).
COMMANDS = ("inspect_cmd", "simulate_cmd", "profile_cmd", "label_cmd", "dataset_cmd", "train_cmd", "demo_cmd",
            "pretrain_cmd", "export_cmd", "run_cmd", "learn_cmd")


def _register() -> None:
    """Import every command module; each adds its command(s) to ``app``.

    The modules import their heavy layers (torch, rclpy, pybullet) inside the commands, so this stays cheap.
    """
    for module in COMMANDS:
        importlib.import_module(f"ros_ssl.cli.{module}")


def main() -> None:
    _register()
    try:
        app()
    except RosSslError as err:
        print(f"ros-ssl: error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in REFUSAL_ERRNOS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"ros-ssl: error: {where}{err.strerror}", file=sys.stderr)
        sys.exit(2)
