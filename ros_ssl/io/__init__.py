"""Where bags and datasets live: local paths, or fsspec URLs (``s3://``, ``gs://``, ``file://``, ``memory://``).

Local paths and ``file://`` URLs stay plain paths (atomic renames, memory maps); anything else is
reached through fsspec, whose protocol packages (``s3fs``, ``gcsfs``) are installed per store::

    from ros_ssl.io import local_copy
    with local_copy("s3://fleet/bags/run1.mcap") as path:   # a temporary local copy
        ...
"""

from ros_ssl.io.fetch import download, local_copy
from ros_ssl.io.urls import (
    StorageError,
    filesystem,
    is_process_local,
    join,
    local_path,
    source_name,
)

__all__ = ["StorageError", "download", "filesystem", "is_process_local", "join", "local_copy", "local_path",
           "source_name"]
