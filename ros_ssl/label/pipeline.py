"""Bag -> labelled recording -> dataset: the glue between streams, association, images and truth.

``label_bag`` is a pure function of one bag and one profile (what a worker process, or a Ray/Spark
task, runs); ``label_bags`` fans bags out to a process pool and writes each finished recording to
the dataset as its own shard, skipping bags the dataset already holds. Every frame with an
odometry pose is kept, labelled or not (self-supervised pretraining uses unlabelled frames too);
frames without a pose or that cannot be decoded are dropped and counted by reason.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.bag.streams import Streams, iter_frames, read_streams
from ros_ssl.config.profile import LabelConfig, RobotProfile
from ros_ssl.data.store import UNKNOWN_TRUTH, DatasetWriter
from ros_ssl.errors import BagError, RosSslError
from ros_ssl.label.association import Labels, MatchParams, associate
from ros_ssl.label.diagnose import MOST, cell_warnings, frame_warnings
from ros_ssl.label.grid import grid_labels
from ros_ssl.label.trajectory import NS, REASON_KEYS, PoseQuery, Reason, Trajectory, clean_trajectory
from ros_ssl.label.window import Readings, posed_readings
from ros_ssl.lifetime import die_with_parent
from ros_ssl.msgs.images import DecodeFailure, UndecodableImage, resize_rgb
from ros_ssl.msgs.poses import wrap_angle


def bag_id(path: str | Path) -> str:
    """Stable recording id: the bag's name plus a short hash of its absolute path."""
    p = Path(path).resolve()
    name = p.name.split(".")[0] or p.name
    return f"{name}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"


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


def label_bag(path: str | Path, profile: RobotProfile) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Label one bag: (arrays for ``DatasetWriter.append``, recording meta with a report of counts)."""
    streams = read_streams(path, profile)
    traj, frames, labels, readings = label_streams(streams, profile)
    n = len(streams.camera_ns)
    keep = frames.ok.copy()
    height, width = profile.image.height, profile.image.width
    row = np.cumsum(keep) - 1  # frame index -> row of ``images`` (posed frames only)
    images = np.zeros((int(keep.sum()), height, width, 3), np.uint8)
    undecodable = np.zeros(n, bool)
    errors: list[UndecodableImage] = []
    for i, t_ns, rgb, err in iter_frames(path, streams.camera_topic):
        if i >= n or t_ns != streams.camera_ns[i]:
            raise BagError(f"bag {path}: camera messages on {streams.camera_topic} came in a different order "
                           f"on the second read (message {i}); cannot pair frames with labels")
        if not keep[i]:
            continue
        if err is not None:
            undecodable[i] = True
            errors.append(err)
        elif rgb is not None:
            images[row[i]] = resize_rgb(rgb, width, height)
    decoded = ~undecodable[frames.ok]
    keep &= ~undecodable
    stamps_ns = streams.camera_ns[keep]
    pose = frames.pose[keep]
    arrays = {
        "frames": images[decoded] if not decoded.all() else images,
        "labels": labels.labels[keep],
        "mask": labels.mask[keep].astype(np.uint8),
        "truth": true_labels(streams, profile, stamps_ns, labels.labels.shape[1:]),
        "stamps": stamps_ns / NS,
        "poses": np.column_stack([pose[:, :2], wrap_angle(pose[:, 2])]) if len(pose) else np.zeros((0, 3)),
    }
    report = _report(str(path), streams, profile, (traj, frames, labels, readings), keep, errors)
    report["frames_with_truth"] = int((arrays["truth"] != UNKNOWN_TRUTH).any(axis=(1, 2)).sum())
    rid = bag_id(path)
    seed = (streams.world or {}).get("seed")
    meta = {"id": rid, "group": f"world-{seed}" if seed is not None else rid,
            "bag": str(Path(path).resolve()), "frames": int(keep.sum()), "report": report}
    return arrays, meta


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
               progress: bool = True) -> dict[str, Any]:
    """Label bags into the dataset at ``out`` (created or appended to); returns a summary report.

    ``workers`` processes label bags in parallel (0 = one per CPU, at most one per bag). A bag the
    dataset already holds (same id) is skipped; a bag that fails with a ros_ssl error is listed
    under "failed" and the others still go in. Each bag becomes its own shard, so runs into the same
    dataset at once, or a run killed and started again, give the dataset one sequential run gives.
    """
    from tqdm import tqdm

    writer = DatasetWriter(out, profile.label_geometry(), (profile.image.height, profile.image.width),
                           profile)
    have = writer.recording_ids()
    todo: dict[str, str] = {}
    existing: list[str] = []
    for p in paths:
        rid = bag_id(p)
        if rid in have:
            existing.append(str(p))
        else:
            todo.setdefault(rid, str(p))
    summary: dict[str, Any] = {"dataset": str(out), "labelled": [], "skipped_existing": existing,
                               "failed": []}
    workers = workers or min(len(todo), os.cpu_count() or 1)
    bar = tqdm(total=len(todo), unit="bag", desc="label", disable=not progress)
    frames = [writer.frame_count()]  # in the dataset, as far as this run knows (for the progress bar)

    def done(path: str, result: tuple[dict[str, np.ndarray], dict[str, Any]] | None, err: str = "") -> None:
        if result is None:
            summary["failed"].append({"bag": path, "error": err})
        elif writer.append(result[1], result[0]):
            summary["labelled"].append(result[1])
            frames[0] += len(result[0]["frames"])
        else:  # another run writing to the same dataset finished this bag first
            summary["skipped_existing"].append(path)
        bar.update(1)
        bar.set_postfix(frames=frames[0])

    try:
        if workers <= 1 or len(todo) <= 1:
            for path in todo.values():
                try:
                    result = label_bag(path, profile)
                except Exception as err:  # noqa: BLE001 - one broken bag must not stop the others
                    done(path, None, _describe(err))
                else:
                    done(path, result)
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(label_bag, path, profile): path for path in todo.values()}
                for fut in as_completed(futures):
                    try:
                        result = fut.result()
                    except Exception as err:  # noqa: BLE001 - as above; includes a worker that died (BrokenProcessPool)
                        done(futures[fut], None, _describe(err))
                    else:
                        done(futures[fut], result)
    finally:
        bar.close()
    summary["frames"] = writer.frame_count()
    return summary


def _describe(err: Exception) -> str:
    """One line for the report: our own errors as they are, anything else with its type."""
    return str(err) if isinstance(err, RosSslError) else f"{type(err).__name__}: {err}"
