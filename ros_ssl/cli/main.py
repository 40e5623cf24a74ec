"""``ros-ssl``: one subcommand per stage of log -> label -> train -> deploy.

Example::

    ros-ssl simulate --out runs/sim.bag --duration 60 --seed 1
    ros-ssl inspect runs/sim.bag

Errors that ros_ssl raises on purpose (bad bag, bad profile, bad model) print as one line and exit 2.
"""

from __future__ import annotations

import sys

import typer

from ros_ssl import __version__
from ros_ssl.cli import common
from ros_ssl.errors import RosSslError

app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context,
          version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    """Self-supervised long-range perception for mobile robots: log, label, train, deploy."""
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _register() -> None:
    # Each stage lives in its own module; importing it adds its command(s) to ``app``.
    from ros_ssl.cli import inspect_cmd  # noqa: F401

    for module in common.OPTIONAL_COMMANDS:
        common.import_command(module)


def main() -> None:
    _register()
    try:
        app()
    except RosSslError as err:
        print(f"ros-ssl: error: {err}", file=sys.stderr)
        sys.exit(2)
