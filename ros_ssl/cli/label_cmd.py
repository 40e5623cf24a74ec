"""``ros-ssl label``: turn bags into a labelled dataset; ``ros-ssl label-stats``: score one.

Example::

    ros-ssl label runs/sim1.bag runs/sim2.bag --out runs/dataset --config sim --workers 2 --report
    ros-ssl label s3://fleet/bags/a.mcap s3://fleet/bags/b.mcap --out s3://fleet/datasets/day1 \
        --executor ray --address HEAD:6379
    ros-ssl label-stats runs/dataset

Labelling appends to an existing dataset and skips bags it already holds. ``--report`` (and
``label-stats``) write DATASET/label_report.json and label_report.png: coverage and, for simulator
bags, accuracy / false-positive / false-negative rates of the pseudo-labels per distance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt, check_writable
from ros_ssl.config import load_profile
from ros_ssl.label.executors import ExecutorKind

# Strings, not Paths: a Path would fold the '//' of a URL (s3://bucket -> s3:/bucket).
BagsArg = Annotated[list[str],
                    typer.Argument(help="rosbag2 directories, .mcap/.db3 files or ROS 1 .bag files: local "
                                        "paths or fsspec URLs (s3://, gs://, file://).")]
OutOpt = Annotated[str, typer.Option("--out", "-o",
                                     help="Dataset directory or URL (created, or appended to).")]


@app.command("label")
def label(bags: BagsArg, out: OutOpt, config: ConfigOpt = None,
          workers: int = typer.Option(
              0, "--workers", "-j", min=0,
              help="Bags labelled in parallel (0 = one per CPU, at most one per bag)."),
          report: bool = typer.Option(
              False, "--report", help="Score labels and write label_report.json/png."),
          progress: bool = typer.Option(
              True, "--progress/--no-progress", help="Show a progress bar."),
          dry_run: bool = typer.Option(
              False, "--dry-run", help="Write no dataset: print the coverage per distance and sensor and "
                                       "the limits that cost labels; dry_run.txt/png go to --out."),
          executor: ExecutorKind = typer.Option(
              ExecutorKind.LOCAL, "--executor",
              help="local: worker processes here; ray: tasks on a Ray cluster (pip install "
                   "'ros_ssl[cluster]'), a local one started and stopped here unless --address is given."),
          address: str | None = typer.Option(
              None, "--address",
              help="Address of a running Ray cluster (HOST:PORT) for --executor ray.")) -> None:
    """Label BAGS (future proximity readings -> labels of earlier frames) into the dataset at --out."""
    if dry_run:
        from ros_ssl.label import dryrun

        result = dryrun.dry_run(bags, load_profile(config))
        typer.echo(dryrun.format_dry_run(result))
        typer.echo("wrote {} and {}".format(*dryrun.write_dry_run(result, out)))
        return
    from ros_ssl.io import local_path
    from ros_ssl.label.pipeline import label_bags

    profile = load_profile(config)
    local = local_path(out)
    if local is not None:
        check_writable(local)
    summary = label_bags(bags, out, profile, workers=workers, progress=progress, executor=executor,
                         address=address)
    for meta in summary["labelled"]:
        typer.echo(summary_line(meta["id"], meta["report"]))
        for warning in meta["report"].get("warnings", []):
            typer.echo(f"ros-ssl: warning: {warning}", err=True)
    for path in summary["skipped_existing"]:
        typer.echo(f"{path}: already in {out}, skipped")
    for fail in summary["failed"]:
        typer.echo(f"{fail['bag']}: FAILED: {fail['error']}", err=True)
    typer.echo(f"{out}: {summary['frames']} frames")
    if report:
        _report(out, None)
    if summary["failed"]:
        raise typer.Exit(1)


def summary_line(rid: str, r: dict[str, Any]) -> str:
    """One line per labelled bag: what was kept, and every reason something was dropped or cut."""
    def counts(items: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in items.items() if v)

    skipped = dict(r["frames_skipped"])
    undecodable = counts(r.get("undecodable", {}))
    parts = [f"{k} {v}" + (f" ({undecodable})" if k == "undecodable" and undecodable else "")
             for k, v in skipped.items() if v]
    line = (f"{rid}: {r['frames_kept']}/{r['frames_in_bag']} frames kept, {r['frames_with_labels']} with "
            f"labels, {100 * r['known_fraction']:.1f}% cells known; skipped: {', '.join(parts) or 'none'}")
    odom = r["odometry"]
    cuts = counts({"gaps": odom.get("odom_gaps", 0), "resets": odom.get("odom_resets", 0)})
    if cuts:
        line += f"; odometry cut at {cuts}"
    backwards = {"camera": r["frames_out_of_order"], "odometry": odom.get("odom_out_of_order", 0),
                 **{name: c.get("readings_out_of_order", 0) for name, c in r["readings"].items()}}
    if any(backwards.values()):
        line += f"; stamps going backwards: {counts(backwards)}"
    duplicates = sum(r.get("duplicates", {}).values())
    if duplicates:
        line += f"; {duplicates} duplicate messages dropped"
    return line


@app.command("label-stats")
def label_stats(
        dataset: Annotated[Path, typer.Argument(help="Dataset directory written by 'ros-ssl label'.")],
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Directory for the report files (default: the dataset).")) -> None:
    """Print and save coverage and pseudo-label accuracy against simulator truth per distance."""
    _report(dataset, out)


def _report(dataset: str | Path, out: Path | None) -> None:
    from ros_ssl.data import load_dataset
    from ros_ssl.label.report import format_table, write_report

    report, json_path, png_path = write_report(load_dataset(dataset), out)
    typer.echo(format_table(report))
    typer.echo(f"wrote {json_path} and {png_path}")
