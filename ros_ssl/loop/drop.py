"""The drop folder: complete bags handed over by the recorder (one directory per bag, named by its id).

A directory whose name starts with ``.`` is still in flight and is never read. Every other directory
holding ``metadata.yaml`` is a bag; ``bag_problem`` checks that it is whole before anything labels it
(a bag copied by hand may be cut mid-write), so a cut bag is skipped and counted, never labelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ros_ssl.bag.durable import MAGIC


@dataclass(frozen=True)
class DropBag:
    path: Path
    # Total bytes of the bag's files: a bag skipped as cut is looked at again once this changes.
    size: int

    @property
    def id(self) -> str:
        return self.path.name


def drop_bags(drop: Path) -> list[DropBag]:
    """The bags in ``drop`` in name order (ids sort by time within one recorder)."""
    if not drop.is_dir():
        return []
    bags = []
    for d in sorted(drop.iterdir()):
        if d.name.startswith(".") or not d.is_dir() or not (d / "metadata.yaml").is_file():
            continue
        bags.append(DropBag(d, sum(f.stat().st_size for f in d.iterdir() if f.is_file())))
    return bags


def bag_problem(bag: Path) -> str:
    """Why ``bag`` is not a complete rosbag2 MCAP bag ('' when it is): every file metadata.yaml lists
    must exist and end with the MCAP closing magic."""
    try:
        meta = yaml.safe_load((bag / "metadata.yaml").read_text())
        files = meta["rosbag2_bagfile_information"]["relative_file_paths"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        return f"metadata.yaml unreadable ({type(err).__name__})"
    if not files:
        return "metadata.yaml lists no file"
    for name in files:
        file = bag / str(name)
        try:
            with file.open("rb") as f:
                if f.seek(0, 2) < 2 * len(MAGIC):
                    return f"{name} is too short to be an MCAP file"
                f.seek(-len(MAGIC), 2)
                if f.read(len(MAGIC)) != MAGIC:
                    return f"{name} does not end with the MCAP magic (cut mid-write?)"
        except OSError as err:
            return f"{name} cannot be read ({err.strerror or type(err).__name__})"
    return ""
