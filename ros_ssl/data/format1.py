"""Reading format 1 datasets (one manifest.json over flat arrays), kept so old datasets still train and
convert; nothing writes format 1 any more (``ros-ssl dataset convert OLD NEW`` makes format 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.data.layout import ARRAYS, Header, header_from_dict, read_json
from ros_ssl.errors import DatasetError

FORMAT_1 = "ros_ssl.dataset/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Flat:
    """A format 1 dataset: header, recordings with their row spans, one memory map per array."""

    header: Header
    recordings: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]


def convert_hint(path: Path) -> str:
    return f"convert it with 'ros-ssl dataset convert {path} NEW'"


def read_flat(path: Path) -> Flat:
    """Open a format 1 dataset read-only; DatasetError (one line) if its manifest and files disagree."""
    manifest = read_json(path, path / MANIFEST)
    if manifest.get("format") != FORMAT_1:
        raise DatasetError(f"dataset {path}: format {manifest.get('format')!r} is not {FORMAT_1!r}")
    header = header_from_dict(path, manifest)
    total = manifest.get("count")
    recordings = manifest.get("recordings")
    if not isinstance(total, int) or total < 0 or not isinstance(recordings, list):
        raise DatasetError(f"dataset {path}: {MANIFEST} has no row count or recording list; it is damaged")
    end = 0
    for r in recordings:
        start, count = (r.get("start"), r.get("count")) if isinstance(r, dict) else (None, None)
        if not isinstance(start, int) or not isinstance(count, int) or start != end or count < 0:
            rid = r.get("id") if isinstance(r, dict) else r
            raise DatasetError(f"dataset {path}: {MANIFEST} lists recording {rid!r} at rows start={start!r} "
                               f"count={count!r}, but it must start at row {end} with a count >= 0; the "
                               f"manifest is damaged")
        end += count
    if end != total:
        raise DatasetError(f"dataset {path}: {MANIFEST} counts {total} rows but its recordings hold {end}; "
                           f"the manifest is damaged")
    arrays: dict[str, np.ndarray] = {}
    for name, spec in ARRAYS.items():
        file = path / f"{name}.bin"
        if total and (not file.exists() or file.stat().st_size < total * header.row_bytes(name)):
            raise DatasetError(f"dataset {path}: {file.name} is missing or shorter than the "
                               f"{total} rows the manifest lists")
        shape = (total, *header.tail(name))
        arrays[name] = (np.memmap(file, dtype=spec.dtype, mode="r", shape=shape) if total
                        else np.zeros(shape, spec.dtype))
    return Flat(header, [dict(r) for r in recordings], arrays)
