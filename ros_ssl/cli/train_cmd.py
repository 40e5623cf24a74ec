"""``ros-ssl train`` and ``ros-ssl evaluate``: learn the long-range detector and score it like the paper.

Example::

    ros-ssl train runs/demo/dataset --out runs/cnn --recipe paper_cnn
    ros-ssl train runs/demo/dataset --out runs/r18 --model resnet18 --set lr=0.0005 --set augment.flip=0
    torchrun --nproc_per_node=4 -m ros_ssl train runs/big/dataset --out runs/big_r18 --recipe resnet18
    ros-ssl evaluate runs/cnn runs/demo/dataset --split test
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import check_writable

DatasetArg = Annotated[Path, typer.Argument(help="A dataset directory written by 'ros-ssl label'.")]


@app.command("train")
def train(
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o",
                                      help="Run directory to create (or continue with --resume).")],
    recipe: Annotated[str | None, typer.Option(help="Recipe YAML path or a name in training/ (e.g. quick, "
                                                       "paper_cnn, resnet18, quality).")] = None,
    model: Annotated[str | None,
                     typer.Option(help="Encoder: paper_cnn, resnet18, mobilenet_v3_small.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Number of epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size per process.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    seed: Annotated[int | None,
                    typer.Option(help="Random seed of initialisation, shuffling, augmentation.")] = None,
    workers: Annotated[int | None, typer.Option(help="DataLoader worker processes.")] = None,
    init: Annotated[Path | None, typer.Option(help="Initialise the encoder from RUN/checkpoints/encoder.pt "
                                                     "(an SSL pretraining or training run).")] = None,
    freeze: Annotated[bool, typer.Option(help="Train only the head on the frozen --init encoder "
                                              "(linear probe).")] = False,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Recipe override key=value (repeatable), "
                                                                  "e.g. --set augment.flip=0.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train a detector on DATASET (split by world/recording), keep the best epoch on validation AUC, and
    evaluate it on the test recordings into OUT/metrics.json."""
    from ros_ssl.train.evaluate import format_table
    from ros_ssl.train.recipe import load_recipe, parse_overrides
    from ros_ssl.train.trainer import train as run_training

    overrides: dict[str, Any] = parse_overrides(set_ or [])
    explicit = {"model": model, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                "workers": workers, "init": str(init) if init is not None else None, "freeze": freeze or None}
    overrides.update({k: v for k, v in explicit.items() if v is not None})
    check_writable(out)
    result = run_training(dataset, out, load_recipe(recipe, overrides), resume=resume, progress=not quiet)
    if not result.is_main:
        return
    if result.metrics is not None:
        typer.echo(format_table(result.metrics))
        typer.echo(f"best epoch {result.best_epoch + 1}; metrics in {out / 'metrics.json'}")
    else:
        typer.echo(f"trained into {out} (best epoch {result.best_epoch + 1}); the split has no test "
                   f"recordings, so evaluate it with 'ros-ssl evaluate {out} DATASET --split all' "
                   f"on held-out data")


@app.command("evaluate")
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory written by 'ros-ssl train'.")],
    dataset: DatasetArg,
    split: Annotated[str, typer.Option(help="Recordings to score: test, val, train (the run's split) or all "
                                            "(a held-out dataset).")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    out: Annotated[Path | None,
                   typer.Option(help="Folder for metrics.json and plots (default: RUN).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the confidence intervals.")] = 1000,
    plots: Annotated[bool, typer.Option(help="Write auc_vs_distance.png and samples.png.")] = True,
) -> None:
    """Score RUN on DATASET: AUC per sensor x distance on known labels (and vs dense truth on simulator
    data), bootstrap intervals by recording; print the table and write metrics.json."""
    from ros_ssl.errors import ConfigError
    from ros_ssl.train.evaluate import evaluate as run_evaluation
    from ros_ssl.train.evaluate import format_table

    if checkpoint not in ("best", "last"):
        raise ConfigError(f"--checkpoint {checkpoint!r} is not 'best' or 'last'")
    metrics = run_evaluation(run, dataset, split, checkpoint, out_dir=out, bootstrap=bootstrap, plots=plots)
    typer.echo(format_table(metrics))
    typer.echo(f"metrics in {(out or run) / 'metrics.json'}")
