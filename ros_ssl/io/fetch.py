"""Local copies of remote files and directories: rosbags and memory maps need real files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ros_ssl.io.urls import StorageError, filesystem, local_path


def download(url: str, dest: Path) -> Path:
    """Copy the file or directory tree at ``url`` to ``dest`` (which must not exist); returns ``dest``."""
    fs, path = filesystem(url)
    try:
        if fs.isdir(path):
            files = [f for f in fs.find(path) if not fs.isdir(f)]
            if not files:
                raise StorageError(f"{url} is an empty directory")
            root = path.rstrip("/")
            for f in files:
                target = dest / f[len(root):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(f, str(target))
        elif fs.exists(path):
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(path, str(dest))
        else:
            raise StorageError(f"{url} does not exist")
    except OSError as err:
        raise StorageError(f"cannot download {url} ({err})") from err
    return dest


@contextmanager
def local_copy(location: str | Path) -> Iterator[Path]:
    """A local path of ``location``: the path itself when it is local, else a temporary copy removed on exit.

    The copy keeps the URL's last name (a bag's suffix tells its format) inside a fresh temporary directory.
    """
    path = local_path(location)
    if path is not None:
        yield path
        return
    url = str(location)
    tmp = Path(tempfile.mkdtemp(prefix="ros-ssl-fetch-"))
    try:
        yield download(url, tmp / (url.rstrip("/").rsplit("/", 1)[-1] or "data"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
