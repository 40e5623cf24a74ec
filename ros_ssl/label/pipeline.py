"""Bag -> labelled recording -> dataset: the glue between streams, association, images and truth.

``label_bag_into`` labels one bag with one profile into its own shard, frames decoded at the training
size and appended in chunks, so memory does not grow with the bag (what a worker process, or a Ray
task, runs); ``label_bag`` is the same in memory. ``label_bags`` fans bags out to an executor
(``ros_ssl.label.executors``) whose workers write each finished recording to the dataset as its own
shard, skipping bags the dataset already holds.
Every frame with an odometry pose is kept, labelled or not (self-supervised pretraining uses
unlabelled frames too); frames without a pose or that cannot be decoded are dropped and counted by
reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ros_ssl.bag.streams import Streams, iter_frames, read_streams
from ros_ssl.config.profile import LabelConfig, RobotProfile
from ros_ssl.data.store import UNKNOWN_TRUTH
from ros_ssl.errors import BagError
from ros_ssl.io import source_name
from ros_ssl.label.association import Labels, MatchParams, associate
from ros_ssl.label.diagnose import MOST, cell_warnings, frame_warnings
from ros_ssl.label.executors import Executor, ExecutorKind
from ros_ssl.label.grid import grid_labels
from ros_ssl.label.trajectory import NS, REASON_KEYS, PoseQuery, Reason, Trajectory, clean_trajectory
from ros_ssl.label.window import Readings, posed_readings
from ros_ssl.msgs.images import DecodeFailure, UndecodableImage
from ros_ssl.msgs.poses import wrap_angle


def bag_id(path: str | Path) -> str:
    """Stable recording id: the bag's name plus a short hash of its absolute path (or of its URL)."""
    source = source_name(path)
    name = source.rsplit("/", 1)[-1]
    return f"{name.split('.')[0] or name}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"


def label_streams(streams: Streams, profile: RobotProfile) -> tuple[Trajectory, PoseQuery, Labels, Readings]:
    """Odometry trajectory, frame poses and labels of every camera stamp (no pixels involved)."""
    lab = profile.labels
    traj = clean_trajectory(streams.odom_ns, streams.odom, lab.max_speed, lab.max_odom_gap_s)
    readings = posed_readings(traj, streams.range_ns, streams.ranges)
    frames = traj.poses_at(streams.camera_ns)
    if profile.label_geometry().is_grid:
        labels = grid_labels(streams.camera_ns, frames, traj, readings, profile)
    else:
        labels = associate(streams.camera_ns, frames, traj, readings, MatchParams.from_profile(profile))
    return traj, frames, labels, readings


def true_labels(streams: Streams, profile: RobotProfile, stamps_ns: np.ndarray,
                shape: tuple[int, ...]) -> np.ndarray:
    """Simulator ground truth at the frame stamps (world-frame pose interpolated there); 255 without it."""
    truth = np.full((len(stamps_ns), *shape), UNKNOWN_TRUTH, np.uint8)
    if streams.world is None or not len(streams.truth_ns) or not len(stamps_ns):
        return truth
    from ros_ssl.sim.truth import true_grid_labels, true_sensor_labels

    lab = profile.labels
    world_traj = clean_trajectory(streams.truth_ns, streams.truth, lab.max_speed, lab.max_odom_gap_s)
    q = world_traj.poses_at(stamps_ns)
    if not q.ok.any():
        return truth
    poses = q.pose[q.ok]
    geometry = profile.label_geometry()
    if geometry.is_grid:
        truth[q.ok] = true_grid_labels(streams.world, poses, geometry.x, geometry.y)
    else:
        truth[q.ok] = true_sensor_labels(streams.world, poses, profile, geometry.distances)
    return truth


CHUNK_FRAMES = 512  # frames decoded before they go to the shard: 8 MB at 80x64, whatever the bag's length


class ShardSink(Protocol):
    """Where ``label_bag_into`` writes one recording (``ShardWriter``, ``RemoteShardWriter``)."""

    def append(self, arrays: Mapping[str, np.ndarray]) -> None: ...

    def commit(self, report: Mapping[str, Any] | None = None) -> bool: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class _Prepared:
    """A bag labelled but for its pixels: per-frame rows are tens of bytes, so an hour fits easily."""

    path: str | Path
    profile: RobotProfile
    streams: Streams
    labelled: tuple[Trajectory, PoseQuery, Labels, Readings]
    rows: dict[str, np.ndarray]  # every array of the recording but frames, one row per posed frame
    head: dict[str, Any]  # the recording's id, group and bag


def label_bag(path: str | Path, profile: RobotProfile) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Label one bag in memory: (arrays for ``DatasetWriter.append``, recording meta with a report of counts).

    For tests and small bags; ``label_bag_into`` gives the same recording with memory bounded for any length.
    """
    prep = _prepare(path, profile)
    height, width = profile.image.height, profile.image.width
    empty = np.zeros((0, height, width, 3), np.uint8)
    parts = [{"frames": empty, **{k: v[:0] for k, v in prep.rows.items()}}]
    meta = _stream(prep, parts.append)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}, meta


def label_bag_into(path: str | Path, profile: RobotProfile, open_shard: Callable[[dict[str, Any]], ShardSink],
                   source: str | Path | None = None) -> tuple[dict[str, Any], bool]:
    """Label one bag into its own shard, frames decoded and appended ``CHUNK_FRAMES`` at a time.

    ``open_shard`` gets the recording's id, group and bag (e.g. ``DatasetWriter.open_shard``), named
    after ``source`` (default ``path``; a URL when ``path`` is its local copy); the shard is committed
    with the report, or aborted on any error. Returns ``label_bag``'s meta and whether the shard was
    added (False: another writer committed this recording first).
    """
    prep = _prepare(path, profile, source)
    shard = open_shard(dict(prep.head))
    try:
        meta = _stream(prep, shard.append)
        added = shard.commit(report=meta["report"])
    except BaseException:
        shard.abort()
        raise
    return meta, added


def _prepare(path: str | Path, profile: RobotProfile, source: str | Path | None = None) -> _Prepared:
    """First read: the small streams, labels and the per-frame rows of every frame with a pose; the
    recording is named after ``source`` (default ``path``)."""
    source = path if source is None else source
    streams = read_streams(path, profile)
    labelled = label_streams(streams, profile)
    _, frames, labels, _ = labelled
    posed = frames.ok
    stamps_ns = streams.camera_ns[posed]
    pose = frames.pose[posed]
    rows = {
        "labels": labels.labels[posed],
        "mask": labels.mask[posed].astype(np.uint8),
        "truth": true_labels(streams, profile, stamps_ns, labels.labels.shape[1:]),
        "stamps": stamps_ns / NS,
        "poses": np.column_stack([pose[:, :2], wrap_angle(pose[:, 2])]) if len(pose) else np.zeros((0, 3)),
    }
    rid = bag_id(source)
    seed = (streams.world or {}).get("seed")
    head = {"id": rid, "group": f"world-{seed}" if seed is not None else rid, "bag": source_name(source)}
    return _Prepared(path, profile, streams, labelled, rows, head)


def _stream(prep: _Prepared, append: Callable[[dict[str, np.ndarray]], None]) -> dict[str, Any]:
    """Second read: posed frames decoded at the training size, handed to ``append`` with their rows in
    chunks of ``CHUNK_FRAMES`` (frames that cannot be decoded are dropped); the recording meta."""
    path, streams, profile = prep.path, prep.streams, prep.profile
    posed = prep.labelled[1].ok
    n = len(streams.camera_ns)
    row = np.cumsum(posed) - 1  # frame index -> index into prep.rows
    size = (profile.image.width, profile.image.height)
    chunk = np.empty((CHUNK_FRAMES, size[1], size[0], 3), np.uint8)
    taken: list[int] = []  # prep.rows indices of the frames in ``chunk``

    def flush() -> None:
        nonlocal chunk
        if taken:
            sel = np.asarray(taken)
            append({"frames": chunk[: len(taken)], **{k: v[sel] for k, v in prep.rows.items()}})
            chunk = np.empty_like(chunk)  # ``append`` may keep what it got (an in-memory label_bag does)
            taken.clear()

    undecodable = np.zeros(n, bool)
    errors: list[UndecodableImage] = []
    seen = 0
    for i, t_ns, rgb, err in iter_frames(path, streams.camera_topic, size):
        if i >= n or t_ns != streams.camera_ns[i]:
            raise BagError(f"bag {path}: camera messages on {streams.camera_topic} came in a different order "
                           f"on the second read (message {i}); cannot pair frames with labels")
        seen = i + 1
        if not posed[i]:
            continue
        if err is not None:
            undecodable[i] = True
            errors.append(err)
        elif rgb is not None:
            chunk[len(taken)] = rgb
            taken.append(int(row[i]))
            if len(taken) == len(chunk):
                flush()
    if seen < n:
        raise BagError(f"bag {path}: the second read of {streams.camera_topic} ended after {seen} of {n} "
                       f"camera messages; cannot pair frames with labels")
    flush()
    keep = posed & ~undecodable
    report = _report(str(path), streams, profile, prep.labelled, keep, errors)
    truth = prep.rows["truth"][~undecodable[posed]]
    report["frames_with_truth"] = int((truth != UNKNOWN_TRUTH).any(axis=(1, 2)).sum())
    return {**prep.head, "frames": int(keep.sum()), "report": report}


def _report(bag: str, streams: Streams, profile: RobotProfile,
            labelled: tuple[Trajectory, PoseQuery, Labels, Readings], keep: np.ndarray,
            errors: list[UndecodableImage]) -> dict[str, Any]:
    """Counts of everything dropped, repaired or doubtful, so nothing is skipped silently, and warnings
    when one profile limit costs the recording most of its labels (``label.diagnose``)."""
    traj, frames, labels, readings = labelled
    reasons = Counter(Reason(int(r)) for r in frames.reason)
    skipped = {REASON_KEYS[r]: int(reasons.get(r, 0)) for r in REASON_KEYS}
    skipped["undecodable"] = len(errors)
    duplicate_frames = streams.duplicates.get(streams.camera_topic, 0)
    skipped["duplicate"] = duplicate_frames
    by_reason = Counter(e.reason for e in errors)
    undecodable = {r.value: by_reason[r] for r in DecodeFailure if by_reason[r]}
    cam = streams.camera_ns
    known = labels.mask[keep]
    with_labels = int(known.any(axis=(1, 2)).sum())
    lab = profile.labels
    warnings = frame_warnings(bag, skipped, undecodable, len(cam), traj, lab)
    if known.size and known.mean() < MOST:  # mostly unknown: measure what each label limit costs
        def relabel(relaxed: LabelConfig) -> int:
            return int(label_streams(streams, replace(profile, labels=relaxed))[2].mask[keep].sum())

        warnings += cell_warnings(bag, int(known.sum()), lab, relabel)
    return {
        "frames_in_bag": len(cam) + duplicate_frames,
        "frames_kept": int(keep.sum()),
        "frames_skipped": skipped,
        "undecodable": undecodable,
        "frames_out_of_order": int(np.count_nonzero(np.diff(cam) < 0)),
        "frames_duplicate_stamps": int(len(cam) - len(np.unique(cam))),
        "duplicates": dict(streams.duplicates),
        "frames_with_labels": with_labels,
        "known_fraction": float(known.mean()) if known.size else 0.0,
        "first_decode_error": str(errors[0]) if errors else "",
        "odometry": traj.counts,
        "no_motion": traj.max_displacement() < lab.tol_x,
        "readings": dict(zip(profile.sensor_names, readings.counts, strict=True)),
        "warnings": warnings,
    }


def label_bags(paths: Iterable[str | Path], out: str | Path, profile: RobotProfile, workers: int = 0,
               progress: bool = True, executor: ExecutorKind | Executor = ExecutorKind.LOCAL,
               address: str | None = None) -> dict[str, Any]:
    """Label bags into the dataset at ``out`` (created or appended to); returns a summary report.

    Bags and ``out`` are local paths or fsspec URLs (``ros_ssl.io``). ``workers`` processes label bags in
    parallel (0 = one per CPU, at most one per bag), or with ``ExecutorKind.RAY`` Ray tasks do (on the
    cluster at ``address``, else on a local one of ``workers`` CPUs). Each worker writes its bag's shard
    itself. A bag the dataset already holds (same id) is skipped; a bag that fails is listed under
    "failed" and the others still go in. Runs into the same dataset at once, or a run killed and started
    again, give the dataset one sequential run gives, whichever executor ran them.
    """
    from tqdm import tqdm

    from ros_ssl.data.location import open_writer
    from ros_ssl.io import is_process_local
    from ros_ssl.label.executors import ExecutorError, InProcess, make_executor
    from ros_ssl.label.jobs import BagJob, label_to_shard

    location = str(out)
    writer = open_writer(location, profile)
    have = writer.recording_ids()
    todo: dict[str, str] = {}
    existing: list[str] = []
    for p in paths:
        rid = bag_id(p)
        if rid in have:
            existing.append(str(p))
        else:
            todo.setdefault(rid, str(p))
    summary: dict[str, Any] = {"dataset": location, "labelled": [], "skipped_existing": existing,
                               "failed": []}
    jobs = [BagJob(source, location, profile) for source in todo.values()]
    runner: Executor
    if isinstance(executor, Executor):
        runner = executor
    elif any(is_process_local(s) for s in [location, *todo.values()]):  # memory://: no other process sees it
        if executor is ExecutorKind.RAY:
            raise ExecutorError(f"{location}: memory:// data lives in this process only and Ray workers "
                                f"cannot reach it; use file:// or object storage")
        runner = InProcess()
    else:
        runner = make_executor(executor, workers, len(jobs), address)
    frames = writer.frame_count()  # in the dataset, as far as this run knows (for the progress bar)
    bar = tqdm(total=len(jobs), unit="bag", desc="label", disable=not progress)
    try:
        if jobs:
            with runner:
                for end in runner.map(label_to_shard, jobs):
                    outcome = end.result
                    if outcome is None or outcome.error:
                        error = outcome.error if outcome is not None else end.error
                        summary["failed"].append({"bag": end.job.source, "error": error})
                    elif outcome.added and outcome.meta is not None:
                        summary["labelled"].append(outcome.meta)
                        frames += int(outcome.meta["frames"])
                    else:  # another run writing to the same dataset finished this bag first
                        summary["skipped_existing"].append(end.job.source)
                    bar.update(1)
                    bar.set_postfix(frames=frames)
    finally:
        bar.close()
    summary["frames"] = writer.frame_count()
    return summary
