"""Pretraining recipes: a frozen dataclass read from YAML (``training/ssl_*.yaml``) plus CLI overrides.

Example recipe::

    method: byol
    model: paper_cnn
    epochs: 40
    augment: {crop_scale: [0.35, 1.0], blur: 0.3}
    params: {base_momentum: 0.99}

``params`` are the method's own hyperparameters (see ``ros_ssl.ssl.methods``); ``positives`` are the
"same place" thresholds of the temporal method. Overrides use dotted keys (``augment.flip=0``,
``params.temperature=0.2``). Everything is validated before any data is loaded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ros_ssl.errors import ConfigError
from ros_ssl.models.encoders import ENCODERS
from ros_ssl.models.normalize import IMAGENET_MEAN, IMAGENET_STD
from ros_ssl.ssl.methods import METHODS, check_params
from ros_ssl.ssl.positives import Neighbourhood
from ros_ssl.ssl.transforms import AugmentConfig
from ros_ssl.train.recipe import build_dataclass, check_field, recipe_path


@dataclass(frozen=True)
class PretrainRecipe:
    # simclr, temporal, byol, vicreg, rotation or mae.
    method: str = "simclr"
    # Encoder name (the trainer's ``model``): paper_cnn, resnet18 or mobilenet_v3_small.
    model: str = "paper_cnn"
    epochs: int = 30
    batch_size: int = 256
    # AdamW; linear warm-up then cosine decay per step.
    lr: float = 2e-3
    weight_decay: float = 1e-5
    warmup_epochs: float = 1.0
    # Optimiser steps per epoch; 0 = one pass over the frames.
    steps_per_epoch: int = 0
    seed: int = 0
    # DataLoader worker processes (0 = augment in the training process).
    workers: int = 0
    # GPU only: mixed precision and channels_last.
    amp: bool = True
    channels_last: bool = True
    # Input normalisation (RGB), stored in the run like the trainer's.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    positives: Neighbourhood = field(default_factory=Neighbourhood)
    # The method's own hyperparameters, e.g. {temperature: 0.5} for simclr.
    params: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> PretrainRecipe:
        """Check every field; raise ConfigError naming the first bad one."""
        check_field(self.method in METHODS, "method", self.method, f"one of {', '.join(METHODS)}")
        check_params(self.method, self.params)
        check_field(self.model in ENCODERS, "model", self.model, f"one of {', '.join(ENCODERS)}")
        check_field(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        check_field(self.batch_size >= 2, "batch_size", self.batch_size,
                    ">= 2 (contrastive losses need negatives)")
        for name in ("steps_per_epoch", "workers", "seed"):
            check_field(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check_field(self.lr > 0 and math.isfinite(self.lr), "lr", self.lr, "a positive number")
        check_field(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        check_field(self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs, ">= 0")
        check_field(len(self.mean) == 3 and len(self.std) == 3 and all(s > 0 for s in self.std), "mean/std",
                    (self.mean, self.std), "three numbers each, std > 0")
        self.augment.validate()
        self.positives.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["augment"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["augment"].items()}
        return d


def load_pretrain_recipe(name_or_path: str | Path | None = None,
                         overrides: dict[str, Any] | None = None) -> PretrainRecipe:
    """Defaults, then the recipe file (a path or a name in ``training/``), then dotted ``overrides``."""
    data: dict[str, Any] = {}
    if name_or_path is not None:
        path = recipe_path(name_or_path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"recipe {path} is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"recipe {path} must be a mapping of keys to values")
        data = loaded
    for key, value in (overrides or {}).items():
        head, _, rest = key.partition(".")
        if rest:
            section = data.setdefault(head, {})
            if not isinstance(section, dict):
                raise ConfigError(f"override {key!r}: {head} has no sub-keys")
            section[rest] = value
        else:
            data[head] = value
    return pretrain_recipe_from_dict(data).validate()


def pretrain_recipe_from_dict(data: dict[str, Any]) -> PretrainRecipe:
    """Build a recipe from a mapping (e.g. a run's config), rejecting unknown keys and wrong types."""
    return build_dataclass(PretrainRecipe, data, "")
