"""``ros-ssl learn``: the workstation side of the learning loop; ``ros-ssl models``: list and roll back.

Example::

    ros-ssl label runs/holdout_bags/* --out runs/holdout          # once: the fixed held-out set
    ros-ssl learn --drop /data/drop --models /data/models --dataset /data/dataset --holdout runs/holdout
    ros-ssl models list --models /data/models
    ros-ssl models rollback --models /data/models                 # current -> the previous good package

``learn`` watches the drop folder the recorder hands complete bags into, labels each new bag into the
dataset, fine-tunes the current model, scores it on the held-out dataset, exports it and publishes it to
the models folder the detector watches, if it is not worse than the current model beyond ``--tolerance``.
Kill it at any time: started again, it continues where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ros_ssl.cli.app import app
from ros_ssl.cli.common import ConfigOpt, check_writable

models_app = typer.Typer(help="The models folder the learner publishes to: list packages, roll back.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")

ModelsOpt = Annotated[Path, typer.Option("--models", help="Models folder (MODELS/<id>/, MODELS/current).")]


@app.command("learn")
def learn(
    drop: Annotated[Path, typer.Option(help="Drop folder the recorder hands complete bags into.")],
    models: ModelsOpt,
    dataset: Annotated[Path, typer.Option(help="Dataset the new bags are labelled into (created or "
                                               "appended to).")],
    holdout: Annotated[Path, typer.Option(help="Labelled held-out dataset, never trained on: every "
                                               "round is scored on it.")],
    work: Annotated[Path | None, typer.Option(help="Training runs, candidate packages and state.json "
                                                   "(default: DATASET.learner).")] = None,
    recipe: Annotated[str, typer.Option(help="Recipe of a model trained from scratch (no current "
                                             "model).")] = "loop",
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs per round (the round's budget).")] = 4,
    lr: Annotated[float, typer.Option(help="Fine-tuning peak learning rate.")] = 3e-3,
    retrain: Annotated[bool, typer.Option(help="Train each round's candidate from scratch on the whole "
                                               "dataset (--recipe) instead of fine-tuning the current "
                                               "model.")] = False,
    tolerance: Annotated[float, typer.Option(help="Publish unless the held-out AUC falls more than this "
                                                  "below the current model's.")] = 0.01,
    poll: Annotated[float, typer.Option(help="Seconds between looks at the drop folder.")] = 5.0,
    once: Annotated[bool, typer.Option(help="One step (label what is new, at most one round), then exit.")]
    = False,
    config: ConfigOpt = None,
) -> None:
    """Watch the drop folder: label new bags, fine-tune, evaluate, export and publish better models."""
    from ros_ssl.config import load_profile
    from ros_ssl.errors import ConfigError
    from ros_ssl.loop.learner import Learner, LearnerConfig
    from ros_ssl.train.recipe import load_recipe

    if epochs < 1 or not 0 < lr <= 1 or tolerance < 0 or poll <= 0:
        raise ConfigError(f"--epochs {epochs}, --lr {lr}, --tolerance {tolerance}, --poll {poll}: expected "
                          f"epochs >= 1, 0 < lr <= 1, tolerance >= 0 and poll > 0")
    for folder in (models, dataset):
        check_writable(folder)
    cfg = LearnerConfig(drop=drop, models=models, dataset=dataset, holdout=holdout,
                        work=work or dataset.with_name(dataset.name + ".learner"),
                        profile=load_profile(config or "sim"), recipe=load_recipe(recipe),
                        finetune_epochs=epochs, finetune_lr=lr, tolerance=tolerance, retrain=retrain)
    learner = Learner(cfg, log=typer.echo)
    try:
        learner.watch(poll, once=once)
    except KeyboardInterrupt:
        typer.echo("learner stopped; started again it continues where it stopped")
    typer.echo(f"{len(learner.state.rounds)} rounds, {learner.skipped_bags} bags skipped, "
               f"current model {learner.models.current()}")


@models_app.command("list")
def list_models(models: ModelsOpt) -> None:
    """Print each package (current marked with *), whether it verifies, and the history's score."""
    from ros_ssl.errors import RosSslError
    from ros_ssl.loop.models import ModelsDir, verify_package

    folder = ModelsDir(models)
    current = folder.current()
    scores = {r["model_id"]: r.get("score") for r in folder.history() if r.get("event") == "publish"}
    for model_id in folder.ids():
        try:
            state = f"sha256 {verify_package(folder.package(model_id))[:12]}"
        except (RosSslError, OSError) as err:
            state = f"BROKEN: {err}"
        score = scores.get(model_id)
        shown = f"score {score:.3f}" if score is not None else "not published here"
        typer.echo(f"{'*' if model_id == current else ' '} {model_id}  {shown}  {state}")


@models_app.command("rollback")
def rollback(models: ModelsOpt,
             to: Annotated[str | None, typer.Option(help="Package id to make current (default: the one "
                                                         "published before the current one).")] = None,
             ) -> None:
    """Point MODELS/current back at an earlier package that verifies (one atomic replace)."""
    from ros_ssl.loop.models import ModelsDir

    folder = ModelsDir(models)
    before = folder.current()
    typer.echo(f"current: {before} -> {folder.rollback(to)}")
