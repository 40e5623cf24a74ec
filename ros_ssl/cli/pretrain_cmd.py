"""``ros-ssl pretrain``, ``embed`` and ``study``: self-supervised encoders and what they buy.

Example::

    ros-ssl pretrain runs/demo/dataset --method byol --out runs/byol
    ros-ssl train runs/demo/dataset --out runs/byol_ft --init runs/byol
    ros-ssl embed runs/byol runs/demo/dataset --out runs/byol/neighbours.png
    ros-ssl study --out runs/study            # the label-efficiency study (about 45 minutes on 2 cores)
    ros-ssl study --out /tmp/study --quick    # the same pipeline in a few minutes

Under ``torchrun --nproc_per_node=N -m ros_ssl pretrain ...`` the same command trains with
DistributedDataParallel.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ros_ssl.cli.app import app

DatasetArg = Annotated[Path, typer.Argument(help="A dataset directory written by 'ros-ssl label'.")]


@app.command("pretrain")
def pretrain_command(
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create (or continue with "
                                                          "--resume).")],
    method: Annotated[str | None, typer.Option(help="simclr, temporal, byol, vicreg, rotation, mae or "
                                                       "egomotion (default: the recipe's).")] = None,
    recipe: Annotated[str | None, typer.Option(help="Recipe YAML path or a name in training/ "
                                                       "(default: ssl_<method>).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Number of epochs.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Encoder: paper_cnn, resnet18, "
                                                        "mobilenet_v3_small.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size per process.")] = None,
    workers: Annotated[int | None, typer.Option(help="DataLoader worker processes.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of initialisation, shuffling, "
                                                     "augmentation.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Recipe override key=value "
                                                                  "(repeatable), e.g. --set "
                                                                  "params.temperature=0.2.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Pretrain an encoder on every frame of DATASET, labelled or not; writes OUT/checkpoints/encoder.pt for
    'ros-ssl train --init OUT'."""
    from ros_ssl.ssl.pretrain import pretrain
    from ros_ssl.ssl.recipe import load_pretrain_recipe
    from ros_ssl.train.recipe import parse_overrides

    overrides: dict[str, Any] = parse_overrides(set_ or [])
    explicit = {"method": method, "epochs": epochs, "model": encoder, "batch_size": batch_size,
                "workers": workers, "seed": seed}
    overrides.update({k: v for k, v in explicit.items() if v is not None})
    name = recipe if recipe is not None else f"ssl_{method or 'simclr'}"
    result = pretrain(dataset, out, load_pretrain_recipe(name, overrides), resume=resume, progress=not quiet)
    typer.echo(f"pretrained {result.epochs} epochs, final loss {result.final_loss:.4f}, "
               f"{result.images_per_s:.0f} images/s: {result.run_dir / 'checkpoints' / 'encoder.pt'}")


@app.command("embed")
def embed_command(
    run: Annotated[Path, typer.Argument(help="An SSL or training run directory (its "
                                             "checkpoints/encoder.pt).")],
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")],
    queries: Annotated[int, typer.Option(help="Rows: random query frames.")] = 8,
    k: Annotated[int, typer.Option(help="Nearest neighbours per query.")] = 6,
    max_frames: Annotated[int, typer.Option(help="Embed at most this many random frames.")] = 4000,
    exclude_s: Annotated[float, typer.Option(help="Skip neighbours from the query's recording within this "
                                                  "many seconds.")] = 5.0,
    seed: Annotated[int, typer.Option(help="Random seed of the frame sample and the queries.")] = 0,
) -> None:
    """Write a PNG grid: query frames beside their nearest neighbours in the encoder's embedding."""
    from ros_ssl.ssl.embed import write_neighbour_grid

    typer.echo(write_neighbour_grid(run, dataset, out, queries, k, max_frames, exclude_s, seed))


@app.command("study")
def study_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Study folder (created; a rerun finishes what is "
                                                          "missing).")],
    dataset: Annotated[Path | None, typer.Option(help="Use this simulator dataset instead of simulating "
                                                         "worlds.")] = None,
    quick: Annotated[bool, typer.Option(help="Minutes: 6 tiny worlds, a few steps per run (a smoke test; "
                                             "the figures mean nothing).")] = False,
    worlds: Annotated[int | None, typer.Option(help="Simulated worlds (one recording each).")] = None,
    duration: Annotated[float | None, typer.Option(help="Simulated seconds per world.")] = None,
    test_worlds: Annotated[int | None, typer.Option(help="Held-out worlds scored against dense truth "
                                                         "(default 8).")] = None,
    unlabelled_worlds: Annotated[int | None, typer.Option(help="Extra worlds only pretraining sees "
                                                               "(default 6).")] = None,
    methods: Annotated[str | None, typer.Option(help="Comma-separated SSL methods (default: "
                                                        "simclr,egomotion).")] = None,
    fractions: Annotated[str | None, typer.Option(help="Comma-separated shares of labelled training "
                                                          "recordings (default: 0.05,0.2,1).")] = None,
    modes: Annotated[str | None, typer.Option(help="Comma-separated: finetune, probe (default: "
                                                      "both).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per cell (default 3).")] = None,
    seed: Annotated[int | None, typer.Option(help="First seed; also draws the test worlds.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Encoder: paper_cnn, resnet18, "
                                                        "mobilenet_v3_small.")] = None,
    pretrain_epochs: Annotated[int | None, typer.Option(help="Pretraining epochs per method.")] = None,
    pretrain_steps: Annotated[int | None, typer.Option(help="Pretraining steps per epoch.")] = None,
    pretrain_batch: Annotated[int | None, typer.Option(help="Pretraining batch size (the same for every "
                                                            "method).")] = None,
    pretrain_per_seed: Annotated[bool, typer.Option(help="Pretrain once per seed, not once per "
                                                         "method.")] = False,
    finetune_epochs: Annotated[int | None, typer.Option(help="Detector training epochs per run.")] = None,
    finetune_steps: Annotated[int | None, typer.Option(help="Detector training steps per epoch.")] = None,
    bootstrap: Annotated[int | None, typer.Option(help="Bootstrap replicates by test world "
                                                       "(default 1000).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars.")] = False,
) -> None:
    """Label efficiency: scratch vs each SSL-pretrained encoder, fine-tuned and as a linear probe, with 5%,
    20% and 100% of the labelled recordings, scored against dense truth on held-out simulated worlds
    with paired bootstrap intervals; writes study.md, study.json and study.png."""
    from dataclasses import replace

    from ros_ssl.experiments.study import QUICK, StudyConfig, run_study

    config = QUICK if quick else StudyConfig()
    changes: dict[str, Any] = {
        "worlds": worlds, "duration_s": duration, "test_worlds": test_worlds,
        "unlabelled_worlds": unlabelled_worlds, "seeds": seeds, "seed": seed, "model": encoder,
        "pretrain_epochs": pretrain_epochs, "pretrain_steps": pretrain_steps,
        "pretrain_batch": pretrain_batch,
        "finetune_epochs": finetune_epochs, "finetune_steps": finetune_steps, "bootstrap": bootstrap}
    if pretrain_per_seed:
        changes["pretrain_per_seed"] = True
    if methods is not None:
        changes["methods"] = _names(methods)
    if modes is not None:
        changes["modes"] = _names(modes)
    if fractions is not None:
        changes["fractions"] = tuple(_fraction(f) for f in fractions.split(",") if f.strip())
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    started = time.perf_counter()
    run_study(out, config, dataset, progress, log=typer.echo)
    typer.echo((out / "study.md").read_text())
    typer.echo(f"study.json, study.md and study.png in {out} ({time.perf_counter() - started:.0f} s)")


def _names(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _fraction(text: str) -> float:
    from ros_ssl.errors import ConfigError

    try:
        return float(text)
    except ValueError as err:
        raise ConfigError(f"--fractions entry {text.strip()!r} is not a number") from err
