"""Datasets on disk (format 2, see ``ros_ssl.data.layout``): one shard per recording, read as one dataset.

Writers never touch each other's files: each recording is written to its own temporary directory and
renamed into ``shards/`` when complete, and the list of recordings is derived from the complete shards
at open, ordered by id. So two ``ros-ssl label`` runs into the same directory, a run killed at any
instant, or writers on several machines leave a dataset that loads and equals one sequential run.
Damage (a file cut short, deleted, or changed) is named on open and on append and never padded over;
``ros-ssl dataset verify`` / ``repair`` find and drop it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.config.profile import RobotProfile, profile_from_dict
from ros_ssl.data.format1 import MANIFEST, convert_hint, read_flat
from ros_ssl.data.frames import FrameView
from ros_ssl.data.layout import (
    ARRAYS,
    HEADER,
    HEADER_TMP,
    INCOMING,
    SHARDS,
    SMALL,
    UNKNOWN_TRUTH,
    Header,
    ShardInfo,
    check_size,
    damaged,
    read_checked,
    read_header,
    read_shard_info,
    write_header,
)
from ros_ssl.data.shard import ShardWriter
from ros_ssl.errors import ConfigError, DatasetError
from ros_ssl.io import local_path

__all__ = ["UNKNOWN_TRUTH", "Dataset", "DatasetWriter", "load_dataset"]


@dataclass(frozen=True)
class Shard:
    """A complete shard whose shard.json parses and whose files have the right sizes."""

    dir: Path
    info: ShardInfo


def shard_dirs(path: Path) -> list[Path]:
    """The entries of shards/, ordered by recording id (the dataset's recording order)."""
    root = path / SHARDS
    return sorted(root.iterdir(), key=lambda p: p.name) if root.is_dir() else []


def open_shard(path: Path, header: Header, shard: Path) -> Shard:
    """Check a shard cheaply (description, every file's size); DatasetError naming it if damaged."""
    if not shard.is_dir():
        raise damaged(path, shard.name, "is not a shard directory")
    info = read_shard_info(path, header, shard)
    for name in ARRAYS:
        check_size(path, header, shard, info, name)
    return Shard(shard, info)


class Dataset:
    """Read-only view of a dataset directory: small arrays in memory, frames memory-mapped per shard.

    Format 1 datasets (manifest.json over flat files) are read too, read-only; convert them to append.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # The file holding the header and profile: dataset.json, or manifest.json of format 1.
        self.header_file = HEADER if (self.path / HEADER).exists() else MANIFEST
        if self.header_file == HEADER:
            self._open_shards()
        elif (self.path / MANIFEST).exists():
            self._open_flat()
        else:
            raise DatasetError(f"{self.path} is not a dataset: {HEADER} not found (make one with "
                               f"'ros-ssl label')")
        self.geometry: LabelGeometry = self.header.geometry
        self.label_shape = self.geometry.shape
        self.image_hw: tuple[int, int] = self.header.image_hw
        counts = [r["count"] for r in self.recordings]
        self.recording = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        self.recording.flags.writeable = False

    def _open_shards(self) -> None:
        self.header = read_header(self.path)
        shards = [open_shard(self.path, self.header, d) for d in shard_dirs(self.path)]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in SMALL}
        self.recordings: list[dict[str, Any]] = []
        start = 0
        for s in shards:
            for name in SMALL:
                parts[name].append(read_checked(self.path, self.header, s.dir, s.info, name))
            self.recordings.append(dict(s.info.recording, start=start, count=s.info.rows))
            start += s.info.rows
        self._small = {name: self._concat(name, p) for name, p in parts.items()}
        tail = self.header.tail("frames")

        def frames_of(k: int) -> np.ndarray:
            s = shards[k]
            return np.memmap(s.dir / "frames.bin", dtype=np.uint8, mode="r", shape=(s.info.rows, *tail))

        self.frames = FrameView([s.info.rows for s in shards], tail, np.dtype(np.uint8), frames_of)

    def _open_flat(self) -> None:
        flat = read_flat(self.path)
        self.header = flat.header
        self.recordings = flat.recordings
        self._small = {name: self._concat(name, [np.asarray(flat.arrays[name])]) for name in SMALL}
        frames = flat.arrays["frames"]
        self.frames = FrameView([len(frames)], frames.shape[1:], np.dtype(np.uint8), lambda _: frames)

    def _concat(self, name: str, parts: list[np.ndarray]) -> np.ndarray:
        out = (np.concatenate(parts) if parts
               else np.zeros((0, *self.header.tail(name)), ARRAYS[name].dtype))
        out.flags.writeable = False
        return out

    def __len__(self) -> int:
        return len(self.recording)

    @property
    def labels(self) -> np.ndarray:
        return self._small["labels"]

    @property
    def mask(self) -> np.ndarray:
        """(N, A, B) bool, True = known (a view, no copy)."""
        return self._small["mask"].view(np.bool_)

    @property
    def truth(self) -> np.ndarray:
        return self._small["truth"]

    @property
    def stamps(self) -> np.ndarray:
        return self._small["stamps"]

    @property
    def poses(self) -> np.ndarray:
        return self._small["poses"]

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
            return profile_from_dict(self.header.profile)
        except ConfigError as err:
            raise DatasetError(f"dataset {self.path}: the profile in its {self.header_file} no longer "
                               f"validates ({err})") from err

    def groups(self) -> list[str]:
        """Split unit of each recording: its world (simulator) or its own id (real bags)."""
        return [str(r.get("group", r["id"])) for r in self.recordings]

    def indices(self, recordings: list[int]) -> np.ndarray:
        """Frame indices of the given recording indices, in order."""
        spans = [(self.recordings[r]["start"], self.recordings[r]["count"]) for r in recordings]
        parts = [np.arange(start, start + count) for start, count in spans]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def load_dataset(path: str | Path) -> Dataset:
    """Open a dataset directory written by ``ros-ssl label`` (read-only; checked for damage).

    A URL other than ``file://`` (``s3://``, ``memory://``, ...) is read from a local cache of its
    complete shards (``ros_ssl.data.remote.fetch_dataset``); ``Dataset.path`` is then that cache.
    """
    from ros_ssl.data.remote import fetch_dataset

    local = local_path(path)
    return Dataset(local if local is not None else fetch_dataset(str(path)))


def check_compatible(path: str | Path, header: Header, geometry: LabelGeometry,
                     image_hw: tuple[int, int]) -> None:
    """DatasetError unless recordings of ``geometry`` and ``image_hw`` may join the dataset of ``header``."""
    existing = header.geometry
    if existing != geometry:
        raise DatasetError(f"dataset {path} has label geometry {existing.kind.value} "
                           f"of another shape or values; label into a new --out directory")
    if header.image_hw != tuple(image_hw):
        raise DatasetError(f"dataset {path} holds {header.image_hw} images, not "
                           f"{tuple(image_hw)}; label into a new --out directory")


class DatasetWriter:
    """Create a dataset or open one to add recordings to (same geometry and image size required).

    Any number of writers (processes, machines) may add to one dataset at once: each recording is its
    own shard. A damaged dataset is refused, so damage is never built upon.
    """

    def __init__(self, path: str | Path, geometry: LabelGeometry, image_hw: tuple[int, int],
                 profile: RobotProfile) -> None:
        self.path = Path(path)
        if not (self.path / HEADER).exists():
            if (self.path / MANIFEST).exists():
                raise DatasetError(f"dataset {self.path} is in format 1, which is read-only; "
                                   f"{convert_hint(self.path)} and label into NEW")
            if self.path.exists() and any(not p.name.startswith(HEADER_TMP) for p in self.path.iterdir()):
                raise DatasetError(f"{self.path} exists and is not a ros_ssl dataset; choose an empty --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if not (self.path / HEADER).exists():
                hw = (int(image_hw[0]), int(image_hw[1]))
                write_header(self.path, Header(geometry, hw, profile.to_dict()))
            self.header = read_header(self.path)
            for sub in (SHARDS, INCOMING):
                (self.path / sub).mkdir(exist_ok=True)
                if not os.access(self.path / sub, os.W_OK):
                    raise PermissionError(f"{self.path / sub} is not writable")
        except OSError as err:
            raise DatasetError(f"cannot write dataset {self.path} ({err})") from err
        check_compatible(self.path, self.header, geometry, image_hw)
        self.label_shape = geometry.shape
        self.image_hw = self.header.image_hw
        self.check()

    def check(self) -> None:
        """DatasetError naming the first damaged shard (sizes, descriptions, small arrays' checksums)."""
        for d in shard_dirs(self.path):
            s = open_shard(self.path, self.header, d)
            for name in SMALL:
                read_checked(self.path, self.header, s.dir, s.info, name)

    def recording_ids(self) -> set[str]:
        """Ids of the complete recordings now (other writers' included)."""
        return {d.name for d in shard_dirs(self.path)}

    def frame_count(self) -> int:
        """Rows of every complete recording now."""
        return sum(read_shard_info(self.path, self.header, d).rows for d in shard_dirs(self.path))

    def open_shard(self, meta: Mapping[str, Any]) -> ShardWriter:
        """Start writing recording ``meta["id"]``: append chunks, then commit (nothing is visible before)."""
        return ShardWriter(self.path, self.header, meta)

    def append(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bool:
        """Add one whole recording (every array of ``ARRAYS``); False if another writer added it first."""
        with self.open_shard(meta) as shard:
            shard.append(arrays)
            return shard.commit()
