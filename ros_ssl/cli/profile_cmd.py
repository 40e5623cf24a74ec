"""``ros-ssl profile suggest``: a commented profile from the bags; ``ros-ssl profile check``: does it fit?

Example::

    ros-ssl profile suggest my_robot_bag --out robot.yaml [--from-urdf robot.urdf] [--sensors /scan:0,320,639]
    ros-ssl profile check my_robot_bag --config robot.yaml --out runs/check

``suggest`` finds the camera, proximity and odometry sources, measures rates, speeds and ranges, and
writes a validated profile whose every chosen value carries a comment saying why; ``check`` prints
the coverage it gives per distance and sensor (``dry_run.txt``/``dry_run.png``), the limits that cost
the most labels, and the checks that catch a wrong profile (sensor poses, camera clock, odometry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt
from ros_ssl.errors import ConfigError

profile_app = typer.Typer(help="Suggest a robot profile from bags, and check one against them.",
                          no_args_is_help=True)
app.add_typer(profile_app, name="profile")

BagsArg = Annotated[list[Path],
                    typer.Argument(help="rosbag2 directories, .mcap/.db3 files or ROS 1 .bag files.")]


@profile_app.command("suggest")
def suggest(
        bags: BagsArg,
        out: Annotated[Path, typer.Option("--out", "-o", help="Profile YAML to write.")],
        from_urdf: Annotated[Path | None, typer.Option(
            "--from-urdf", help="URDF whose joints give the sensor and camera poses on base_link.")] = None,
        sensors: Annotated[list[str] | None, typer.Option(
            "--sensors", help="Proximity source to use (repeat): a Range topic, or "
                              "SCAN_TOPIC[:beam,beam,...] (default: every Range topic, else 5 beams of "
                              "the LaserScan).")] = None,
        name: Annotated[str, typer.Option("--name", help="Profile name.")] = "my_robot") -> None:
    """Write a profile for the robot that recorded BAGS, each chosen value with a comment saying why."""
    from ros_ssl.label.suggest import FILL_IN, suggest_profile, write_profile

    sug = suggest_profile(bags, sensors or (), from_urdf, name)
    typer.echo("\n".join(sug.findings))
    if sug.profile is None:
        why = sug.findings[-1].removeprefix("cannot suggest a profile: ")
        raise ConfigError(f"no profile written: {why}")
    write_profile(sug, out)
    todo = len(sug.fill_in)
    typer.echo(f"wrote {out}" + (f": {todo} value(s) marked {FILL_IN} to check" if todo else ""))


@profile_app.command("check")
def check(
        bags: BagsArg, config: ConfigOpt = None,
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Directory for dry_run.txt and dry_run.png (default: none).")] = None,
) -> None:
    """Dry-run labelling of BAGS with the profile (coverage, costly limits); check poses, clock, odometry."""
    from ros_ssl.config import load_profile
    from ros_ssl.label.checks import run_checks
    from ros_ssl.label.dryrun import dry_run_streams, format_dry_run, load_streams, write_dry_run

    profile = load_profile(config)
    loaded = [load_streams(bag, profile) for bag in bags]  # each bag read once, for both parts
    run = dry_run_streams(loaded, profile)
    typer.echo(format_dry_run(run))
    if out is not None:
        txt, png = write_dry_run(run, out)
        typer.echo(f"wrote {txt} and {png}")
    for bag, (streams, synthetic) in zip(bags, loaded, strict=True):
        typer.echo(f"checks of {bag}:")
        typer.echo(run_checks(streams, profile, camera=not synthetic).format())
