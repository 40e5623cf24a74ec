"""``ros-ssl label``: turn bags into a labelled dataset; ``ros-ssl label-stats``: score one.

Example::

    ros-ssl label runs/sim1.bag runs/sim2.bag --out runs/dataset --config sim --workers 2 --report
    ros-ssl label-stats runs/dataset

Labelling appends to an existing dataset and skips bags it already holds. ``--report`` (and
``label-stats``) write DATASET/label_report.json and label_report.png: coverage and, for simulator
bags, accuracy / false-positive / false-negative rates of the pseudo-labels per distance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt
from ros_ssl.config import load_profile

BagsArg = Annotated[list[Path],
                    typer.Argument(help="rosbag2 directories, .mcap/.db3 files or ROS 1 .bag files.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Dataset directory (created, or appended to).")]


@app.command("label")
def label(bags: BagsArg, out: OutOpt, config: ConfigOpt = None,
          workers: int = typer.Option(
              0, "--workers", "-j", min=0,
              help="Bags labelled in parallel (0 = one per CPU, at most one per bag)."),
          report: bool = typer.Option(
              False, "--report", help="Score labels and write label_report.json/png."),
          progress: bool = typer.Option(
              True, "--progress/--no-progress", help="Show a progress bar.")) -> None:
    """Label BAGS (future proximity readings -> labels of earlier frames) into the dataset at --out."""
    from ros_ssl.label.pipeline import label_bags

    summary = label_bags(bags, out, load_profile(config), workers=workers, progress=progress)
    for meta in summary["labelled"]:
        r = meta["report"]
        skipped = ", ".join(f"{k} {v}" for k, v in r["frames_skipped"].items() if v) or "none"
        typer.echo(f"{meta['id']}: {r['frames_kept']}/{r['frames_in_bag']} frames kept, "
                   f"{r['frames_with_labels']} with labels, {100 * r['known_fraction']:.1f}% cells known; "
                   f"skipped: {skipped}")
    for path in summary["skipped_existing"]:
        typer.echo(f"{path}: already in {out}, skipped")
    for fail in summary["failed"]:
        typer.echo(f"{fail['bag']}: FAILED: {fail['error']}", err=True)
    typer.echo(f"{out}: {summary['frames']} frames")
    if report:
        _report(out, None)
    if summary["failed"]:
        raise typer.Exit(1)


@app.command("label-stats")
def label_stats(
        dataset: Annotated[Path, typer.Argument(help="Dataset directory written by 'ros-ssl label'.")],
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Directory for the report files (default: the dataset).")) -> None:
    """Print and save coverage and pseudo-label accuracy against simulator truth per distance."""
    _report(dataset, out)


def _report(dataset: Path, out: Path | None) -> None:
    from ros_ssl.data import load_dataset
    from ros_ssl.label.report import format_table, write_report

    report, json_path, png_path = write_report(load_dataset(dataset), out)
    typer.echo(format_table(report))
    typer.echo(f"wrote {json_path} and {png_path}")
