"""Telling a local path from a URL, and opening a URL's filesystem (fsspec, imported only for URLs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ros_ssl.errors import RosSslError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# "scheme://" or a chained fsspec URL ("simplecache::s3://..."); one letter is a Windows drive, not a scheme.
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]+)(::|://)")
# Filesystems that exist inside one process only: worker processes cannot see them.
PROCESS_LOCAL = frozenset({"memory"})


class StorageError(RosSslError):
    """A URL cannot be opened: unknown protocol, its fsspec package missing, or the store refused."""


def scheme(location: str | Path) -> str:
    """The URL scheme in lower case ('' for a plain path)."""
    m = _URL.match(location) if isinstance(location, str) else None
    return m.group("scheme").lower() if m else ""


def local_path(location: str | Path) -> Path | None:
    """The local path a plain path or ``file://`` URL names; None for any other URL."""
    kind = scheme(location)
    if not kind:
        return Path(location)
    if kind in ("file", "local") and "::" not in str(location):
        return Path(str(location).split("://", 1)[1])
    return None


def is_process_local(location: str | Path) -> bool:
    """Whether the data lives in this process's memory (``memory://``), out of other processes' reach."""
    return scheme(location) in PROCESS_LOCAL


def source_name(location: str | Path) -> str:
    """How a recording names where it came from: the absolute path, or the URL without a trailing '/'."""
    path = local_path(location)
    return str(path.resolve()) if path is not None else str(location).rstrip("/")


def join(url: str, *parts: str) -> str:
    """``url`` with ``parts`` appended, '/'-separated (object stores have no other separator)."""
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """(fsspec filesystem, path inside it) of ``url``; StorageError naming the URL if it cannot be opened."""
    try:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(url)
    except ImportError as err:  # fsspec says which package the protocol needs ("Install s3fs ...")
        raise StorageError(f"cannot open {url}: {err}") from err
    except (ValueError, OSError) as err:
        raise StorageError(f"cannot open {url} ({err})") from err
    return fs, str(path)
