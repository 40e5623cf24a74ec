"""Dataset faults: concurrent label runs, kill -9 at random instants, damaged shards, leftovers, format 1.

Each test builds its faulty input (real bags from ``bagtools.write_robot_bag``, real ``python -m ros_ssl
label`` subprocesses where processes matter) and checks the documented behaviour: the dataset loads and
equals a clean sequential run, and damage is named in one line, never padded, dropped or relabelled by
``ros-ssl dataset verify|repair``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from bagtools import write_robot_bag
from typer.testing import CliRunner

from ros_ssl.cli.main import _register, app
from ros_ssl.config import load_profile
from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.data import Dataset, DatasetWriter, load_dataset
from ros_ssl.data.layout import INCOMING, SHARDS
from ros_ssl.errors import DatasetError
from ros_ssl.label import bag_id, label_bags

PROFILE = load_profile("sim")
ARRAYS = ("labels", "mask", "truth", "stamps", "poses", "recording")


def label_cli(*args: str | Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "ros_ssl", "label", *map(str, args), "--no-progress", "-j", "1"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def assert_same(a: Dataset, b: Dataset) -> None:
    """Equal recording by recording (ids, meta, row spans) and array by array."""
    assert a.recordings == b.recordings
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(np.asarray(a.frames), np.asarray(b.frames))


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("bags")
    return [write_robot_bag(root / f"bag{i}", PROFILE, seconds=2.0 + 0.4 * i, wall_x=0.2 + 0.04 * i)
            for i in range(6)]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, bags: list[Path]) -> Path:
    """All six bags labelled by one sequential run."""
    out = tmp_path_factory.mktemp("clean") / "ds"
    summary = label_bags(bags, out, PROFILE, workers=1, progress=False)
    assert not summary["failed"] and len(summary["labelled"]) == 6
    return out


@pytest.fixture
def small(tmp_path: Path, bags: list[Path]) -> Path:
    """A fresh copy of a dataset of the first three bags, to damage."""
    out = tmp_path / "ds"
    label_bags(bags[:3], out, PROFILE, workers=1, progress=False)
    return out


def shard(ds: Path, bag: Path) -> Path:
    return ds / SHARDS / bag_id(bag)


def invoke(*args: str | Path) -> typer.testing.Result:
    _register()
    return CliRunner().invoke(app, [str(a) for a in args])


# --- concurrency and kill -9 ------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_concurrent_label_runs_equal_one_sequential_run(tmp_path: Path, bags: list[Path],
                                                            clean: Path) -> None:
    out = tmp_path / "ds"
    first, second = label_cli(*bags[:4], "--out", out), label_cli(*bags[2:], "--out", out)
    for rc, stdout, stderr in (finish(first), finish(second)):
        assert rc == 0, stderr
        assert "frames" in stdout
    assert_same(load_dataset(out), load_dataset(clean))
    assert not list((out / INCOMING).iterdir())  # the run that lost a race removed its copy


@pytest.mark.slow
def test_kill_9_at_random_instants_then_rerun_equals_a_clean_run(tmp_path: Path, bags: list[Path],
                                                                  clean: Path) -> None:
    began = time.monotonic()
    assert finish(label_cli(*bags, "--out", tmp_path / "timed"))[0] == 0
    took = time.monotonic() - began  # the instants below fall anywhere from start-up to the last bag
    rng = random.Random(11)
    for trial in range(4):
        out = tmp_path / f"ds{trial}"
        proc = label_cli(*bags, "--out", out)
        time.sleep(rng.uniform(0.3, 1.0) * took)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if (out / "dataset.json").exists():  # killed after creating the dataset: what is there loads
            partial = load_dataset(out)
            reference = load_dataset(clean)
            for r in partial.recordings:  # every recording present is whole and equal to the clean one
                ref = next(x for x in reference.recordings if x["id"] == r["id"])
                assert {k: v for k, v in r.items() if k != "start"} == {
                    k: v for k, v in ref.items() if k != "start"}
        rc, _, stderr = finish(label_cli(*bags, "--out", out))
        assert rc == 0, stderr
        assert_same(load_dataset(out), load_dataset(clean))


def _label_and_die_at_fsync(bags: list[Path], out: Path, n: int) -> None:
    """In a forked child: label, and exit at once (no clean-up, as kill -9) on the n-th fsync."""
    calls = [0]
    real = os.fsync

    def fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == n:
            os._exit(9)
        real(fd)

    os.fsync = fsync
    label_bags(bags, out, PROFILE, workers=1, progress=False)
    os._exit(0)


@pytest.mark.slow
def test_a_crash_at_every_durable_step_leaves_a_dataset_that_loads_and_reruns_to_the_clean_one(
        tmp_path: Path, bags: list[Path]) -> None:
    """A label run dies (as by kill -9) at its n-th fsync, for every n: between every two durable steps."""
    reference = tmp_path / "reference"
    label_bags(bags[:2], reference, PROFILE, workers=1, progress=False)
    n = 0
    while True:
        n += 1
        out = tmp_path / f"ds{n}"
        pid = os.fork()
        if pid == 0:
            _label_and_die_at_fsync(bags[:2], out, n)
        _, status = os.waitpid(pid, 0)
        if (out / "dataset.json").exists():
            load_dataset(out)
        label_bags(bags[:2], out, PROFILE, workers=1, progress=False)
        assert_same(load_dataset(out), load_dataset(reference))
        if os.waitstatus_to_exitcode(status) == 0:  # the run got past its last fsync
            break
    assert n > 10


def test_two_writers_of_one_recording_keep_exactly_one(tmp_path: Path) -> None:
    profile = PROFILE
    geometry = LabelGeometry.sensor_distance(["a"], [0.0, 0.1])
    arrays = {"frames": np.full((4, 8, 10, 3), 7, np.uint8), "labels": np.ones((4, 1, 2), np.uint8),
              "mask": np.ones((4, 1, 2), np.uint8), "truth": np.full((4, 1, 2), 255, np.uint8),
              "stamps": np.arange(4.0), "poses": np.zeros((4, 3))}
    one = DatasetWriter(tmp_path / "ds", geometry, (8, 10), profile)
    two = DatasetWriter(tmp_path / "ds", geometry, (8, 10), profile)  # a second creator, same header
    a, b = one.open_shard({"id": "r"}), two.open_shard({"id": "r"})
    a.append(arrays)
    b.append(arrays)
    assert a.commit() and not b.commit()
    # Streaming: chunks appended one by one equal one append.
    with one.open_shard({"id": "s"}) as s:
        for k in range(4):
            s.append({name: v[k:k + 1] for name, v in arrays.items()})
        assert s.commit(report={"note": "chunks"})
    ds = load_dataset(tmp_path / "ds")
    assert [r["id"] for r in ds.recordings] == ["r", "s"] and len(ds) == 8
    assert ds.recordings[1]["report"] == {"note": "chunks"} and ds.recordings[1]["start"] == 4
    np.testing.assert_array_equal(ds.frames[:4], ds.frames[4:])
    with pytest.raises(ValueError, match="boom"), one.open_shard({"id": "t"}) as t:
        t.append(arrays)
        raise ValueError("boom")
    assert not list((tmp_path / "ds" / INCOMING).iterdir()) and len(load_dataset(tmp_path / "ds")) == 8
    with pytest.raises(DatasetError, match="has label geometry sensor_distance of another shape"):
        DatasetWriter(tmp_path / "ds", LabelGeometry.sensor_distance(["b"], [0.0]), (8, 10), profile)


def test_frames_view_indexes_like_an_array_across_shards(clean: Path) -> None:
    ds = load_dataset(clean)
    whole = np.asarray(ds.frames)
    n = len(ds)
    assert ds.frames.shape == whole.shape == (n, *ds.image_hw, 3) and ds.frames.dtype == np.uint8
    assert len(ds.frames) == n and len({int(r) for r in ds.recording}) == 6
    rows = np.array([n - 1, 0, 25, 25, 60, 3])  # across shards, unsorted, repeated
    np.testing.assert_array_equal(ds.frames[rows], whole[rows])
    np.testing.assert_array_equal(ds.frames[rows.tolist()], whole[rows])
    np.testing.assert_array_equal(ds.frames[rows.reshape(2, 3)], whole[rows.reshape(2, 3)])
    np.testing.assert_array_equal(ds.frames[10:50:3], whole[10:50:3])
    np.testing.assert_array_equal(ds.frames[-1], whole[-1])
    np.testing.assert_array_equal(ds.frames[np.int64(7)], whole[7])
    np.testing.assert_array_equal(ds.frames[ds.recording == 2], whole[ds.recording == 2])
    np.testing.assert_array_equal(ds.frames[ds.indices([4, 1])], whole[ds.indices([4, 1])])
    assert ds.frames[np.zeros(0, np.int64)].shape == (0, *ds.image_hw, 3)
    with pytest.raises(IndexError):
        ds.frames[n]
    with pytest.raises(IndexError):
        ds.frames[np.array([0, n])]


# --- damage -----------------------------------------------------------------------------------------------

def _cut_frames(s: Path) -> str:
    f = s / "frames.bin"
    os.truncate(f, f.stat().st_size - 100)
    return "frames.bin has"


def _delete_mask(s: Path) -> str:
    (s / "mask.bin").unlink()
    return "mask.bin is missing"


def _edit_description(s: Path) -> str:
    data = json.loads((s / "shard.json").read_text())
    data["recording"]["report"]["frames_kept"] += 1
    (s / "shard.json").write_text(json.dumps(data))
    return "shard.json was edited"


def _flip_label(s: Path) -> str:
    f = s / "labels.bin"
    data = bytearray(f.read_bytes())
    data[0] ^= 1
    f.write_bytes(bytes(data))
    return "labels.bin does not match its sha256"


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_cut_frames, _delete_mask, _edit_description, _flip_label])
def test_damaged_shard_is_named_on_open_and_append_and_repaired(small: Path, bags: list[Path],
                                                                damage: object) -> None:
    assert callable(damage)
    before = load_dataset(small)
    victim = shard(small, bags[1])
    what = damage(victim)
    pattern = rf"^dataset {small}: shard {victim.name}: {what}.*ros-ssl dataset verify"
    with pytest.raises(DatasetError, match=pattern) as err:
        load_dataset(small)
    assert "\n" not in str(err.value)
    with pytest.raises(DatasetError, match=pattern):  # appending refuses: damage is never built upon
        label_bags(bags[3:4], small, PROFILE, workers=1, progress=False)
    assert not shard(small, bags[3]).exists()

    res = invoke("dataset", "verify", small)
    assert res.exit_code == 1 and f"damaged shards/{victim.name}: {what}" in res.output
    res = invoke("dataset", "repair", small)
    assert res.exit_code == 0 and f"dropped {victim.name}" in res.output
    repaired = load_dataset(small)
    assert [r["id"] for r in repaired.recordings] == [bag_id(bags[0]), bag_id(bags[2])]
    assert invoke("dataset", "verify", small).exit_code == 0
    label_bags(bags[1:2], small, PROFILE, workers=1, progress=False)  # labelling the bag again restores it
    assert_same(load_dataset(small), before)


def test_repair_relabel_restores_the_clean_dataset(small: Path, bags: list[Path], clean: Path) -> None:
    before = load_dataset(small)
    _delete_mask(shard(small, bags[1]))
    res = invoke("dataset", "repair", small, "--relabel")
    assert res.exit_code == 0, res.output
    assert f"dropped {bag_id(bags[1])}: mask.bin is missing" in res.output
    assert_same(load_dataset(small), before)


def test_flipped_frame_byte_is_found_by_verify(small: Path, bags: list[Path]) -> None:
    f = shard(small, bags[2]) / "frames.bin"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    load_dataset(small)  # frames are checked by verify (a full read), not on every open
    res = invoke("dataset", "verify", small)
    assert res.exit_code == 1
    assert f"damaged shards/{bag_id(bags[2])}: frames.bin does not match its sha256" in res.output


def test_append_to_a_damaged_dataset_fails_in_one_line_through_the_cli(small: Path, bags: list[Path]) -> None:
    _cut_frames(shard(small, bags[0]))
    rc, _, err = finish(label_cli(bags[4], "--out", small))
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"ros-ssl: error: dataset {small}: shard {bag_id(bags[0])}: frames.bin has ")
    assert not shard(small, bags[4]).exists()


def test_leftovers_of_stopped_writers_are_ignored_listed_and_removed(small: Path) -> None:
    before = load_dataset(small)
    stale = small / INCOMING / "bag9-00000000~otherhost~123~abcd"
    stale.mkdir()
    (stale / "frames.bin").write_bytes(b"half a recording")
    header_tmp = small / ".dataset.json~otherhost~123~abcd"
    header_tmp.write_text("{")
    assert_same(load_dataset(small), before)
    res = invoke("dataset", "verify", small)
    assert res.exit_code == 0 and res.output.count("leftover ") == 2, res.output
    res = invoke("dataset", "repair", small)
    assert res.exit_code == 0 and not stale.exists() and not header_tmp.exists()
    assert_same(load_dataset(small), before)


def test_killed_before_the_header_existed_leaves_a_directory_that_labels(tmp_path: Path,
                                                                        bags: list[Path]) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / ".dataset.json~thishost~1~abcd").write_text("{")  # a creator killed before linking the header
    with pytest.raises(DatasetError, match=r"dataset\.json not found"):
        load_dataset(out)
    summary = label_bags(bags[:1], out, PROFILE, workers=1, progress=False)
    assert len(summary["labelled"]) == 1 and len(load_dataset(out)) == summary["frames"]


# --- format 1 ---------------------------------------------------------------------------------------------

def write_format_1(path: Path, ds: Dataset, start_shift: int = 0) -> None:
    """The flat layout of format 1 (manifest.json + one file per array), as ros_ssl 0.x wrote it."""
    path.mkdir()
    arrays = {"frames": np.asarray(ds.frames), "labels": ds.labels, "mask": ds.mask.view(np.uint8),
              "truth": ds.truth, "stamps": ds.stamps, "poses": ds.poses, "recording": ds.recording}
    for name, a in arrays.items():
        (path / f"{name}.bin").write_bytes(np.ascontiguousarray(a).tobytes())
    recordings = [dict(r) for r in ds.recordings]
    recordings[-1]["start"] += start_shift
    manifest = {"format": "ros_ssl.dataset/1", "geometry": ds.geometry.to_dict(), "image": list(ds.image_hw),
                "count": len(ds), "recordings": recordings, "profile": ds.header.profile}
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_format_1_reads_refuses_appends_and_converts(tmp_path: Path, bags: list[Path], clean: Path) -> None:
    ref = load_dataset(clean)
    old = tmp_path / "old"
    write_format_1(old, ref)
    assert_same(load_dataset(old), ref)
    with pytest.raises(DatasetError, match=rf"dataset {old} is in format 1, which is read-only; convert it "
                                           rf"with 'ros-ssl dataset convert {old} NEW'"):
        label_bags(bags[:1], old, PROFILE, progress=False)
    res = invoke("dataset", "convert", old, tmp_path / "new")
    assert res.exit_code == 0 and "6 recordings converted" in res.output, res.output
    assert_same(load_dataset(tmp_path / "new"), ref)
    res = invoke("dataset", "convert", old, tmp_path / "new")  # again (as after an interruption): continues
    assert res.exit_code == 0 and "0 recordings converted" in res.output
    assert invoke("dataset", "verify", tmp_path / "new").exit_code == 0


def test_format_1_manifest_with_a_start_out_of_range_is_a_one_line_error(tmp_path: Path, clean: Path) -> None:
    write_format_1(tmp_path / "old", load_dataset(clean), start_shift=10_000)
    with pytest.raises(DatasetError, match=r"manifest.json lists recording .* start=\d+ .* the manifest is "
                                           r"damaged$") as err:
        load_dataset(tmp_path / "old")
    assert "\n" not in str(err.value)


def test_dataset_subcommands_document_their_options() -> None:
    _register()
    for name, options in {"verify": {"dataset"}, "repair": {"dataset", "--relabel", "--config"},
                          "convert": {"old", "new"}}.items():
        res = CliRunner().invoke(app, ["dataset", name, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        assert all(o.upper() in res.output or o in res.output for o in options), (name, res.output)
