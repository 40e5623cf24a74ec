"""Writing one recording's shard: rows appended in chunks to a private temporary directory, then renamed
into place whole, so a reader (or a writer killed at any instant) never sees half a recording."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ros_ssl.data.layout import (
    ARRAYS,
    FORMAT,
    INCOMING,
    SHARD_FILE,
    SHARDS,
    Header,
    checksum,
    unique_suffix,
)
from ros_ssl.errors import DatasetError
from ros_ssl.fsync import fsync_path


def check_recording_id(path: Path, rid: object) -> str:
    """A recording id names its shard directory: one file name."""
    if not isinstance(rid, str) or rid in ("", ".", "..") or "/" in rid or "\0" in rid or len(rid) > 200:
        raise DatasetError(f"dataset {path}: recording id {rid!r} cannot name a shard (one file name of at "
                           f"most 200 characters)")
    return rid


class ShardWriter:
    """Rows of one recording: ``append`` chunks any number of times, then ``commit`` (or ``abort``).

    Used as a context manager, leaving the block without a commit (an error) removes the temporary
    directory. ``commit`` returns False when another writer completed the same recording first.
    """

    def __init__(self, path: Path, header: Header, meta: Mapping[str, Any]) -> None:
        self.path = path
        self.header = header
        self.meta = dict(meta)
        self.id = check_recording_id(path, self.meta.get("id"))
        self.rows = 0
        self.tmp = path / INCOMING / f"{self.id}~{unique_suffix()}"
        try:
            self.tmp.mkdir(parents=True)
            for name in ARRAYS:
                (self.tmp / f"{name}.bin").touch()
        except OSError as err:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise DatasetError(f"dataset {path}: cannot write recording {self.id} ({err})") from err
        self._sha = {name: hashlib.sha256() for name in ARRAYS}
        self._open = True

    def append(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append a chunk of rows: every array of ``ARRAYS`` with the same number of rows."""
        if not self._open:
            raise DatasetError(f"dataset {self.path}: recording {self.id} is already committed or aborted")
        n = len(arrays["frames"])
        chunks: dict[str, bytes] = {}
        for name, spec in ARRAYS.items():
            a = np.ascontiguousarray(arrays[name], dtype=spec.dtype)
            want = (n, *self.header.tail(name))
            if a.shape != want:
                raise DatasetError(f"recording {self.id}: array {name} has shape {a.shape}, expected {want}")
            chunks[name] = a.tobytes()
        try:
            for name, data in chunks.items():
                with open(self.tmp / f"{name}.bin", "ab") as f:
                    f.write(data)
                self._sha[name].update(data)
        except OSError as err:
            self.abort()
            raise DatasetError(f"dataset {self.path}: cannot write recording {self.id} ({err})") from err
        self.rows += n

    def commit(self, report: Mapping[str, Any] | None = None) -> bool:
        """Make the shard complete and visible (fsync, rename); False if the recording was there already."""
        if not self._open:
            raise DatasetError(f"dataset {self.path}: recording {self.id} is already committed or aborted")
        recording = dict(self.meta)
        recording.setdefault("frames", self.rows)
        if report is not None:
            recording["report"] = dict(report)
        body = {"format": FORMAT, "rows": self.rows, "recording": recording,
                "arrays": {name: {"dtype": spec.dtype, "shape": [self.rows, *self.header.tail(name)],
                                  "sha256": self._sha[name].hexdigest()} for name, spec in ARRAYS.items()}}
        target = self.path / SHARDS / self.id
        self._open = False
        try:
            for name in ARRAYS:
                with open(self.tmp / f"{name}.bin", "rb") as f:
                    os.fsync(f.fileno())
            with open(self.tmp / SHARD_FILE, "w") as f:
                f.write(json.dumps(dict(body, checksum=checksum(body)), indent=1))
                f.flush()
                os.fsync(f.fileno())
            fsync_path(self.tmp)
            target.parent.mkdir(exist_ok=True)
            try:
                os.rename(self.tmp, target)
            except OSError:
                if not target.exists():
                    raise
                shutil.rmtree(self.tmp)  # another writer finished the same recording (the same bag) first
                return False
            fsync_path(target.parent)
        except OSError as err:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise DatasetError(f"dataset {self.path}: cannot write recording {self.id} ({err})") from err
        return True

    def abort(self) -> None:
        """Drop what was written (nothing becomes visible)."""
        self._open = False
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._open:
            self.abort()
