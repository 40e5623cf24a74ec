"""The typed ``config.yaml`` of a run directory: what a detector or SSL run was trained on, and how.

On disk the file keeps the plain keys it always had, so older runs still read: a detector run's config
has no ``kind``, an SSL pretraining run's says ``kind: ssl``. ``read_run_config`` is the one place that
reads it back; everything downstream (evaluation, export, resume, embedding) reads attributes.
Torch-free: the edge side and the CLI may describe a run without loading torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.config.schema import load_yaml
from ros_ssl.errors import ConfigError
from ros_ssl.ssl.recipe import PretrainRecipe, pretrain_recipe_from_dict
from ros_ssl.train.errors import TrainingError
from ros_ssl.train.recipe import Recipe, recipe_from_dict

CONFIG = "config.yaml"


@dataclass(frozen=True)
class Split:
    """Recording ids (``split``) or group names (``groups``) of each part of a detector run."""

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()

    def part(self, name: str) -> tuple[str, ...]:
        """The ids of part ``name`` (train, val or test)."""
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def all(self) -> set[str]:
        return {*self.train, *self.val, *self.test}

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Split:
        return cls(*(tuple(data.get(part, ())) for part in ("train", "val", "test")))


@dataclass(frozen=True)
class RunConfig:
    """A detector training run: the shapes export and evaluation rebuild, the split, the recipe."""

    model: str
    image_hw: tuple[int, int]
    label_shape: tuple[int, int]
    geometry: LabelGeometry
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: str  # resolved path of the dataset it was trained on
    split: Split  # recording ids
    groups: Split  # group (world or bag) names, to report overlap when evaluating another dataset
    recipe: Recipe
    world_size: int
    versions: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "image_hw": list(self.image_hw), "label_shape": list(self.label_shape),
                "geometry": self.geometry.to_dict(), "mean": list(self.mean), "std": list(self.std),
                "dataset": self.dataset, "split": self.split.to_dict(), "groups": self.groups.to_dict(),
                "recipe": self.recipe.to_dict(), "world_size": self.world_size,
                "versions": dict(self.versions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "run config") -> RunConfig:
        try:
            return cls(model=str(data["model"]), image_hw=_pair(data["image_hw"]),
                       label_shape=_pair(data["label_shape"]),
                       geometry=LabelGeometry.from_dict(data["geometry"], f"{where} geometry"),
                       mean=_floats(data["mean"]), std=_floats(data["std"]),
                       dataset=str(data.get("dataset", "")),
                       split=Split.from_dict(data["split"]), groups=Split.from_dict(data.get("groups") or {}),
                       recipe=recipe_from_dict(data["recipe"]), world_size=int(data.get("world_size", 1)),
                       versions=dict(data.get("versions") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{where} is not a detector run config: {_reason(err)}") from err


@dataclass(frozen=True)
class PretrainRunConfig:
    """An SSL pretraining run: the encoder, its input normalisation and the frames it saw."""

    KIND: ClassVar[str] = "ssl"

    method: str
    model: str
    image_hw: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: str
    frames: int
    # Ids of the recordings pretrained on (ids, not positions: a dataset lists recordings by id, so a
    # recording added later may sort before them); None = every recording.
    recordings: tuple[str, ...] | None
    recipe: PretrainRecipe
    world_size: int
    versions: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, "method": self.method, "model": self.model,
                "image_hw": list(self.image_hw), "mean": list(self.mean), "std": list(self.std),
                "dataset": self.dataset, "frames": self.frames,
                "recordings": None if self.recordings is None else list(self.recordings),
                "recipe": self.recipe.to_dict(), "world_size": self.world_size,
                "versions": dict(self.versions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "run config") -> PretrainRunConfig:
        try:
            recordings = data.get("recordings")
            return cls(method=str(data["method"]), model=str(data["model"]), image_hw=_pair(data["image_hw"]),
                       mean=_floats(data["mean"]), std=_floats(data["std"]), dataset=str(data["dataset"]),
                       frames=int(data["frames"]),
                       recordings=None if recordings is None else tuple(str(r) for r in recordings),
                       recipe=pretrain_recipe_from_dict(data["recipe"]),
                       world_size=int(data.get("world_size", 1)), versions=dict(data.get("versions") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{where} is not an SSL run config: {_reason(err)}") from err


AnyRunConfig = RunConfig | PretrainRunConfig


def read_run_config(run_dir: str | Path) -> AnyRunConfig:
    """The config of a detector run or, if it says ``kind: ssl``, of an SSL pretraining run."""
    file = Path(run_dir) / CONFIG
    if not file.is_file():
        raise TrainingError(f"{run_dir} is not a training run: {CONFIG} not found")
    data = load_yaml(file, str(file))
    if not isinstance(data, Mapping):
        raise ConfigError(f"{file} must be a mapping of keys to values")
    kind = data.get("kind")
    if kind == PretrainRunConfig.KIND:
        return PretrainRunConfig.from_dict(data, str(file))
    if kind is not None:
        raise ConfigError(f"{file} has kind {str(kind)[:40]!r}; expected none (a detector run) or "
                          f"{PretrainRunConfig.KIND!r}")
    return RunConfig.from_dict(data, str(file))


def write_run_config(run_dir: Path, config: AnyRunConfig) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def _pair(value: Any) -> tuple[int, int]:
    first, second = value
    return int(first), int(second)


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _reason(err: Exception) -> str:
    """The first line of an error, bounded: a corrupt file must not produce a multi-megabyte message."""
    text = f"missing key {err}" if isinstance(err, KeyError) else str(err)
    lines = text.splitlines()
    return (lines[0] if lines else type(err).__name__)[:200]
