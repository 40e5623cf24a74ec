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
import yaml

from ros_ssl.models import Detector, build_encoder
from ros_ssl.train.errors import TrainingError

CONFIG = "config.yaml"


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
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise TrainingError(f"checkpoint {path} cannot be loaded safely: {str(err).splitlines()[0]}") from err


def read_config(run_dir: str | Path) -> dict[str, Any]:
    file = Path(run_dir) / CONFIG
    if not file.is_file():
        raise TrainingError(f"{run_dir} is not a training run: {CONFIG} not found")
    return yaml.safe_load(file.read_text())


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))


def build_detector(config: dict[str, Any]) -> Detector:
    """An untrained detector shaped as a run's config describes (linear probes standardise features)."""
    encoder = build_encoder(config["model"], tuple(config["image_hw"]))
    recipe = config["recipe"]
    return Detector(encoder, tuple(config["label_shape"]), dropout=float(recipe.get("dropout", 0.0)),
                    feature_norm=bool(recipe.get("freeze", False)))


def load_detector(run_dir: str | Path, which: str = "best",
                  device: torch.device | str = "cpu") -> tuple[Detector, dict[str, Any]]:
    """The trained detector of a run (``which`` = best or last checkpoint), in eval mode, and its config."""
    config = read_config(run_dir)
    model = build_detector(config)
    state = load_checkpoint(Path(run_dir) / "checkpoints" / f"{which}.pt", device)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


def load_encoder_weights(model: Detector, init_run: str | Path, model_name: str) -> None:
    """Initialise ``model.encoder`` from ``init_run``/checkpoints/encoder.pt (an SSL or training run)."""
    init_run = Path(init_run)
    file = init_run / "checkpoints" / "encoder.pt"
    if (init_run / CONFIG).is_file():
        source = yaml.safe_load((init_run / CONFIG).read_text()).get("model")
        if source is not None and source != model_name:
            raise TrainingError(f"{init_run} holds a {source} encoder but this run trains {model_name}; "
                                f"pass --model {source}")
    state = load_checkpoint(file)
    try:
        model.encoder.load_state_dict(state)
    except RuntimeError as err:
        raise TrainingError(f"{file} does not fit the {model_name} encoder: {str(err).splitlines()[0]}") from err
