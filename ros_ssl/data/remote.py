"""Datasets at a URL (object storage): shards written locally, uploaded file by file, a marker last.

Object stores have no atomic rename, so a shard at a URL is complete when its marker
``shards/<id>/COMPLETE`` exists. The marker is uploaded after every other file of the shard, and readers
(and labelling's "already in the dataset" check) ignore shards without it: an upload cut short is
invisible and the next run labels that bag again. Reading downloads the complete shards into a local
cache, ``$ROS_SSL_CACHE/datasets/<hash of the URL>`` (default ``~/.cache/ros_ssl``), and opens that as an
ordinary dataset; a cached shard is kept while its shard.json equals the store's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.config.profile import RobotProfile
from ros_ssl.data.layout import (
    ARRAYS,
    FORMAT,
    HEADER,
    INCOMING,
    SHARD_FILE,
    SHARDS,
    Header,
    header_from_dict,
    unique_suffix,
)
from ros_ssl.data.shard import ShardWriter
from ros_ssl.data.store import check_compatible
from ros_ssl.errors import DatasetError
from ros_ssl.io import StorageError, filesystem, join

MARKER = "COMPLETE"


def cache_root() -> Path:
    """Where local copies of datasets at URLs go: ``$ROS_SSL_CACHE/datasets`` or ~/.cache/ros_ssl/datasets."""
    return Path(os.environ.get("ROS_SSL_CACHE") or Path.home() / ".cache" / "ros_ssl") / "datasets"


class RemoteDataset:
    """The files of a dataset at ``url``: its header, its complete shards, and uploads into it."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = filesystem(self.url)

    def _path(self, *parts: str) -> str:
        return join(self.root, *parts)

    def read(self, *parts: str) -> bytes:
        try:
            data: bytes = self.fs.cat_file(self._path(*parts))
        except OSError as err:
            raise StorageError(f"cannot read {join(self.url, *parts)} ({err})") from err
        return data

    def header_file(self) -> tuple[bytes, Header] | None:
        """dataset.json as stored and the header it holds (one read), or None where there is none yet."""
        try:
            raw: bytes = self.fs.cat_file(self._path(HEADER))
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StorageError(f"cannot read {join(self.url, HEADER)} ({err})") from err
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"dataset {self.url}: {HEADER} is not valid JSON ({err})") from err
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DatasetError(f"dataset {self.url}: {HEADER} is not a {FORMAT!r} header")
        return raw, header_from_dict(Path(self.url), data)

    def header(self) -> Header | None:
        """The dataset's header, or None where there is no dataset.json yet."""
        found = self.header_file()
        return None if found is None else found[1]

    def is_empty(self) -> bool:
        return not self.fs.exists(self.root) or not self.fs.ls(self.root, detail=False)

    def write_header(self, header: Header) -> None:
        self._put(json.dumps(header.to_dict(), indent=1).encode(), HEADER)

    def complete_ids(self) -> list[str]:
        """Ids of the shards whose marker exists, in the dataset's order (by id)."""
        found = self.fs.glob(self._path(SHARDS, "*", MARKER))
        return sorted(str(p).rstrip("/").split("/")[-2] for p in found)

    def is_complete(self, rid: str) -> bool:
        """Whether the shard of recording ``rid`` has its marker (one lookup, not a listing)."""
        return bool(self.fs.exists(self._path(SHARDS, rid, MARKER)))

    def shard_description(self, rid: str) -> bytes:
        return self.read(SHARDS, rid, SHARD_FILE)

    def rows(self, rid: str) -> int:
        rows = json.loads(self.shard_description(rid)).get("rows")
        return rows if isinstance(rows, int) else 0

    def upload_shard(self, shard: Path) -> None:
        """Upload a complete local shard directory: array files, then shard.json, then the marker."""
        rid = shard.name
        for name in ARRAYS:
            self._put_file(shard / f"{name}.bin", SHARDS, rid, f"{name}.bin")
        self._put_file(shard / SHARD_FILE, SHARDS, rid, SHARD_FILE)
        self._put(b"", SHARDS, rid, MARKER)

    def _put(self, data: bytes, *parts: str) -> None:
        try:
            self.fs.pipe_file(self._path(*parts), data)
        except OSError as err:
            raise StorageError(f"cannot write {join(self.url, *parts)} ({err})") from err

    def _put_file(self, local: Path, *parts: str) -> None:
        target = self._path(*parts)
        try:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local), target)
        except OSError as err:
            raise StorageError(f"cannot write {join(self.url, *parts)} ({err})") from err


class RemoteDatasetWriter:
    """Labelling's driver side for a dataset at a URL: create or check its header, list what it holds."""

    def __init__(self, url: str, geometry: LabelGeometry, image_hw: tuple[int, int],
                 profile: RobotProfile) -> None:
        self.remote = RemoteDataset(url)
        self.path = self.remote.url
        header = self.remote.header()
        if header is None:
            if not self.remote.is_empty():
                raise DatasetError(f"{url} exists and is not a ros_ssl dataset; choose an empty --out")
            # Two runs creating the same dataset write the same header (or one is refused just below).
            hw = (int(image_hw[0]), int(image_hw[1]))
            self.remote.write_header(Header(geometry, hw, profile.to_dict()))
            header = self.remote.header()
            if header is None:
                raise StorageError(f"cannot write {join(url, HEADER)} (it is not there after writing)")
        check_compatible(url, header, geometry, image_hw)
        self.header = header

    def recording_ids(self) -> set[str]:
        """Ids of the complete recordings now (other writers' included)."""
        return set(self.remote.complete_ids())

    def frame_count(self) -> int:
        """Rows of every complete recording now."""
        return sum(self.remote.rows(rid) for rid in self.remote.complete_ids())

    def open_shard(self, meta: Mapping[str, Any]) -> RemoteShardWriter:
        return RemoteShardWriter(self.remote, self.header, meta)


class RemoteShardWriter:
    """A ``ShardWriter`` into a private local staging dataset, uploaded on ``commit`` (marker last)."""

    def __init__(self, remote: RemoteDataset, header: Header, meta: Mapping[str, Any]) -> None:
        self.remote = remote
        self.staging = Path(tempfile.mkdtemp(prefix="ros-ssl-shard-"))
        try:
            self.shard = ShardWriter(self.staging, header, meta)
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        self.id = self.shard.id

    def append(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.shard.append(arrays)

    def commit(self, report: Mapping[str, Any] | None = None) -> bool:
        """Upload the shard; False if the store already holds a complete shard of this recording."""
        try:
            self.shard.commit(report)
            if self.remote.is_complete(self.id):
                return False
            self.remote.upload_shard(self.staging / SHARDS / self.id)
            return True
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        self.shard.abort()
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> RemoteShardWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.staging.exists():
            self.abort()


def fetch_dataset(url: str, cache: Path | None = None) -> Path:
    """A local copy of the complete shards of the dataset at ``url`` (the cache, brought up to date).

    Shards are downloaded into ``incoming/`` and renamed into place, so processes fetching the same
    dataset at once (training ranks, loader workers) never see half a shard.
    """
    remote = RemoteDataset(url)
    found = remote.header_file()
    if found is None:
        raise DatasetError(f"{url} is not a dataset: {HEADER} not found (make one with 'ros-ssl label')")
    local = (cache or cache_root()) / hashlib.sha1(remote.url.encode()).hexdigest()[:16]
    for sub in (SHARDS, INCOMING):
        (local / sub).mkdir(parents=True, exist_ok=True)
    tmp = local / f".{HEADER}~{unique_suffix()}"
    tmp.write_bytes(found[0])
    os.replace(tmp, local / HEADER)
    complete = remote.complete_ids()
    for rid in complete:
        description = remote.shard_description(rid)
        cached = local / SHARDS / rid
        if (cached / SHARD_FILE).is_file() and (cached / SHARD_FILE).read_bytes() == description:
            continue
        staging = local / INCOMING / f"{rid}~{unique_suffix()}"
        staging.mkdir()
        try:
            for name in ARRAYS:
                path = join(remote.root, SHARDS, rid, f"{name}.bin")
                remote.fs.get_file(path, str(staging / f"{name}.bin"))
            (staging / SHARD_FILE).write_bytes(description)
            if cached.exists():
                shutil.rmtree(cached)
            os.rename(staging, cached)
        except OSError as err:
            if not (cached / SHARD_FILE).is_file():
                raise StorageError(f"cannot download shard {rid} of {url} ({err})") from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # another process renamed its copy first
    for stale in {p.name for p in (local / SHARDS).iterdir()} - set(complete):
        shutil.rmtree(local / SHARDS / stale, ignore_errors=True)  # dropped from the store (repair)
    return local
