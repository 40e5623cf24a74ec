"""The ``ros-ssl`` Typer application and its root options; command modules add their commands to it.

Kept apart from ``main`` (which imports the command modules) so that no module imports its importer.
"""

from __future__ import annotations

import typer

from ros_ssl import __version__

app = typer.Typer(help="``ros-ssl``: one subcommand per stage of log -> label -> train -> deploy.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


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
