"""Fleet scale: labelling on Ray equals local labelling, bags and datasets at fsspec URLs, and training
ranks reading disjoint whole shards.

Ray runs only on this machine's loopback: one cluster started here (the --address case and the worker
killed mid-bag) and one that ``ros-ssl label --executor ray`` starts and stops itself.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from bagtools import write_robot_bag

from ros_ssl.config import load_profile
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import Dataset, DatasetWriter, load_dataset
from ros_ssl.data.layout import ARRAYS, INCOMING
from ros_ssl.data.remote import MARKER, RemoteDataset
from ros_ssl.errors import DatasetError
from ros_ssl.io import StorageError, filesystem, local_copy, local_path, source_name
from ros_ssl.label import bag_id, label_bags
from ros_ssl.label.executors import Executor, ExecutorError, ExecutorKind, Finished, J, R
from ros_ssl.ssl.data import ViewBatches, make_view_loader
from ros_ssl.ssl.recipe import AugmentConfig as SslAugment
from ros_ssl.ssl.transforms import MultiView, view_transform
from ros_ssl.train.data import ShardSampler, make_loader, set_epoch

PROFILE = load_profile("sim")
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def assert_same(a: Dataset, b: Dataset) -> None:
    """Equal recording by recording (ids, meta and reports, row spans) and array by array."""
    assert a.recordings == b.recordings
    for name in ARRAYS:
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)),
                                      err_msg=name)


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("bags")
    return [write_robot_bag(root / f"bag{i}", PROFILE, seconds=1.5 + 0.4 * i, wall_x=0.2 + 0.04 * i)
            for i in range(3)]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, bags: list[Path]) -> Path:
    """The bags labelled by local worker processes: what every other executor and location must equal."""
    out = tmp_path_factory.mktemp("local") / "ds"
    summary = label_bags(bags, out, PROFILE, workers=2, progress=False)
    assert not summary["failed"] and len(summary["labelled"]) == 3
    return out


def test_locations_are_paths_or_urls(tmp_path: Path) -> None:
    assert local_path("runs/ds") == Path("runs/ds") and local_path(tmp_path) == tmp_path
    assert local_path(f"file://{tmp_path}/ds") == tmp_path / "ds"
    assert local_path("s3://fleet/ds") is None and local_path("simplecache::s3://fleet/ds") is None
    assert local_path("C://data") == Path("C://data")  # one letter is a drive, not a scheme
    assert source_name("s3://fleet/bags/run1/") == "s3://fleet/bags/run1"
    assert bag_id(f"file://{tmp_path}/run1.mcap") == bag_id(tmp_path / "run1.mcap")
    assert bag_id("s3://fleet/run1.mcap").startswith("run1-")
    assert bag_id("s3://fleet/run1.mcap") != bag_id("gs://fleet/run1.mcap")
    with pytest.raises(StorageError, match="cannot open nosuch://x"):
        filesystem("nosuch://x")
    with pytest.raises(StorageError, match="memory://nothing/here does not exist"), local_copy("memory://nothing/here"):
        pass


def test_file_urls_label_like_paths_with_worker_processes(tmp_path: Path, bags: list[Path],
                                                          local: Path) -> None:
    out = f"file://{tmp_path}/ds"
    summary = label_bags([f"file://{b}" for b in bags], out, PROFILE, workers=2, progress=False)
    assert not summary["failed"]
    assert_same(load_dataset(out), load_dataset(local))


def test_dataset_in_memory_filesystem_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 bags: list[Path], local: Path) -> None:
    monkeypatch.setenv("ROS_SSL_CACHE", str(tmp_path / "cache"))
    fs, _ = filesystem("memory://")
    url = "memory://fleet/ds"
    summary = label_bags(bags, url, PROFILE, workers=2, progress=False)  # memory://: in this process
    assert not summary["failed"] and summary["frames"] == len(load_dataset(local))
    assert sorted(fs.ls("/fleet/ds/shards", detail=False)) == [f"/fleet/ds/shards/{bag_id(b)}" for b in bags]
    assert_same(load_dataset(url), load_dataset(local))
    assert label_bags(bags, url, PROFILE, progress=False)["skipped_existing"] == [str(b) for b in bags]

    # A bag at a URL: fetched to a temporary copy, named after its URL.
    fs.put(str(bags[0]), "/fleet/bags/copy0", recursive=True)
    summary = label_bags(["memory://fleet/bags/copy0"], url, PROFILE, progress=False)
    meta = summary["labelled"][0]
    assert meta["id"] == bag_id("memory://fleet/bags/copy0") == meta["group"]
    assert meta["bag"] == "memory://fleet/bags/copy0"
    ds, ref = load_dataset(url), load_dataset(local)
    copy = next(r for r in ds.recordings if r["id"] == meta["id"])
    orig = next(r for r in ref.recordings if r["id"] == bag_id(bags[0]))
    np.testing.assert_array_equal(ds.frames[copy["start"]:copy["start"] + copy["count"]],
                                  ref.frames[orig["start"]:orig["start"] + orig["count"]])

    # An upload cut short (no marker) is invisible to readers and to the "already there" check.
    fs.rm(f"/fleet/ds/shards/{meta['id']}/{MARKER}")
    assert meta["id"] not in RemoteDataset(url).complete_ids()
    assert len(load_dataset(url).recordings) == 3
    summary = label_bags(["memory://fleet/bags/copy0"], url, PROFILE, progress=False)
    assert [m["id"] for m in summary["labelled"]] == [meta["id"]]
    with pytest.raises(ExecutorError, match="memory:// data lives in this process only"):
        label_bags([bags[1]], "memory://fleet/other", PROFILE, executor=ExecutorKind.RAY, progress=False)
    with pytest.raises(DatasetError, match="not a dataset"):
        load_dataset("memory://fleet/bags")


def test_dataset_url_refuses_another_image_size_or_a_non_dataset() -> None:
    label_bags([], "memory://geom/ds", PROFILE, progress=False)
    small = replace(PROFILE, image=replace(PROFILE.image, height=32))
    with pytest.raises(DatasetError, match=r"memory://geom/ds holds \(64, 80\) images, not \(32, 80\)"):
        label_bags([], "memory://geom/ds", small, progress=False)
    filesystem("memory://")[0].pipe_file("/geom/junk/file.txt", b"x")
    with pytest.raises(DatasetError, match="memory://geom/junk exists and is not a ros_ssl dataset"):
        label_bags([], "memory://geom/junk", PROFILE, progress=False)
    filesystem("memory://")[0].pipe_file("/geom/cut/dataset.json", b'{"format": ')  # a cut upload
    with pytest.raises(DatasetError, match=r"dataset memory://geom/cut: dataset\.json is not valid JSON"):
        load_dataset("memory://geom/cut")


# ------------------------------------------------------------------------------------------ training
SIZES = (40, 30, 25, 25, 20, 10)  # dealt largest first: 75 frames per rank of two


def _uneven_dataset(path: Path) -> Path:
    geometry = LabelGeometry.sensor_distance(["s"], [0.0, 0.1])
    writer = DatasetWriter(path, geometry, (4, 4), PROFILE)
    for r, n in enumerate(SIZES):
        writer.append({"id": f"rec{r}", "group": f"rec{r}"},
                      {"frames": np.full((n, 4, 4, 3), r, np.uint8), "labels": np.zeros((n, 1, 2), np.uint8),
                       "mask": np.ones((n, 1, 2), np.uint8), "truth": np.zeros((n, 1, 2), np.uint8),
                       "stamps": np.arange(n, dtype=np.float64), "poses": np.zeros((n, 3))})
    return path


def _rank(rank: int, port: int, dataset: str, result: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    ds = load_dataset(dataset)
    loader = make_loader(dataset, np.arange(len(ds)), 15, shuffle=True, seed=3, rank=rank, world_size=2)
    seen: dict[int, list[int]] = {}
    for epoch in (0, 1, 0):
        set_epoch(loader, epoch, seed=3)
        rows = [int(i) for batch in loader for i in batch["index"]]
        assert seen.setdefault(epoch, rows) == rows  # deterministic per epoch
    everyone: list[Any] = [None, None]
    dist.all_gather_object(everyone, seen)
    if rank == 0:
        torch.save(everyone, result)
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_read_disjoint_whole_shards_covering_the_split(tmp_path: Path) -> None:
    dataset = _uneven_dataset(tmp_path / "ds")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    mp.start_processes(_rank, args=(port, str(dataset), str(tmp_path / "seen.pt")), nprocs=2, join=True,
                       start_method="fork")  # before any Ray test of this module starts its cluster
    ranks = torch.load(tmp_path / "seen.pt")
    ds = load_dataset(dataset)
    for epoch in (0, 1):
        rows = [np.array(r[epoch]) for r in ranks]
        shards = [set(ds.recording[r].tolist()) for r in rows]
        assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(len(SIZES)))
        assert len(rows[0]) == len(rows[1]) == 75
        np.testing.assert_array_equal(np.sort(np.concatenate(rows)), np.arange(len(ds)))  # every frame once


def test_shard_sampler_balances_and_loader_workers_reopen_by_path(tmp_path: Path) -> None:
    dataset = _uneven_dataset(tmp_path / "ds")
    ds = load_dataset(dataset)
    sampler = ShardSampler(ds.recording, 0, 4, seed=1)
    dealt = sampler.assignment()
    assert sorted(k for units in dealt for k in units) == list(range(len(SIZES)))
    assert [sum(SIZES[k] for k in units) for units in dealt] == [40, 30, 45, 35]  # largest to the lightest
    few = ShardSampler(np.zeros(10, np.int64), 1, 3)  # one shard, three ranks: it is cut in parts
    assert len(few.units) == 3 and len(list(few)) == 4
    loader = make_loader(dataset, np.arange(len(ds)), 15, shuffle=True, seed=3, rank=1, world_size=2,
                         workers=2)
    set_epoch(loader, 0, seed=3)
    inner = loader.sampler.sampler
    assert isinstance(inner, ShardSampler)
    rows = np.concatenate([batch["index"].numpy() for batch in loader])
    assert sorted(rows.tolist()) == sorted(inner)  # what the workers read is what the sampler dealt
    # Workers get the path and the indices, never the opened dataset or its frames.
    assert len(pickle.dumps(loader.dataset)) < 4000


def test_pretraining_ranks_read_whole_shards_too(tmp_path: Path) -> None:
    dataset = _uneven_dataset(tmp_path / "ds")
    ds = load_dataset(dataset)
    views = MultiView([view_transform(SslAugment())] * 2)
    ranks = []
    for rank in (0, 1):
        loader = make_view_loader(ViewBatches(dataset, np.arange(len(ds)), views), 5, recording=ds.recording,
                                  seed=2, rank=rank, world_size=2)
        set_epoch(loader, 1, seed=2)
        assert isinstance(loader.sampler.sampler, ShardSampler)
        ranks.append(np.concatenate([ids[:, 0].numpy() for _, ids in loader]))
    shards = [set(ds.recording[r].tolist()) for r in ranks]
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(len(SIZES)))
    assert len(ranks[0]) == len(ranks[1])  # DDP steps in lockstep


# ----------------------------------------------------------------------------------------------- Ray
def ray_label(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ros_ssl", "label", *map(str, args), "--config", "sim",
                           "--executor", "ray", "--no-progress"], capture_output=True, text=True, timeout=300,
                          check=False, env=dict(os.environ, **RAY_ENV))


@pytest.mark.slow
def test_ray_cluster_started_by_the_command_equals_local_and_reports_failures(
        tmp_path: Path, bags: list[Path], local: Path) -> None:
    pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra: pip install '.[cluster]'")
    broken = tmp_path / "broken.mcap"
    broken.write_bytes(b"not a bag")
    res = ray_label(*bags, broken, "--out", f"file://{tmp_path}/ds", "-j", "2")
    assert res.returncode == 1
    assert f"{broken}: FAILED: " in res.stderr and "Traceback" not in res.stderr
    assert_same(load_dataset(tmp_path / "ds"), load_dataset(local))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster owned by this test module (loopback, 2 CPUs): its GCS address."""
    ray = pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra: pip install '.[cluster]'")
    os.environ.update(RAY_ENV)
    context = ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                       log_to_driver=False)
    try:
        yield str(context.address_info["gcs_address"])
    finally:
        context.disconnect()


@pytest.mark.slow
def test_ray_on_a_running_cluster_equals_local(tmp_path: Path, bags: list[Path], local: Path,
                                               ray_cluster: str) -> None:
    res = ray_label(*bags, "--out", tmp_path / "ds", "--address", ray_cluster)
    assert res.returncode == 0, res.stderr
    assert all(f"{bag_id(b)}: " in res.stdout for b in bags)
    assert_same(load_dataset(tmp_path / "ds"), load_dataset(local))


class CrashOnce(Executor):
    """Another executor, whose first task to start kills its worker process mid-bag: after the shard's
    rows are written, before the commit (``os._exit``, as a lost node or the OOM killer would)."""

    def __init__(self, inner: Executor, marker: Path) -> None:
        self.inner, self.marker = inner, marker

    def __enter__(self) -> CrashOnce:
        self.inner.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.inner.__exit__(kind, err, tb)

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[Finished[J, R]]:
        marker = str(self.marker)

        def crash_first(job: J) -> R:  # nested, so Ray ships it by value
            from ros_ssl.data import shard

            try:  # exactly one worker crashes, even when two start at once
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return fn(job)
            shard.ShardWriter.commit = lambda *_, **__: os._exit(1)
            return fn(job)

        return self.inner.map(crash_first, jobs)


@pytest.mark.slow
def test_ray_retries_a_worker_lost_mid_bag(tmp_path: Path, bags: list[Path], local: Path,
                                           ray_cluster: str) -> None:
    from ros_ssl.label.ray_executor import RayExecutor

    out = tmp_path / "ds"
    executor = CrashOnce(RayExecutor(), tmp_path / "crashed")
    summary = label_bags(bags, out, PROFILE, executor=executor, progress=False)
    assert (tmp_path / "crashed").exists() and not summary["failed"] and len(summary["labelled"]) == 3
    assert len(list((out / INCOMING).iterdir())) == 1  # the dead attempt's rows: never a shard
    assert_same(load_dataset(out), load_dataset(local))
