"""Training recipes: a frozen dataclass read from YAML (``training/*.yaml``) plus ``key=value`` overrides.

Example recipe::

    model: paper_cnn
    epochs: 30
    lr: 0.001
    augment: {flip: 0.5, brightness: 0.3}

Overrides use the same keys, dotted for sections (``augment.flip=0``); values are parsed as YAML.
Everything is validated before any data is loaded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from types import UnionType
from typing import Any, get_origin, get_type_hints

import yaml

from ros_ssl.errors import ConfigError
from ros_ssl.models.encoders import ENCODERS
from ros_ssl.models.normalize import IMAGENET_MEAN, IMAGENET_STD
from ros_ssl.train.augment import AugmentConfig

# Recipes shipped with the repository, found by name (``--recipe quick``).
RECIPE_DIR = Path(__file__).resolve().parents[2] / "training"


@dataclass(frozen=True)
class Recipe:
    # Encoder name: paper_cnn, resnet18 or mobilenet_v3_small.
    model: str = "paper_cnn"
    epochs: int = 20
    batch_size: int = 64
    # AdamW learning rate and weight decay; the rate follows a linear warm-up then a cosine decay per step.
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    # Dropout before the head.
    dropout: float = 0.0
    # Positive weight of the loss: "none", "auto" (per cell negatives/positives, clipped to [1, 10]) or a number.
    pos_weight: str | float = "none"
    # Optimiser steps per epoch; 0 = one pass over the training frames.
    steps_per_epoch: int = 0
    # Split by recording group (world or bag), never by frame.
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    # Share of the training recordings whose labels are used (label-efficiency studies); at least one.
    train_fraction: float = 1.0
    seed: int = 0
    # DataLoader worker processes (0 = load in the training process).
    workers: int = 0
    # GPU only: mixed precision (bf16 where supported, else fp16 with loss scaling) and channels_last.
    amp: bool = True
    channels_last: bool = True
    # Input normalisation (RGB order), stored in the run so export and the edge runtime repeat it.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # A run directory (SSL pretraining or training) whose checkpoints/encoder.pt initialises the encoder.
    init: str = ""
    # Train only the head on a frozen encoder (linear probe); needs ``init`` to be meaningful.
    freeze: bool = False
    eval_batch_size: int = 256
    # Bootstrap replicates for the confidence intervals of the final evaluation.
    bootstrap: int = 1000
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> Recipe:
        """Check every field; raise ConfigError naming the first bad one."""
        check_field(self.model in ENCODERS, "model", self.model, f"one of {', '.join(ENCODERS)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            check_field(getattr(self, name) >= 1, name, getattr(self, name), ">= 1")
        for name in ("steps_per_epoch", "workers", "seed", "split_seed", "bootstrap"):
            check_field(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check_field(self.lr > 0 and math.isfinite(self.lr), "lr", self.lr, "a positive number")
        check_field(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        check_field(self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs, ">= 0")
        check_field(0 <= self.dropout < 1, "dropout", self.dropout, "in [0, 1)")
        check_field(self.pos_weight in ("none", "auto")
                    or (isinstance(self.pos_weight, float) and self.pos_weight > 0),
                    "pos_weight", self.pos_weight, "'none', 'auto' or a positive number")
        check_field(0 < self.train_fraction <= 1, "train_fraction", self.train_fraction, "in (0, 1]")
        check_field(len(self.mean) == 3 and len(self.std) == 3 and all(s > 0 for s in self.std), "mean/std",
                    (self.mean, self.std), "three numbers each, std > 0")
        check_field(not self.freeze or bool(self.init), "freeze", self.freeze,
                    "false unless init names a pretrained run (a frozen random encoder learns nothing)")
        check_field(not self.init or (Path(self.init) / "checkpoints" / "encoder.pt").is_file(), "init", self.init,
                    "a run directory holding checkpoints/encoder.pt (from 'ros-ssl pretrain' or 'ros-ssl train')")
        a = self.augment
        for name in ("flip", "grayscale", "noise"):
            check_field(0 <= getattr(a, name) <= 1, f"augment.{name}", getattr(a, name),
                        "a probability in [0, 1]")
        for name in ("brightness", "contrast", "saturation", "noise_sigma"):
            check_field(getattr(a, name) >= 0, f"augment.{name}", getattr(a, name), ">= 0")
        check_field(0 <= a.hue <= 0.5, "augment.hue", a.hue, "in [0, 0.5]")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file: an existing path, or a name in the repository's ``training/`` folder."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = RECIPE_DIR / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml")) if RECIPE_DIR.is_dir() else []
    raise ConfigError(f"recipe {str(name_or_path)!r} is neither a file nor one of {known}")


def load_recipe(name_or_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Recipe:
    """Defaults, then the recipe file (if any), then ``overrides`` (dotted keys), validated."""
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
    recipe = recipe_from_dict(data)
    for key, value in (overrides or {}).items():
        recipe = _override(recipe, key, value)
    return recipe.validate()


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """Build a recipe from a mapping (e.g. a run's config), rejecting unknown keys and wrong types."""
    return build_dataclass(Recipe, data, "")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "augment.flip=0"]`` -> ``{"lr": 0.01, "augment.flip": 0}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r} has a value that is not valid YAML") from err
    return out


def _override(recipe: Recipe, key: str, value: Any) -> Recipe:
    head, _, rest = key.partition(".")
    names = {f.name for f in fields(Recipe)}
    if head not in names:
        raise ConfigError(f"override {key!r}: unknown recipe key; known: {sorted(names)}")
    if rest:
        section = getattr(recipe, head)
        if not is_dataclass(section):
            raise ConfigError(f"override {key!r}: {head} has no sub-keys")
        merged = dict(asdict(section), **{rest: value})
        return replace(recipe, **{head: build_dataclass(type(section), merged, head)})
    merged = dict(recipe.to_dict(), **{head: value})
    return build_dataclass(Recipe, merged, "")


def build_dataclass(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from mapping ``data``, coercing each value to its field's type (nested
    dataclasses from nested mappings); ``where`` is the dotted section name used in error messages."""
    if not isinstance(data, dict):
        raise ConfigError(f"recipe section {where or '<root>'} must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"recipe section {where or '<root>'} has unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {key: coerce(hints[key], value, f"{where}.{key}" if where else key) for key, value in data.items()}
    return cls(**kwargs)


def coerce(hint: Any, value: Any, path: str) -> Any:
    """``value`` as the type ``hint`` of recipe field ``path``; ConfigError if it cannot be one.

    Dataclasses are built from mappings, dict fields take a mapping as is, a union (``str | float``) turns
    numbers into floats and leaves the rest to the recipe's ``validate``, other hints take a list of numbers.
    """
    if is_dataclass(hint):
        return build_dataclass(hint, value, path)  # type: ignore[arg-type]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"recipe field {path} is {value!r}; expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"recipe field {path} is {value!r}; expected an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"recipe field {path} is {value!r}; expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"recipe field {path} is {value!r}; expected a string")
        return value
    if get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"recipe field {path} is {value!r}; expected a mapping")
        return dict(value)
    if isinstance(hint, UnionType):
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return tuple(float(v) for v in value)
    raise ConfigError(f"recipe field {path} is {value!r}; expected a list of numbers")


def check_field(ok: bool, where: str, value: object, expected: str) -> None:
    """Raise ConfigError ``recipe field WHERE is VALUE; expected EXPECTED`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"recipe field {where} is {value!r}; expected {expected}")
