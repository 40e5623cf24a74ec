"""Checkpoints as plain state_dicts (loaded with ``weights_only=True``) and rebuilding a run's model.

A run directory holds::

    config.yaml            model, image size, label geometry, mean/std, split, recipe
    checkpoints/last.pt    {model, optimizer, scheduler, scaler, epoch, best, config}: resume from here
    checkpoints/best.pt    the same, at the epoch with the best validation mean AUC
    checkpoints/encoder.pt the encoder's state_dict alone (interchangeable with SSL runs' encoder.pt)
    metrics.csv            one row per epoch
    metrics.json           evaluation of best.pt (``ros-ssl evaluate``)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ros_ssl.models import Detector, build_encoder
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.run_config import CONFIG, PretrainRunConfig, RunConfig, read_run_config


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (temporary file then rename) so a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load tensors and plain Python values only (``weights_only=True``: no code runs from the file)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint {path} not found")
    try:
        state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise TrainingError(f"checkpoint {path} cannot be loaded safely: {str(err).splitlines()[0]}") from err
    return state


def build_detector(config: RunConfig) -> Detector:
    """An untrained detector shaped as a run's config describes (linear probes standardise features)."""
    encoder = build_encoder(config.model, config.image_hw)
    return Detector(encoder, config.label_shape, dropout=config.recipe.dropout,
                    feature_norm=config.recipe.freeze)


def load_detector(run_dir: str | Path, which: str = "best",
                  device: torch.device | str = "cpu") -> tuple[Detector, RunConfig]:
    """The trained detector of a run (``which`` = best or last checkpoint), in eval mode, and its config."""
    config = read_run_config(run_dir)
    if isinstance(config, PretrainRunConfig):
        raise TrainingError(f"{run_dir} is an SSL pretraining run and holds no detector; train one from it "
                            f"with 'ros-ssl train DATASET --init {run_dir}'")
    model = build_detector(config)
    state = load_checkpoint(Path(run_dir) / "checkpoints" / f"{which}.pt", device)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


def load_encoder_weights(model: Detector, init_run: str | Path, model_name: str) -> None:
    """Initialise ``model.encoder`` from ``init_run``/checkpoints/encoder.pt (an SSL or training run)."""
    init_run = Path(init_run)
    file = init_run / "checkpoints" / "encoder.pt"
    if (init_run / CONFIG).is_file():
        source = read_run_config(init_run).model
        if source != model_name:
            raise TrainingError(f"{init_run} holds a {source} encoder but this run trains {model_name}; "
                                f"pass --model {source}")
    state = load_checkpoint(file)
    try:
        model.encoder.load_state_dict(state)
    except RuntimeError as err:
        first_line = str(err).splitlines()[0]
        raise TrainingError(f"{file} does not fit the {model_name} encoder: {first_line}") from err


def load_detector_weights(model: Detector, init_run: str | Path, model_name: str) -> None:
    """Initialise the whole ``model`` (encoder and head) from training run ``init_run``'s best.pt."""
    init_run = Path(init_run)
    file = init_run / "checkpoints" / "best.pt"
    config = read_run_config(init_run)
    if isinstance(config, PretrainRunConfig) or config.model != model_name:
        raise TrainingError(f"{init_run} holds no {model_name} detector; init_head needs a training run of "
                            f"the same model")
    try:
        model.load_state_dict(load_checkpoint(file)["model"])
    except (RuntimeError, KeyError) as err:
        first_line = str(err).splitlines()[0]
        raise TrainingError(f"{file} does not fit this {model_name} detector: {first_line}") from err
