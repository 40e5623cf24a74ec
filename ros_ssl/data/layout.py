"""Format 2 on disk: the dataset header, the arrays of a shard, and reading a shard's description back.

Layout of a dataset directory::

    dataset.json            format, label geometry, image size, the profile that made it (written once)
    shards/<recording-id>/  one complete recording, renamed into place when whole:
        shard.json          recording meta (id, group, bag, frames, report), rows, dtype/shape/sha256 of
                            each array, and a checksum of itself
        frames.bin          (n, H, W, 3) uint8 RGB at the training resolution
        labels.bin          (n, A, B) uint8, 1 = obstacle (A x B = sensors x distances, or grid x x grid y)
        mask.bin            (n, A, B) uint8, 1 = known
        truth.bin           (n, A, B) uint8 true labels from the simulator, 255 where no ground truth exists
        stamps.bin          (n,) float64 seconds (header stamp of the frame)
        poses.bin           (n, 3) float64 odometry pose x, y, yaw at the frame
    incoming/               shards being written (a crashed writer's leftovers are ignored, see repair)

One writer per shard and a manifest derived from the complete shards at open is what keeps concurrent
writers, a kill at any instant and writers on other machines correct.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.errors import ConfigError, DatasetError
from ros_ssl.fsync import fsync_path

FORMAT = "ros_ssl.dataset/2"
HEADER = "dataset.json"
HEADER_TMP = ".dataset.json~"  # prefix of a header being created
SHARDS = "shards"
INCOMING = "incoming"
SHARD_FILE = "shard.json"
UNKNOWN_TRUTH = 255
# Arrays whose sha256 is checked on every open (small); frames only by ``ros-ssl dataset verify``.
SMALL = ("labels", "mask", "truth", "stamps", "poses")


@dataclass(frozen=True)
class ArraySpec:
    dtype: str
    # Per-row shape; "L" stands for the label shape (A, B), "I" for the image (H, W, 3).
    tail: tuple[str | int, ...]


# The arrays of every shard, in this order.
ARRAYS: dict[str, ArraySpec] = {
    "frames": ArraySpec("uint8", ("I",)),
    "labels": ArraySpec("uint8", ("L",)),
    "mask": ArraySpec("uint8", ("L",)),
    "truth": ArraySpec("uint8", ("L",)),
    "stamps": ArraySpec("float64", ()),
    "poses": ArraySpec("float64", (3,)),
}


@dataclass(frozen=True)
class Header:
    """What every shard of a dataset shares: dataset.json."""

    geometry: LabelGeometry
    image_hw: tuple[int, int]
    profile: dict[str, Any]

    def tail(self, name: str) -> tuple[int, ...]:
        """Per-row shape of array ``name``."""
        out: list[int] = []
        for t in ARRAYS[name].tail:
            if t == "L":
                out += list(self.geometry.shape)
            elif t == "I":
                out += [self.image_hw[0], self.image_hw[1], 3]
            else:
                out.append(int(t))
        return tuple(out)

    def row_bytes(self, name: str) -> int:
        return int(np.prod(self.tail(name), dtype=np.int64)) * np.dtype(ARRAYS[name].dtype).itemsize

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "geometry": self.geometry.to_dict(), "image": list(self.image_hw),
                "profile": self.profile}


def repair_hint(path: Path) -> str:
    return f"run 'ros-ssl dataset verify {path}' and 'ros-ssl dataset repair {path}'"


class ShardDamage(DatasetError):
    """A damaged shard: one line naming the dataset, the shard, the problem and what to run."""

    def __init__(self, path: Path, shard: str, problem: str) -> None:
        super().__init__(f"dataset {path}: shard {shard}: {problem}; {repair_hint(path)}")
        self.shard = shard
        self.problem = problem


def damaged(path: Path, shard: str, problem: str) -> ShardDamage:
    return ShardDamage(path, shard, problem)


def read_json(path: Path, file: Path) -> dict[str, Any]:
    """A JSON object from ``file`` of dataset ``path``; DatasetError naming both if it is not one."""
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"dataset {path}: {file.name} is not valid JSON ({err.msg} at line "
                           f"{err.lineno})") from err
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"dataset {path}: cannot read {file.name} ({err})") from err
    if not isinstance(data, dict):
        raise DatasetError(f"dataset {path}: {file.name} is not a JSON object")
    return data


def header_from_dict(path: Path, data: dict[str, Any]) -> Header:
    """Header of a dataset.json (or a format 1 manifest): geometry and image size validated."""
    try:
        geometry = LabelGeometry.from_dict(data.get("geometry"), "label geometry")
    except ConfigError as err:
        raise DatasetError(f"dataset {path}: {err}") from err
    image = data.get("image")
    if (not isinstance(image, list) or len(image) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image)):
        raise DatasetError(f"dataset {path}: image size {image!r} is not [height, width]")
    profile = data.get("profile")
    return Header(geometry, (image[0], image[1]), profile if isinstance(profile, dict) else {})


def unique_suffix() -> str:
    """Host, process and a random part: a name no other writer, here or on another machine, picks.

    "~" separates the parts (host names never hold one), so ``writer_of`` finds them from the right.
    """
    return f"{socket.gethostname()}~{os.getpid()}~{secrets.token_hex(4)}"


def writer_alive(name: str) -> bool:
    """Whether the writer that named a temporary file or directory ``name`` still runs on this host.

    Writers on other hosts cannot be asked: their leftovers count as stopped (repair only while no
    other machine writes to the dataset).
    """
    parts = name.rsplit("~", 3)
    if len(parts) != 4 or not parts[2].isdigit() or parts[1] != socket.gethostname():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True



def write_header(path: Path, header: Header) -> None:
    """Create dataset.json once (temp file + link, so concurrent creators agree); return the one on disk."""
    tmp = path / f"{HEADER_TMP}{unique_suffix()}"
    with open(tmp, "w") as f:
        f.write(json.dumps(header.to_dict(), indent=1))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path / HEADER)
    except FileExistsError:
        pass  # another writer created it first: theirs stands, the caller compares
    finally:
        tmp.unlink()
    fsync_path(path)


def read_header(path: Path) -> Header:
    data = read_json(path, path / HEADER)
    if data.get("format") != FORMAT:
        raise DatasetError(f"dataset {path}: format {data.get('format')!r} is not {FORMAT!r}")
    return header_from_dict(path, data)


def checksum(body: dict[str, Any]) -> str:
    """sha256 of a shard description (canonical JSON), so an edited shard.json is seen."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ShardInfo:
    """A complete shard as its shard.json describes it (sizes and checksums not yet compared)."""

    id: str
    rows: int
    recording: dict[str, Any]
    sha256: dict[str, str]


def read_shard_info(path: Path, header: Header, shard: Path) -> ShardInfo:
    """Parse and check shard.json of ``shard`` against the header: DatasetError (one line) if damaged."""
    sid = shard.name
    file = shard / SHARD_FILE
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError as err:
        raise damaged(path, sid, f"{SHARD_FILE} is missing") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise damaged(path, sid, f"{SHARD_FILE} cannot be read ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("checksum"), str):
        raise damaged(path, sid, f"{SHARD_FILE} is not a shard description")
    body = {k: v for k, v in data.items() if k != "checksum"}
    if checksum(body) != data["checksum"]:
        raise damaged(path, sid, f"{SHARD_FILE} was edited (its checksum does not match)")
    if body.get("format") != FORMAT:
        raise damaged(path, sid, f"format {body.get('format')!r} is not {FORMAT!r}")
    rows, recording, arrays = body.get("rows"), body.get("recording"), body.get("arrays")
    if (not isinstance(rows, int) or rows < 0 or not isinstance(recording, dict)
            or recording.get("id") != sid or not isinstance(arrays, dict)):
        raise damaged(path, sid, f"{SHARD_FILE} does not describe recording {sid!r}")
    sha: dict[str, str] = {}
    for name, spec in ARRAYS.items():
        entry = arrays.get(name)
        want = {"dtype": spec.dtype, "shape": [rows, *header.tail(name)]}
        if not isinstance(entry, dict) or {k: entry.get(k) for k in want} != want:
            raise damaged(path, sid, f"array {name} in {SHARD_FILE} is not {spec.dtype} of shape "
                                     f"{tuple(want['shape'])} (another geometry or image size)")
        sha[name] = str(entry.get("sha256"))
    return ShardInfo(sid, rows, recording, sha)


def check_size(path: Path, header: Header, shard: Path, info: ShardInfo, name: str) -> Path:
    """The array file of ``name``; DatasetError unless it has exactly the size its rows imply."""
    file = shard / f"{name}.bin"
    want = info.rows * header.row_bytes(name)
    try:
        size = file.stat().st_size
    except FileNotFoundError as err:
        raise damaged(path, info.id, f"{file.name} is missing") from err
    if size != want:
        raise damaged(path, info.id, f"{file.name} has {size} bytes, not the {want} of its {info.rows} rows")
    return file


def read_checked(path: Path, header: Header, shard: Path, info: ShardInfo, name: str) -> np.ndarray:
    """Array ``name`` of a shard, read whole and compared with its sha256."""
    data = check_size(path, header, shard, info, name).read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256[name]:
        raise damaged(path, info.id, f"{name}.bin does not match its sha256 (its content changed)")
    return np.frombuffer(data, ARRAYS[name].dtype).reshape(info.rows, *header.tail(name))


