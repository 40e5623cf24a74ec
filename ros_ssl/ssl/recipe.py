"""Pretraining recipes: a frozen dataclass read from YAML (``training/ssl_*.yaml``) plus CLI overrides.

Example recipe::

    method: byol
    model: paper_cnn
    epochs: 40
    augment: {crop_scale: [0.35, 1.0], blur: 0.3}
    params: {base_momentum: 0.99}

``params`` are the method's own hyperparameters (``METHOD_PARAMS``; the methods themselves live in
``ros_ssl.ssl.methods``); ``positives`` are the "same place" thresholds of the temporal method. Overrides
use dotted keys (``augment.flip=0``, ``params.temperature=0.2``). Everything is validated before any
data is loaded, and without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ros_ssl.config.encoders import ENCODER_NAMES, IMAGENET_MEAN, IMAGENET_STD
from ros_ssl.config.schema import apply_overrides, build, coerce, to_data
from ros_ssl.errors import ConfigError
from ros_ssl.train.recipe import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_SEED,
    MAX_STEPS,
    MAX_WORKERS,
    check_counts,
    check_field,
    check_optimiser,
    read_recipe,
)

# Each SSL method's hyperparameters (its constructor's keyword arguments) and their types; a test keeps
# this equal to the signatures in ``ros_ssl.ssl.methods``.
_SIMCLR = {"proj_hidden": int, "proj_dim": int, "temperature": float}
METHOD_PARAMS: dict[str, dict[str, type]] = {
    "simclr": _SIMCLR,
    "temporal": _SIMCLR,
    "byol": {"proj_hidden": int, "proj_dim": int, "pred_hidden": int, "base_momentum": float},
    "vicreg": {"expander_dim": int, "sim_weight": float, "var_weight": float, "cov_weight": float},
    "rotation": {"hidden": int},
    "mae": {"mask_ratio": float, "patch": int},
    "egomotion": {**_SIMCLR, "motion_hidden": int, "motion_weight": float},
}
# Method parameter -> inclusive [min, max]: sizes stay trainable, rates stay rates.
PARAM_LIMITS: dict[str, tuple[float, float]] = {
    "proj_hidden": (1, 65_536), "proj_dim": (1, 65_536), "pred_hidden": (1, 65_536),
    "expander_dim": (1, 65_536), "hidden": (1, 65_536), "patch": (1, 64), "motion_hidden": (1, 65_536),
    "motion_weight": (0.0, 1e4),
    "temperature": (1e-4, 100.0), "base_momentum": (0.0, 1.0),
    "sim_weight": (0.0, 1e4), "var_weight": (0.0, 1e4), "cov_weight": (0.0, 1e4), "mask_ratio": (0.0, 0.99),
}
# Integer pretraining recipe fields -> inclusive [min, max].
COUNT_LIMITS = {"epochs": (1, MAX_EPOCHS), "batch_size": (2, MAX_BATCH), "steps_per_epoch": (0, MAX_STEPS),
                "workers": (0, MAX_WORKERS), "seed": (0, MAX_SEED), "worlds_per_batch": (0, MAX_BATCH)}


def check_params(name: str, params: dict[str, Any]) -> None:
    """Raise ConfigError unless ``name`` is a method that takes every key of ``params`` with its type."""
    if name not in METHOD_PARAMS:
        raise ConfigError(f"unknown SSL method {name!r}; choose one of {', '.join(METHOD_PARAMS)}")
    accepted = METHOD_PARAMS[name]
    unknown = sorted(set(params) - set(accepted), key=str)
    if unknown:
        raise ConfigError(f"method {name!r} has no parameter {unknown[0]!r}; it takes "
                          f"{', '.join(sorted(accepted))}")
    for key, value in params.items():
        number = coerce(accepted[key], value, "recipe", f"params.{key}")
        lo, hi = PARAM_LIMITS[key]
        check_field(lo <= number <= hi, f"params.{key}", number, f">= {lo:g} and <= {hi:g}")


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly one view is augmented (a recipe's ``augment:`` section); applied by ``ssl.transforms``."""

    crop_scale: tuple[float, float] = (0.35, 1.0)  # crop area as a fraction of the image
    crop_ratio: tuple[float, float] = (0.8, 1.25)  # crop aspect ratio relative to the image's
    flip: float = 0.5  # probability of a horizontal flip
    jitter: float = 0.8  # probability of colour jitter
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.3
    hue: float = 0.0  # off by default per frame: the costliest op (~0.7 ms per 64x80 frame on one core)
    grayscale: float = 0.2  # probability of converting to grayscale (kept 3-channel)
    # Colour jitter and grayscale as one 3x3 colour matrix per view, and blur, applied to the whole batch
    # on the device (``ssl.transforms.BatchColour``): cheap at any hue, so hue may span the full circle.
    batch_colour: bool = False
    blur: float = 0.3  # probability of a Gaussian blur
    blur_sigma: tuple[float, float] = (0.1, 1.2)

    def validate(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"augment.crop_scale {self.crop_scale} must satisfy 0 < min <= max <= 1")
        rlo, rhi = self.crop_ratio
        if not 0 < rlo <= rhi:
            raise ConfigError(f"augment.crop_ratio {self.crop_ratio} must satisfy 0 < min <= max")
        check_field(0 <= self.hue <= 0.5, "augment.hue", self.hue, ">= 0 and <= 0.5 (half a turn)")
        for name in ("flip", "jitter", "grayscale", "blur"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"augment.{name} = {getattr(self, name)} is a probability and must be in "
                                  f"[0, 1]")


@dataclass(frozen=True)
class Neighbourhood:
    """Thresholds for "the same place" (a recipe's ``positives:`` section); used by ``ssl.positives``."""

    max_dt: float = 1.0  # seconds between the frames' stamps
    max_dist: float = 0.10  # metres between the odometry positions
    max_yaw: float = 0.35  # radians between the odometry headings (about 20 degrees)

    def validate(self) -> None:
        for name in ("max_dt", "max_dist", "max_yaw"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"positives.{name} = {getattr(self, name)} must be positive")
        for name, hi in (("max_dt", 3600.0), ("max_dist", 100.0), ("max_yaw", math.pi)):
            check_field(getattr(self, name) <= hi, f"positives.{name}", getattr(self, name), f"<= {hi:g}")


@dataclass(frozen=True)
class PretrainRecipe:
    # simclr, temporal, byol, vicreg, rotation, mae or egomotion.
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
    # Each batch holds frames of this many recordings (0 = drawn uniformly from all): most negatives then
    # share the anchor's floor and walls, so texture alone cannot tell them apart.
    worlds_per_batch: int = 0
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
        check_field(self.method in METHOD_PARAMS, "method", self.method, f"one of {', '.join(METHOD_PARAMS)}")
        check_params(self.method, self.params)
        check_field(self.model in ENCODER_NAMES, "model", self.model, f"one of {', '.join(ENCODER_NAMES)}")
        check_field(self.batch_size >= 2, "batch_size", self.batch_size,
                    ">= 2 (contrastive losses need negatives)")
        check_counts(self, COUNT_LIMITS)
        check_optimiser(self)
        check_field(len(self.mean) == 3 and len(self.std) == 3 and all(0 < s <= 1 for s in self.std)
                    and all(abs(m) <= 1 for m in self.mean), "mean/std",
                    (self.mean, self.std), "three numbers each, |mean| <= 1, 0 < std <= 1")
        self.augment.validate()
        self.positives.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the run's config.yaml); ``pretrain_recipe_from_dict`` reads it back."""
        return to_data(self)  # type: ignore[no-any-return]


def load_pretrain_recipe(name_or_path: str | Path | None = None,
                         overrides: dict[str, Any] | None = None) -> PretrainRecipe:
    """Defaults, then the recipe file (a path or a shipped name), then dotted ``overrides``, validated."""
    return apply_overrides(read_recipe(name_or_path, PretrainRecipe), overrides or {}, "recipe").validate()


def pretrain_recipe_from_dict(data: Any) -> PretrainRecipe:
    """Build a recipe from a mapping (e.g. a run's config), rejecting unknown keys and wrong types."""
    return build(PretrainRecipe, data, "recipe")
