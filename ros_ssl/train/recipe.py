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

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ros_ssl.config.encoders import ENCODER_NAMES, IMAGENET_MEAN, IMAGENET_STD
from ros_ssl.config.schema import apply_overrides, build, check, load_yaml, parse_overrides, to_data
from ros_ssl.errors import ConfigError

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # Python 3.10 has it only under its older name
    from importlib.abc import Traversable

__all__ = ["RECIPES", "AugmentConfig", "Recipe", "check_field", "load_recipe", "parse_overrides",
           "read_recipe", "recipe_from_dict", "recipe_path"]

# Named recipes (``--recipe quick``): ``training/*.yaml``, shipped inside the package as ``ros_ssl/recipes``.
RECIPES: Traversable = resources.files("ros_ssl") / "recipes"

T = TypeVar("T")

# Upper bounds that keep a run's work bounded; far beyond any run these recipes describe.
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_STEPS = 1_000_000
MAX_WORKERS = 256
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_BOOTSTRAP = 100_000
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 10.0
MAX_POS_WEIGHT = 1000.0
# Integer recipe fields -> inclusive [min, max].
COUNT_LIMITS = {
    "epochs": (1, MAX_EPOCHS), "batch_size": (1, MAX_BATCH), "eval_batch_size": (1, MAX_BATCH),
    "steps_per_epoch": (0, MAX_STEPS), "still_every": (0, MAX_STEPS), "workers": (0, MAX_WORKERS),
    "seed": (0, MAX_SEED), "split_seed": (0, MAX_SEED), "bootstrap": (0, MAX_BOOTSTRAP),
}


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation strengths (a recipe's ``augment:`` section); applied by ``train.augment``."""

    # Probability of a horizontal flip (labels mirrored); ignored when the geometry is not symmetric.
    flip: float = 0.5
    # ColorJitter strengths (torchvision semantics); hue stays 0 by default (slow on CPU, and colour matters).
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.0
    # Probability of turning a frame grayscale.
    grayscale: float = 0.1
    # Gaussian pixel noise: probability and standard deviation (fraction of 255).
    noise: float = 0.3
    noise_sigma: float = 0.03


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
    # Positive weight of the loss: "none", "auto" (per cell negatives/positives, clipped to [1, 10])
    # or a number.
    pos_weight: str | float = "none"
    # Optimiser steps per epoch; 0 = one pass over the training frames.
    steps_per_epoch: int = 0
    # Split by recording group (world or bag), never by frame.
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    # Share of the training recordings whose labels are used (label-efficiency studies); at least one.
    train_fraction: float = 1.0
    # Train on one frame in this many while the robot stands still (odometry unchanged); 0 = every frame.
    still_every: int = 0
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
    # With ``init`` naming a detector training run: start from its whole detector (checkpoints/best.pt,
    # head included), so training continues that model (the learning loop's fine-tune).
    init_head: bool = False
    eval_batch_size: int = 256
    # Bootstrap replicates for the confidence intervals of the final evaluation.
    bootstrap: int = 1000
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> Recipe:
        """Check every field; raise ConfigError naming the first bad one."""
        check_field(self.model in ENCODER_NAMES, "model", self.model, f"one of {', '.join(ENCODER_NAMES)}")
        check_counts(self, COUNT_LIMITS)
        check_optimiser(self)
        check_field(0 <= self.dropout < 1, "dropout", self.dropout, "in [0, 1)")
        check_field(self.pos_weight in ("none", "auto")
                    or (isinstance(self.pos_weight, float) and 0 < self.pos_weight <= MAX_POS_WEIGHT),
                    "pos_weight", self.pos_weight,
                    f"'none', 'auto' or a positive number <= {MAX_POS_WEIGHT:g}")
        for name in ("val_fraction", "test_fraction"):
            check_field(0 <= getattr(self, name) < 1, name, getattr(self, name), "in [0, 1)")
        check_field(self.val_fraction + self.test_fraction < 1, "val_fraction/test_fraction",
                    (self.val_fraction, self.test_fraction), "a sum below 1 (some recordings must train)")
        check_field(0 < self.train_fraction <= 1, "train_fraction", self.train_fraction, "in (0, 1]")
        check_field(len(self.mean) == 3 and len(self.std) == 3 and all(0 < s <= 1 for s in self.std)
                    and all(abs(m) <= 1 for m in self.mean), "mean/std",
                    (self.mean, self.std), "three numbers each, |mean| <= 1, 0 < std <= 1")
        check_field(not self.freeze or bool(self.init), "freeze", self.freeze,
                    "false unless init names a pretrained run (a frozen random encoder learns nothing)")
        check_field(not self.init or (Path(self.init) / "checkpoints" / "encoder.pt").is_file(), "init",
                    self.init, "a run directory holding checkpoints/encoder.pt "
                    "(from 'ros-ssl pretrain' or 'ros-ssl train')")
        check_field(not self.init_head or (Path(self.init) / "checkpoints" / "best.pt").is_file(),
                    "init_head", self.init_head,
                    "false unless init names a training run holding checkpoints/best.pt")
        a = self.augment
        for name in ("flip", "grayscale", "noise"):
            check_field(0 <= getattr(a, name) <= 1, f"augment.{name}", getattr(a, name),
                        "a probability in [0, 1]")
        for name in ("brightness", "contrast", "saturation", "noise_sigma"):
            check_field(0 <= getattr(a, name) <= 1, f"augment.{name}", getattr(a, name), ">= 0 and <= 1")
        check_field(0 <= a.hue <= 0.5, "augment.hue", a.hue, "in [0, 0.5]")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the run's config.yaml); ``recipe_from_dict`` reads it back."""
        return to_data(self)  # type: ignore[no-any-return]


def recipe_path(name_or_path: str | Path) -> Path | Traversable:
    """A recipe file: an existing path, or the name of a recipe shipped with the package (``training/``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = RECIPES / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = (sorted(p.name[:-5] for p in RECIPES.iterdir() if p.name.endswith(".yaml"))
             if RECIPES.is_dir() else [])
    raise ConfigError(f"recipe {str(name_or_path)!r} is neither a file nor one of {known}")


def read_recipe(name_or_path: str | Path | None, cls: type[T]) -> T:
    """``cls`` built from a recipe file (a path or a shipped name; defaults for None).

    Its errors name the file.
    """
    if name_or_path is None:
        return cls()
    path = recipe_path(name_or_path)
    where = f"recipe {path}"
    data = load_yaml(path, where)
    if not isinstance(data, dict | None):
        raise ConfigError(f"{where} must be a mapping of keys to values")
    try:
        return build(cls, data or {}, "recipe")
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def load_recipe(name_or_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Recipe:
    """Defaults, then the recipe file (if any), then ``overrides`` (dotted keys), validated."""
    return apply_overrides(read_recipe(name_or_path, Recipe), overrides or {}, "recipe").validate()


def recipe_from_dict(data: Any) -> Recipe:
    """Build a recipe from a mapping (e.g. a run's config), rejecting unknown keys and wrong types."""
    return build(Recipe, data, "recipe")


def check_field(ok: bool, where: str, value: object, expected: str) -> None:
    """Raise ConfigError ``recipe field WHERE is VALUE; expected EXPECTED`` unless ``ok``."""
    check(ok, "recipe", where, value, expected)


def check_optimiser(recipe: Any) -> None:
    """Check the fields the engine's AdamW and warm-up/cosine schedule read (both recipe kinds have them)."""
    check_field(0 < recipe.lr <= MAX_LR, "lr", recipe.lr, f"a positive number <= {MAX_LR:g}")
    check_field(0 <= recipe.weight_decay <= MAX_WEIGHT_DECAY, "weight_decay", recipe.weight_decay,
                f">= 0 and <= {MAX_WEIGHT_DECAY:g}")
    check_field(0 <= recipe.warmup_epochs <= MAX_EPOCHS, "warmup_epochs", recipe.warmup_epochs,
                f">= 0 and <= {MAX_EPOCHS}")


def check_counts(recipe: object, limits: Mapping[str, tuple[int, int]]) -> None:
    """Check the integer fields named in ``limits`` against their inclusive [min, max]."""
    for name, (lo, hi) in limits.items():
        value = getattr(recipe, name)
        check_field(lo <= value <= hi, name, value, f">= {lo} and <= {hi}")
