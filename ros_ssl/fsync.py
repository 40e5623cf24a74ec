"""Making a file or a directory entry durable: the last step of write-temp, fsync, rename.

A rename is atomic but not durable until the directory that holds the new name is flushed; after a
power loss an un-flushed directory can forget it. Every writer that renames into place (bags, dataset
shards, hand-off into a drop folder, model publishing) calls ``fsync_path`` on the file and its folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_atomic(file: Path, text: str) -> Path:
    """Replace ``file`` with ``text`` in one rename, the new content flushed first: a reader (or a
    restart after a kill) sees the old file or the new one, never a part."""
    tmp = file.with_name(file.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)
    return file


def copy_into_place(src: Path, staging: Path, target: Path, fsync: bool = True) -> Path:
    """Copy the directory ``src`` to ``target`` through ``staging`` (a hidden name in the same folder):
    copied, flushed (``fsync``), then renamed in one step, so ``target`` appears whole or not at all.
    A leftover staging copy is replaced; a failed one is removed."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(src, staging)
        if fsync:
            for file in staging.iterdir():
                fsync_path(file)
            fsync_path(staging)
        os.rename(staging, target)
        if fsync:
            fsync_path(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def fsync_path(path: str | Path) -> None:
    """Flush ``path`` (a file or a directory) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
