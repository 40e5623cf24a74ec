"""What a labelling worker does with one bag: label it and write its shard (a local process or a Ray task).

The worker, not the driver, writes the recording, so frames never travel back to the driver and any
number of workers on any number of machines add to one dataset (one shard each, see
``ros_ssl.data.store``). The driver only collects a small ``BagOutcome`` per bag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ros_ssl.config.profile import RobotProfile
from ros_ssl.data.location import shard_writer
from ros_ssl.io import local_copy
from ros_ssl.label.executors import describe
from ros_ssl.label.pipeline import label_bag_into


@dataclass(frozen=True)
class BagJob:
    """One bag (a path or URL, as the user gave it) for the dataset at ``dataset`` (a path or URL)."""

    source: str
    dataset: str
    profile: RobotProfile


@dataclass(frozen=True)
class BagOutcome:
    """What became of a bag: its recording (``added``), another writer's copy already there, or an error."""

    source: str
    meta: dict[str, Any] | None = None
    added: bool = False
    error: str = ""


def label_to_shard(job: BagJob) -> BagOutcome:
    """Label ``job.source`` and commit its shard; any error becomes the outcome instead of being raised."""
    try:
        with local_copy(job.source) as path:
            meta, added = label_bag_into(path, job.profile, lambda head: shard_writer(job.dataset, head),
                                         source=job.source)
    except Exception as err:  # noqa: BLE001 - one broken bag must not stop the others
        return BagOutcome(job.source, error=describe(err))
    return BagOutcome(job.source, meta, added)
