"""A dataset location, a local directory or a URL, to the writer that suits it.

Local paths and ``file://`` URLs get the atomic-rename writer of ``ros_ssl.data.store``; other URLs
the upload-with-marker writer of ``ros_ssl.data.remote``. The labelling driver opens the dataset once
(``open_writer`` creates or checks it); each worker opens only its recording's shard (``shard_writer``,
which does not re-check the whole dataset per bag).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ros_ssl.config.profile import RobotProfile
from ros_ssl.data.layout import read_header
from ros_ssl.data.remote import RemoteDataset, RemoteDatasetWriter, RemoteShardWriter
from ros_ssl.data.shard import ShardWriter
from ros_ssl.data.store import DatasetWriter
from ros_ssl.errors import DatasetError
from ros_ssl.io import local_path


def open_writer(location: str, profile: RobotProfile) -> DatasetWriter | RemoteDatasetWriter:
    """The dataset at ``location`` for labelling with ``profile``: created, or checked to match it."""
    geometry, hw = profile.label_geometry(), (profile.image.height, profile.image.width)
    path = local_path(location)
    if path is not None:
        return DatasetWriter(path, geometry, hw, profile)
    return RemoteDatasetWriter(location, geometry, hw, profile)


def shard_writer(location: str, meta: Mapping[str, Any]) -> ShardWriter | RemoteShardWriter:
    """A writer of recording ``meta["id"]`` into the existing dataset at ``location``."""
    path = local_path(location)
    if path is not None:
        return ShardWriter(path, read_header(path), meta)
    remote = RemoteDataset(location)
    header = remote.header()
    if header is None:
        raise DatasetError(f"{location} is not a dataset: it has no header (make one with 'ros-ssl label')")
    return RemoteShardWriter(remote, header, meta)
