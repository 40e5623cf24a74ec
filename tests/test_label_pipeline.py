"""Bags -> dataset through ``ros-ssl label``, appending, bad frames, scoring, and simulator ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.config import load_profile
from ros_ssl.config.geometry import GeometryKind, LabelGeometry
from ros_ssl.config.profile import profile_from_dict
from ros_ssl.data import load_dataset
from ros_ssl.label import bag_id, label_bag, label_bags, score_labels
from ros_ssl.label.report import format_table, plot_report

MS = 1_000_000
T0 = 1_700_000_000_000_000_000
PROFILE = load_profile("sim")


def write_bag(path: Path, wall: float = 0.4025, seconds: float = 3.0) -> Path:
    """Straight drive at 0.1 m/s towards a wall; camera starts 0.5 s before odometry; one corrupt image."""
    odo_start = T0 + 500 * MS
    with BagWriter(path) as w:
        for k in range(int(seconds * 50) + 1):
            t = odo_start + k * 20 * MS
            x = 0.1 * k * 0.02
            w.write("/odom", t, M.odometry_msg(t, "odom", "base_link", x, 0.0, 0.0, v=0.1))
            if k % 2 == 0:  # 25 Hz proximity, one topic per sensor
                for s in PROFILE.proximity.sensors:
                    gap = (wall - x - s.x) / np.cos(s.yaw)
                    value = gap if gap < 0.12 else np.inf
                    w.write(s.topic, t, M.range_msg(t, "proximity_" + s.name, value, 0.12))
        for k in range(int((seconds + 0.5) * 10)):
            t = T0 + k * 100 * MS
            rgb = np.full((48, 64, 3), (20 * k) % 256, np.uint8)
            msg = M.compressed_msg(t, "camera_link", rgb)
            if k == 12:
                msg = M.CompressedImage(header=M.header(t, "camera_link"), format="jpeg",
                                        data=np.frombuffer(b"not a jpeg", np.uint8))
            w.write(PROFILE.camera.topic, t, msg)
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ros_ssl", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def test_label_cli_writes_a_dataset_and_appends_new_bags_only(tmp_path):
    a = write_bag(tmp_path / "a")
    out = tmp_path / "ds"
    res = cli("label", str(a), "--out", str(out), "--config", "sim", "--report", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "before_first_pose 5" in res.stdout and "undecodable 1" in res.stdout
    assert "no ground truth" in res.stdout
    ds = load_dataset(out)
    n = len(ds)
    assert n == 35 - 5 - 1  # 35 frames; 5 before odometry starts; 1 corrupt
    assert ds.frames.shape == (n, 64, 80, 3) and ds.frames.dtype == np.uint8
    assert ds.labels.shape == ds.mask.shape == ds.truth.shape == (n, 5, 31)
    assert ds.sensors == PROFILE.sensor_names and np.allclose(ds.distances, np.arange(31) * 0.01)
    assert (ds.truth == 255).all() and not ds.has_truth
    assert np.all(np.diff(ds.stamps) > 0) and ds.stamps[0] == pytest.approx((T0 + 500 * MS) / 1e9)
    rec = ds.recordings[0]
    assert rec["id"] == bag_id(a) and rec["group"] == rec["id"] and rec["count"] == n
    assert rec["report"]["frames_skipped"]["before_first_pose"] == 5
    # Labels of the centre sensor against the wall, away from the 1 cm band around the threshold.
    x_f = ds.poses[:, 0]
    gap = 0.4025 - (x_f[:, None] + ds.distances[None, :] + 0.082)
    known = ds.mask[:, 2, :]
    clear = known & (np.abs(gap - 0.10) > 0.005)
    assert known[0].all() and clear.sum() > 100
    np.testing.assert_array_equal(ds.labels[:, 2, :][clear], (gap < 0.10)[clear])
    assert (out / "label_report.json").exists() and (out / "label_report.png").stat().st_size > 1000

    # Appending: two new bags in parallel, the first one skipped by id.
    b, c = write_bag(tmp_path / "b", wall=0.35), write_bag(tmp_path / "c", wall=0.30)
    summary = label_bags([a, b, c], out, PROFILE, workers=2, progress=False)
    assert summary["skipped_existing"] == [str(a)] and len(summary["labelled"]) == 2 and not summary["failed"]
    ds2 = load_dataset(out)
    assert len(ds2.recordings) == 3 and len(ds2) == 3 * n
    np.testing.assert_array_equal(ds2.frames[:n], ds.frames)
    assert {r["id"] for r in ds2.recordings[1:]} == {bag_id(b), bag_id(c)}


def test_failed_bag_is_reported_and_the_others_still_go_in(tmp_path):
    good = write_bag(tmp_path / "good")
    missing = tmp_path / "missing"
    summary = label_bags([missing, good], tmp_path / "ds", PROFILE, workers=1, progress=False)
    assert [f["bag"] for f in summary["failed"]] == [str(missing)]
    assert "not found" in summary["failed"][0]["error"]
    assert len(load_dataset(tmp_path / "ds").recordings) == 1
    res = cli("label", str(missing), "--out", str(tmp_path / "ds"), "--no-progress")
    assert res.returncode == 1 and "FAILED" in res.stderr


def test_grid_geometry_dataset(tmp_path):
    data = PROFILE.to_dict()
    data["labels"]["geometry"] = "grid"
    prof = profile_from_dict(data)
    arrays, meta = label_bag(write_bag(tmp_path / "a"), prof)
    n = meta["frames"]
    assert arrays["labels"].shape == arrays["mask"].shape == (n, 16, 16)
    assert arrays["mask"].any() and arrays["labels"][arrays["mask"].astype(bool)].any()
    summary = label_bags([tmp_path / "a"], tmp_path / "ds", prof, progress=False)
    ds = load_dataset(tmp_path / "ds")
    assert ds.geometry.kind is GeometryKind.GRID and ds.geometry == prof.label_geometry()
    assert ds.profile == prof and summary["frames"] == n


def test_scores_are_exact_on_hand_made_labels(tmp_path):
    geometry = LabelGeometry.sensor_distance(["a"], [0.0, 0.1])
    labels = np.array([[[1, 0]], [[0, 1]], [[1, 1]], [[0, 0]]], np.uint8)
    mask = np.array([[[1, 1]], [[1, 0]], [[1, 1]], [[0, 0]]], bool)
    truth = np.array([[[1, 1]], [[1, 0]], [[0, 1]], [[0, 0]]], np.uint8)
    r = score_labels(labels, mask, truth, geometry)
    assert r["coverage"] == [0.75, 0.5]
    assert r["accuracy"] == [1 / 3, 0.5]
    assert r["fpr"] == [1.0, None] and r["fnr"] == [0.5, 0.5]
    assert r["overall"]["accuracy"] == pytest.approx(2 / 5) and r["overall"]["scored"] == 5
    assert "all" in format_table(r)
    json.dumps(r)
    assert plot_report(r, tmp_path / "r.png").stat().st_size > 1000


def test_simulated_bag_pseudo_labels_match_ground_truth(tmp_path):
    pytest.importorskip("pybullet")
    from ros_ssl.sim.record import simulate

    data = PROFILE.to_dict()
    data["camera"].update(width=80, height=64)  # small renders keep the test fast
    prof = profile_from_dict(data)
    simulate(tmp_path / "sim", 20.0, 2, prof, progress=False)  # seed 2 meets obstacles within 20 s
    arrays, meta = label_bag(tmp_path / "sim", prof)
    assert meta["group"] == "world-2" and meta["report"]["frames_with_truth"] == meta["frames"] == 300
    known = arrays["mask"].astype(bool)
    assert known.mean() > 0.3
    report = score_labels(arrays["labels"], known, arrays["truth"], prof.label_geometry())
    assert report["overall"]["obstacle_fraction"] > 0.005  # not a trivially all-free recording
    assert report["overall"]["accuracy"] >= 0.97


def test_bad_world_description_is_a_one_line_error_and_does_not_stop_other_bags(tmp_path):
    good = write_bag(tmp_path / "good")
    bad = tmp_path / "bad"
    with BagWriter(bad) as w:
        w.write("/sim/world", T0, M.string_msg('{"seed": 3, "obstacles": ['))  # truncated JSON
        for k in range(3):
            t = T0 + k * 20 * MS
            w.write("/odom", t, M.odometry_msg(t, "odom", "base_link", 0.0, 0.0, 0.0))
            w.write(PROFILE.camera.topic, t,
                    M.compressed_msg(t, "camera_link", np.zeros((8, 8, 3), np.uint8)))
            for s in PROFILE.proximity.sensors:
                w.write(s.topic, t, M.range_msg(t, "p", np.inf, 0.12))
    summary = label_bags([bad, good], tmp_path / "ds", PROFILE, workers=2, progress=False)
    (failed,) = summary["failed"]
    assert failed["bag"] == str(bad) and "/sim/world is not valid JSON" in failed["error"]
    assert len(load_dataset(tmp_path / "ds").recordings) == 1
