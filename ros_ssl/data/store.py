"""On-disk dataset: flat binary arrays, memory-mapped for random access, appended one recording at a time.

Layout of a dataset directory::

    manifest.json   format, geometry, image size, per-recording entries, the profile that made it
    frames.bin      (N, H, W, 3) uint8 RGB at the training resolution
    labels.bin      (N, A, B) uint8, 1 = obstacle (A x B = sensors x distances, or grid x x grid y)
    mask.bin        (N, A, B) uint8, 1 = known
    truth.bin       (N, A, B) uint8 true labels from the simulator, 255 where no ground truth exists
    stamps.bin      (N,) float64 seconds (header stamp of the frame)
    poses.bin       (N, 3) float64 odometry pose x, y, yaw at the frame
    recording.bin   (N,) int32 index into manifest["recordings"]

Appending writes the rows first and the manifest last (atomic rename), so a crash mid-append leaves
the dataset as it was; the next append trims any partial rows. Data already written is never lost.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.config.profile import RobotProfile, profile_from_dict
from ros_ssl.errors import ConfigError, DatasetError

FORMAT = "ros_ssl.dataset/1"
MANIFEST = "manifest.json"
UNKNOWN_TRUTH = 255


@dataclass(frozen=True)
class ArraySpec:
    dtype: str
    # Per-row shape; "L" stands for the label shape (A, B), "I" for the image (H, W, 3).
    tail: tuple[str | int, ...]


ARRAYS: dict[str, ArraySpec] = {
    "frames": ArraySpec("uint8", ("I",)),
    "labels": ArraySpec("uint8", ("L",)),
    "mask": ArraySpec("uint8", ("L",)),
    "truth": ArraySpec("uint8", ("L",)),
    "stamps": ArraySpec("float64", ()),
    "poses": ArraySpec("float64", (3,)),
    "recording": ArraySpec("int32", ()),
}


def _tail(spec: ArraySpec, label_shape: tuple[int, int], image_shape: tuple[int, int]) -> tuple[int, ...]:
    out: list[int] = []
    for t in spec.tail:
        if t == "L":
            out += list(label_shape)
        elif t == "I":
            out += [image_shape[0], image_shape[1], 3]
        else:
            out.append(int(t))
    return tuple(out)


def _manifest_geometry(path: Path, manifest: dict[str, Any]) -> LabelGeometry:
    """The manifest's label geometry; DatasetError naming the dataset if it is not one."""
    try:
        return LabelGeometry.from_dict(manifest.get("geometry"), "label geometry")
    except ConfigError as err:
        raise DatasetError(f"dataset {path}: {err}") from err


class DatasetWriter:
    """Create a dataset or open one to append recordings to (same geometry and image size required)."""

    def __init__(self, path: str | Path, geometry: LabelGeometry, image_hw: tuple[int, int],
                 profile: RobotProfile) -> None:
        self.path = Path(path)
        if (self.path / MANIFEST).exists():
            self.manifest = _read_manifest(self.path)
            existing = _manifest_geometry(self.path, self.manifest)
            if existing != geometry:
                raise DatasetError(f"dataset {self.path} has label geometry {existing.kind.value} "
                                   f"of another shape or values; label into a new --out directory")
            if tuple(self.manifest["image"]) != tuple(image_hw):
                raise DatasetError(f"dataset {self.path} holds {tuple(self.manifest['image'])} images, not "
                                   f"{tuple(image_hw)}; label into a new --out directory")
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise DatasetError(f"{self.path} exists and is not a ros_ssl dataset; choose an empty --out")
            self.path.mkdir(parents=True, exist_ok=True)
            self.manifest = {"format": FORMAT, "geometry": geometry.to_dict(), "image": list(image_hw),
                             "count": 0, "recordings": [], "profile": profile.to_dict()}
            _write_manifest(self.path, self.manifest)
        self.label_shape = geometry.shape
        self.image_hw = tuple(self.manifest["image"])

    def recording_ids(self) -> set[str]:
        return {r["id"] for r in self.manifest["recordings"]}

    def append(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Append one recording: ``arrays`` has every name in ARRAYS except "recording"."""
        if meta["id"] in self.recording_ids():
            raise DatasetError(f"dataset {self.path} already holds recording {meta['id']!r}")
        n = len(arrays["frames"])
        start = int(self.manifest["count"])
        arrays = dict(arrays, recording=np.full(n, len(self.manifest["recordings"]), np.int32))
        for name, spec in ARRAYS.items():
            tail = _tail(spec, self.label_shape, self.image_hw)
            a = np.ascontiguousarray(arrays[name], dtype=spec.dtype)
            if a.shape != (n, *tail):
                raise DatasetError(f"recording {meta['id']}: array {name} has shape {a.shape}, expected "
                                   f"{(n, *tail)}")
            row = int(np.prod(tail, dtype=np.int64)) * np.dtype(spec.dtype).itemsize
            file = self.path / f"{name}.bin"
            with open(file, "ab+") as f:
                f.truncate(start * row)  # drop rows a crashed append left behind
                f.seek(start * row)
                f.write(a.tobytes())
                f.flush()
                os.fsync(f.fileno())
        self.manifest["recordings"].append(dict(meta, start=start, count=n))
        self.manifest["count"] = start + n
        _write_manifest(self.path, self.manifest)


class Dataset:
    """Read-only, memory-mapped view of a dataset directory. Arrays are numpy memmaps (no copy)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = _read_manifest(self.path)
        self.geometry = _manifest_geometry(self.path, self.manifest)
        self.label_shape = self.geometry.shape
        self.image_hw: tuple[int, int] = tuple(self.manifest["image"])
        self.recordings: list[dict[str, Any]] = self.manifest["recordings"]
        n = int(self.manifest["count"])
        self._arrays: dict[str, np.ndarray] = {}
        for name, spec in ARRAYS.items():
            tail = _tail(spec, self.label_shape, self.image_hw)
            file = self.path / f"{name}.bin"
            row = int(np.prod(tail, dtype=np.int64)) * np.dtype(spec.dtype).itemsize
            if n and (not file.exists() or file.stat().st_size < n * row):
                raise DatasetError(f"dataset {self.path}: {file.name} is missing or shorter than the "
                                   f"{n} rows the manifest lists")
            self._arrays[name] = (np.memmap(file, dtype=spec.dtype, mode="r", shape=(n, *tail)) if n
                                  else np.zeros((0, *tail), spec.dtype))

    def __len__(self) -> int:
        return int(self.manifest["count"])

    @property
    def frames(self) -> np.ndarray:
        return self._arrays["frames"]

    @property
    def labels(self) -> np.ndarray:
        return self._arrays["labels"]

    @property
    def mask(self) -> np.ndarray:
        """(N, A, B) bool, True = known (a view, no copy)."""
        return self._arrays["mask"].view(np.bool_)

    @property
    def truth(self) -> np.ndarray:
        return self._arrays["truth"]

    @property
    def stamps(self) -> np.ndarray:
        return self._arrays["stamps"]

    @property
    def poses(self) -> np.ndarray:
        return self._arrays["poses"]

    @property
    def recording(self) -> np.ndarray:
        return self._arrays["recording"]

    @property
    def has_truth(self) -> bool:
        return bool(len(self)) and bool((self.truth != UNKNOWN_TRUTH).any())

    @property
    def sensors(self) -> list[str]:
        """Sensor names (rows) of a sensor x distance dataset; empty for a grid."""
        return list(self.geometry.sensors)

    @property
    def distances(self) -> np.ndarray:
        """Distances ahead (columns, metres) of a sensor x distance dataset; empty for a grid."""
        return np.asarray(self.geometry.distances, np.float64)

    @cached_property
    def profile(self) -> RobotProfile:
        """The robot profile that labelled this dataset, validated again (the schema may have moved on)."""
        try:
            return profile_from_dict(self.manifest.get("profile"))
        except ConfigError as err:
            raise DatasetError(f"dataset {self.path}: the profile in its {MANIFEST} no longer validates "
                               f"({err})") from err

    def groups(self) -> list[str]:
        """Split unit of each recording: its world (simulator) or its own id (real bags)."""
        return [str(r.get("group", r["id"])) for r in self.recordings]

    def indices(self, recordings: list[int]) -> np.ndarray:
        """Frame indices of the given recording indices, in order."""
        spans = [(self.recordings[r]["start"], self.recordings[r]["count"]) for r in recordings]
        parts = [np.arange(start, start + count) for start, count in spans]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def load_dataset(path: str | Path) -> Dataset:
    """Open a dataset directory written by ``ros-ssl label`` (memory-mapped, read-only)."""
    return Dataset(path)


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.exists():
        raise DatasetError(f"{path} is not a dataset: {MANIFEST} not found (make one with 'ros-ssl label')")
    try:
        manifest: dict[str, Any] = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"dataset {path}: {MANIFEST} is not valid JSON ({err.msg} at line "
                           f"{err.lineno})") from err
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"dataset {path}: format {manifest.get('format')!r} is not {FORMAT!r}")
    return manifest


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path / MANIFEST)
