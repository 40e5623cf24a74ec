"""Checking, repairing and converting datasets on purpose: what ``ros-ssl dataset verify|repair|convert`` run.

Opening a dataset checks sizes and the small arrays' checksums; ``verify`` also reads every frame.
``repair`` drops what is damaged (never pads or guesses) and returns the bags the dropped recordings came
from, so the caller can label them again.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ros_ssl.checksum import sha256_file
from ros_ssl.config.profile import profile_from_dict
from ros_ssl.data.format1 import MANIFEST, convert_hint, read_flat
from ros_ssl.data.layout import (
    HEADER,
    HEADER_TMP,
    INCOMING,
    SHARD_FILE,
    SMALL,
    ShardDamage,
    damaged,
    read_checked,
    read_header,
    unique_suffix,
    writer_alive,
)
from ros_ssl.data.store import DatasetWriter, open_shard, shard_dirs
from ros_ssl.errors import ConfigError, DatasetError

# Rows copied at a time by convert (a recording's frames are never all in memory).
CHUNK = 256


@dataclass(frozen=True)
class Problem:
    """One line of ``verify``: the entry (shards/ID or a temporary name) and what is wrong with it."""

    entry: Path
    text: str


@dataclass
class Verification:
    recordings: int = 0
    frames: int = 0
    damaged: list[Problem] = field(default_factory=list)
    leftovers: list[Problem] = field(default_factory=list)  # crashed writers' temporary files (harmless)
    in_progress: list[Path] = field(default_factory=list)  # being written by a live process here


def _format_2(path: Path) -> None:
    if not (path / HEADER).exists():
        if (path / MANIFEST).exists():
            raise DatasetError(f"dataset {path} is in format 1, which verify and repair do not handle; "
                               f"{convert_hint(path)}")
        raise DatasetError(f"{path} is not a dataset: {HEADER} not found (make one with 'ros-ssl label')")


def verify_dataset(path: str | Path) -> Verification:
    """Every shard checked whole (frames' sha256 included) and every temporary leftover listed."""
    path = Path(path)
    _format_2(path)
    header = read_header(path)
    out = Verification()
    for d in shard_dirs(path):
        try:
            s = open_shard(path, header, d)
            for name in SMALL:
                read_checked(path, header, s.dir, s.info, name)
            if sha256_file(d / "frames.bin") != s.info.sha256["frames"]:
                raise damaged(path, d.name, "frames.bin does not match its sha256 (its content changed)")
        except ShardDamage as err:
            out.damaged.append(Problem(d, err.problem))
        else:
            out.recordings += 1
            out.frames += s.info.rows
    temps = [*(path / INCOMING).iterdir()] if (path / INCOMING).is_dir() else []
    temps += [p for p in path.iterdir() if p.name.startswith(HEADER_TMP)]
    for t in sorted(temps):
        if writer_alive(t.name):
            out.in_progress.append(t)
        else:
            out.leftovers.append(Problem(t, "left by a writer that stopped before finishing (ignored when "
                                            "the dataset is read; repair removes it)"))
    return out


@dataclass(frozen=True)
class Dropped:
    """A damaged recording that repair removed, with its bag when shard.json still names it."""

    id: str
    problem: str
    bag: str | None


@dataclass
class Repair:
    dropped: list[Dropped] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def _bag_of(shard: Path) -> str | None:
    """The bag a (possibly damaged) shard.json names, if it still parses; whoever relabels checks it."""
    try:
        data = json.loads((shard / SHARD_FILE).read_text())
        recording = data["recording"]
        bag = recording["bag"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return bag if isinstance(bag, str) and recording.get("id") == shard.name else None


def repair_dataset(path: str | Path) -> Repair:
    """Drop damaged shards and remove stopped writers' leftovers; the dataset loads afterwards."""
    path = Path(path)
    found = verify_dataset(path)
    out = Repair()
    for p in found.damaged:
        out.dropped.append(Dropped(p.entry.name, p.text, _bag_of(p.entry)))
        # Out of shards/ in one rename (readers see it whole or gone), then deleted.
        trash = path / INCOMING / f".dropped~{unique_suffix()}"
        (path / INCOMING).mkdir(exist_ok=True)
        p.entry.rename(trash)
        shutil.rmtree(trash)
    for p in found.leftovers:
        if p.entry.is_dir():
            shutil.rmtree(p.entry)
        else:
            p.entry.unlink(missing_ok=True)
        out.removed.append(p.entry)
    return out


@dataclass(frozen=True)
class Conversion:
    converted: list[str]
    present: list[str]  # already in NEW (a convert run again after a crash, or an id listed twice)


def convert_dataset(old: str | Path, new: str | Path) -> Conversion:
    """Copy a format 1 dataset into a format 2 one at ``new`` (resumable: recordings there are kept)."""
    old, new = Path(old), Path(new)
    if (old / HEADER).exists():
        raise DatasetError(f"dataset {old} is already in format 2; nothing to convert")
    if not (old / MANIFEST).exists():
        raise DatasetError(f"{old} is not a dataset: {MANIFEST} not found")
    flat = read_flat(old)
    try:
        profile = profile_from_dict(flat.header.profile)
    except ConfigError as err:
        raise DatasetError(f"dataset {old}: the profile in its {MANIFEST} no longer validates "
                           f"({err})") from err
    writer = DatasetWriter(new, flat.header.geometry, flat.header.image_hw, profile)
    have = writer.recording_ids()
    out = Conversion([], [])
    for r in flat.recordings:
        start, count = r["start"], r["count"]
        meta = {k: v for k, v in r.items() if k not in ("start", "count")}
        if meta.get("id") in have:
            out.present.append(str(meta.get("id")))
            continue
        with writer.open_shard(meta) as shard:
            for a in range(start, start + count, CHUNK):
                b = min(a + CHUNK, start + count)
                shard.append({name: arr[a:b] for name, arr in flat.arrays.items()})
            (out.converted if shard.commit() else out.present).append(shard.id)
        have.add(shard.id)
    return out
