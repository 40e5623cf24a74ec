"""Making a file or a directory entry durable: the last step of write-temp, fsync, rename.

A rename is atomic but not durable until the directory that holds the new name is flushed; after a
power loss an un-flushed directory can forget it. Every writer that renames into place (bags, dataset
shards, hand-off into a drop folder, model publishing) calls ``fsync_path`` on the file and its folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """Flush ``path`` (a file or a directory) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
