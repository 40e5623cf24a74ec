"""``ros-ssl dataset verify|repair|convert``: find damage in a dataset, drop or relabel it, convert format 1.

Example::

    ros-ssl dataset verify runs/dataset
    ros-ssl dataset repair runs/dataset --relabel
    ros-ssl dataset convert runs/old_dataset runs/dataset

``verify`` reads every shard whole (frames included), prints one line per damaged recording and per
leftover of a writer that stopped, and exits 1 if a recording is damaged. ``repair`` drops damaged
recordings and leftovers (never pads or guesses); with ``--relabel`` it labels the dropped recordings
again from their bags, where the bags still exist. ``convert`` copies a format 1 dataset into a new
format 2 one (run it again after an interruption: it continues).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt

dataset_app = typer.Typer(help="Verify, repair or convert a dataset directory.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

DatasetArg = Annotated[Path, typer.Argument(help="Dataset directory written by 'ros-ssl label'.")]


@dataset_app.command("verify")
def verify(dataset: DatasetArg) -> None:
    """Check every recording whole (sizes, descriptions, sha256 of every array); exit 1 if one is damaged."""
    from ros_ssl.data.maintenance import verify_dataset

    found = verify_dataset(dataset)
    for p in found.damaged:
        typer.echo(f"{dataset}: damaged {p.entry.parent.name}/{p.entry.name}: {p.text}")
    for p in found.leftovers:
        typer.echo(f"{dataset}: leftover {p.entry.parent.name}/{p.entry.name}: {p.text}")
    for t in found.in_progress:
        typer.echo(f"{dataset}: in progress {t.parent.name}/{t.name}: a running writer is adding it")
    typer.echo(f"{dataset}: {found.recordings} recordings ({found.frames} frames) intact, "
               f"{len(found.damaged)} damaged")
    if found.damaged:
        typer.echo(f"run 'ros-ssl dataset repair {dataset}' to drop the damaged recordings (--relabel labels "
                   f"them again from their bags)", err=True)
        raise typer.Exit(1)


@dataset_app.command("repair")
def repair(dataset: DatasetArg,
           relabel: Annotated[bool, typer.Option(
               "--relabel", help="Label the dropped recordings again from their bags (where they exist).")]
           = False,
           config: ConfigOpt = None) -> None:
    """Drop damaged recordings and stopped writers' leftovers; with --relabel, label the dropped ones again.

    --config is the profile --relabel labels with (default: the one stored in the dataset).
    """
    from ros_ssl.data import load_dataset
    from ros_ssl.data.maintenance import repair_dataset

    done = repair_dataset(dataset)
    for d in done.dropped:
        typer.echo(f"{dataset}: dropped {d.id}: {d.problem}")
    for p in done.removed:
        typer.echo(f"{dataset}: removed leftover {p.parent.name}/{p.name}")
    if not done.dropped and not done.removed:
        typer.echo(f"{dataset}: nothing to repair")
    if not relabel or not done.dropped:
        return
    from ros_ssl.config import load_profile
    from ros_ssl.label.pipeline import bag_id, label_bags

    bags: list[str] = []
    for d in done.dropped:
        if d.bag is not None and Path(d.bag).exists() and bag_id(d.bag) == d.id:
            bags.append(d.bag)
        else:
            why = "its shard.json no longer names it" if d.bag is None else f"{d.bag} is gone"
            typer.echo(f"{dataset}: cannot relabel {d.id}: {why}", err=True)
    profile = load_profile(config) if config is not None else load_dataset(dataset).profile
    summary = label_bags(bags, dataset, profile, progress=False) if bags else {"labelled": [], "failed": []}
    for meta in summary["labelled"]:
        typer.echo(f"{dataset}: relabelled {meta['id']} from {meta['bag']}")
    for fail in summary["failed"]:
        typer.echo(f"{fail['bag']}: FAILED: {fail['error']}", err=True)
    if len(summary["labelled"]) < len(done.dropped):
        raise typer.Exit(1)


@dataset_app.command("convert")
def convert(old: Annotated[Path, typer.Argument(help="Format 1 dataset (manifest.json over flat files).")],
            new: Annotated[Path, typer.Argument(help="New format 2 dataset directory (created).")]) -> None:
    """Copy a format 1 dataset into a new format 2 dataset, recording by recording."""
    from ros_ssl.data.maintenance import convert_dataset

    done = convert_dataset(old, new)
    for rid in done.present:
        typer.echo(f"{new}: already holds {rid}, kept")
    typer.echo(f"{new}: {len(done.converted)} recordings converted from {old}")
