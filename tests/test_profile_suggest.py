"""`ros-ssl profile suggest` / `profile check` / `label --dry-run`: a profile from the bags, checked.

Simulated robots of three layouts (sensor count, range, Range vs LaserScan, stream rates) are recorded
with a hand-written profile; the suggested profile must label at least 95 % of what the hand-written
one labels, on the cells both define, at the same accuracy against the simulator's truth.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from ros_ssl.bag.streams import read_streams
from ros_ssl.cli.main import _register, app
from ros_ssl.config import load_profile
from ros_ssl.config.profile import RobotProfile
from ros_ssl.label.checks import run_checks
from ros_ssl.label.dryrun import DRYRUN_PNG, DRYRUN_TXT, DryRun, dry_run, with_labels
from ros_ssl.label.mounts import urdf_tree
from ros_ssl.label.suggest import FILL_IN, suggest_profile, write_profile

PROFILE_OPTIONS = {"suggest": {"bags", "--out", "--from-urdf", "--sensors", "--name"},
                   "check": {"bags", "--config", "--out"}}


@pytest.fixture(autouse=True)
def _commands() -> None:
    _register()  # the command modules add their commands to ``app``


def _small(profile: RobotProfile) -> RobotProfile:
    return dataclasses.replace(profile, camera=dataclasses.replace(profile.camera, width=80, height=64))


def _layouts() -> dict[str, RobotProfile]:
    """Hand-written profiles of three robots, label limits tuned by hand to their rates."""
    from ros_ssl.sim.layouts import layout_profile

    base = _small(load_profile("sim"))
    return {
        "thymio": layout_profile(base),
        "three_sonars_5hz_odom": with_labels(layout_profile(
            base, sensors=3, max_range=0.25, camera_hz=10, proximity_hz=10, odometry_hz=5),
            max_odom_gap_s=0.6),
        "scan7_2hz_odom": with_labels(layout_profile(
            base, sensors=7, max_range=0.4, scan=True, camera_hz=6, proximity_hz=5, odometry_hz=2),
            max_odom_gap_s=1.5, tol_x=0.015, tol_y=0.015),
    }


def _cells(run: DryRun) -> dict[tuple[Any, float], tuple[int, int, int]]:
    """(sensor topic or beam, distance) -> known, scored, correct; so two profiles compare cell by cell."""
    out = {}
    for i, s in enumerate(run.profile.proximity.sensors):
        for j, d in enumerate(run.profile.labels.distances()):
            out[(s.topic or s.beam, round(d, 3))] = (int(run.known[i, j]), int(run.scored[i, j]),
                                                     int(run.correct[i, j]))
    return out


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, RobotProfile]]:
    pytest.importorskip("pybullet")
    from ros_ssl.sim.record import simulate

    root = tmp_path_factory.mktemp("layouts")
    out = {}
    for name, profile in _layouts().items():
        simulate(root / name, 30.0, 2, profile, progress=False)  # seed 2 meets obstacles early
        out[name] = (root / name, profile)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["thymio", "three_sonars_5hz_odom", "scan7_2hz_odom"])
def test_suggested_profile_labels_as_much_as_the_hand_written_one(bags: Any, layout: str,
                                                                  tmp_path: Path) -> None:
    bag, hand = bags[layout]
    sug = suggest_profile([bag])
    text = (tmp_path / "robot.yaml")
    suggested = write_profile(sug, text)  # read back through the schema: valid
    yaml_text = text.read_text()
    assert "# tol_x " in yaml_text and "# window_s " in yaml_text and "# max_odom_gap_s " in yaml_text
    assert suggested.proximity.source == hand.proximity.source
    assert len(suggested.proximity.sensors) == len(hand.proximity.sensors)
    assert suggested.proximity.max_range == pytest.approx(hand.proximity.max_range, abs=0.011)
    for mine, theirs in zip(suggested.proximity.sensors, hand.proximity.sensors, strict=True):
        assert (mine.topic, mine.beam) == (theirs.topic, theirs.beam)  # left to right, same order
        assert mine.yaw == pytest.approx(theirs.yaw, abs=1e-3)  # from /tf_static
        assert math.hypot(mine.x - theirs.x, mine.y - theirs.y) < 1e-3
    assert suggested.odometry.rate_hz == pytest.approx(hand.odometry.rate_hz, rel=0.01)
    assert suggested.labels.max_odom_gap_s > 1 / hand.odometry.rate_hz
    h, s = _cells(dry_run([bag], hand, relax=False)), _cells(dry_run([bag], suggested, relax=False))
    common = sorted(set(h) & set(s))
    assert len(common) >= 0.8 * len(h)  # the suggested distances cover most of the hand-written range
    known_h, known_s = (sum(c[k][0] for k in common) for c in (h, s))
    acc_h, acc_s = (sum(c[k][2] for k in common) / sum(c[k][1] for k in common) for c in (h, s))
    assert known_s >= 0.95 * known_h, (known_s, known_h)
    assert acc_s >= acc_h - 0.005, (acc_s, acc_h)


@pytest.mark.slow
def test_dry_run_table_and_plot_and_checks(bags: Any, tmp_path: Path) -> None:
    bag, hand = bags["thymio"]
    out = tmp_path / "dry"
    result = CliRunner().invoke(app, ["label", str(bag), "--out", str(out), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert not (out / "manifest.json").exists()  # no dataset written
    table = (out / DRYRUN_TXT).read_text()
    assert "coverage % " in table and "labels.window_s" in table
    assert "accuracy against simulator truth" in table
    assert (out / DRYRUN_PNG).stat().st_size > 1000
    # A tight window costs labels, and the dry run says so first.
    tight = dry_run([bag], with_labels(hand, window_s=0.5))
    assert max(tight.costs, key=lambda k: tight.costs[k][2]) == "window_s"
    # Checks: the right poses pass; a sensor declared facing backwards is caught; a late clock is measured.
    streams = read_streams(bag, hand)
    report = run_checks(streams, hand)
    assert not report.warnings, report.format()
    assert report.time_offset_s is not None and abs(report.time_offset_s) < 0.1
    sensors = list(hand.proximity.sensors)
    sensors[2] = dataclasses.replace(sensors[2], x=-0.08, yaw=3.1)
    wrong = dataclasses.replace(hand, proximity=dataclasses.replace(hand.proximity, sensors=tuple(sensors)))
    assert any("sensor center:" in w for w in run_checks(streams, wrong, camera=False).warnings)
    shift = 300_000_000
    late = dataclasses.replace(streams, odom_ns=streams.odom_ns + shift,
                               range_ns=[t + shift for t in streams.range_ns])
    offset = run_checks(late, hand).time_offset_s
    assert offset is not None and offset == pytest.approx(-0.3, abs=0.07)


@pytest.mark.slow
def test_profile_cli_suggest_and_check(bags: Any, tmp_path: Path) -> None:
    bag, _ = bags["three_sonars_5hz_odom"]
    runner = CliRunner()
    res = runner.invoke(app, ["profile", "suggest", str(bag), "--out", str(tmp_path / "r.yaml")])
    assert res.exit_code == 0, res.output
    assert "proximity: 3 sensor(s)" in res.output and "wrote " in res.output
    res = runner.invoke(app, ["profile", "check", str(bag), "--config", str(tmp_path / "r.yaml"),
                              "--out", str(tmp_path / "chk")])
    assert res.exit_code == 0, res.output
    assert "camera-odometry offset" in res.output and (tmp_path / "chk" / DRYRUN_PNG).exists()


def test_profile_subcommands_document_their_options() -> None:
    group = typer.main.get_group(app).commands["profile"]
    for name, known in PROFILE_OPTIONS.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        declared = {n for p in command.params for n in (*p.opts, *p.secondary_opts)}
        assert known <= declared, (name, known - declared)
        res = CliRunner().invoke(app, ["profile", name, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0 and all(o in res.output for o in known if o.startswith("--"))


def test_urdf_joints_give_sensor_poses(tmp_path: Path) -> None:
    urdf = tmp_path / "robot.urdf"
    urdf.write_text("""<robot name="r">
      <link name="base_link"/><link name="body"/><link name="sonar_left"/><link name="cam"/>
      <joint name="j0" type="fixed"><parent link="base_link"/><child link="body"/>
        <origin xyz="0.1 0 0" rpy="0 0 0"/></joint>
      <joint name="j1" type="fixed"><parent link="body"/><child link="sonar_left"/>
        <origin xyz="0 0.05 0.02" rpy="0 0 0.5"/></joint>
      <joint name="j2" type="fixed"><parent link="base_link"/><child link="cam"/>
        <origin xyz="0.05 0 0.3" rpy="0 0.4 0"/></joint>
    </robot>""")
    tree = urdf_tree(urdf)
    sonar = tree.mount("sonar_left", "base_link")
    assert sonar is not None
    assert np.allclose(sonar.xyz, (0.1, 0.05, 0.02)) and sonar.planar_yaw() == pytest.approx(0.5)
    cam = tree.mount("cam", "base_link")
    assert cam is not None and cam.pitch_down() == pytest.approx(0.4)


@pytest.mark.slow
def test_real_turtlebot2_scan_and_tf_without_camera(realdata: Path, tmp_path: Path) -> None:
    """A real TurtleBot 2 (LaserScan + /tf, no camera): the profile is written, the camera marked FILL IN."""
    sug = suggest_profile([realdata / "cs412t1d4_turtlebot2_real_scan_tf.bag"])
    text = "\n".join(sug.findings)
    assert "camera:    NONE" in text and "odometry:  /tf (odom -> base_footprint)" in text
    profile = write_profile(sug, tmp_path / "tb2.yaml")
    yaml_text = (tmp_path / "tb2.yaml").read_text()
    assert f"{FILL_IN}: no camera" in yaml_text and f"{FILL_IN}: pose of camera_depth_frame" in yaml_text
    assert profile.proximity.source == "laser_scan" and profile.proximity.scan_topic == "/scan"
    assert profile.odometry.source == "tf" and profile.proximity.obstacle_threshold <= 0.5
    assert profile.labels.max_odom_gap_s >= 0.5 and profile.odometry.rate_hz > 5
    run = dry_run([realdata / "cs412t1d4_turtlebot2_real_scan_tf.bag"], profile)
    assert run.synthetic_frames and run.known.sum() > 0


def test_real_bags_without_proximity_or_odometry_say_what_they_found(realdata: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["profile", "suggest", str(realdata / "evo_nav2_turtlebot4_sim_odom.mcap"),
                              "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code != 0 and not (tmp_path / "x.yaml").exists()
    assert "odometry:  /odom (odom -> base_link)" in res.output and "proximity: NONE" in res.output
    sug = suggest_profile([realdata / "embag_test_odom_scan_cloud.bag"])
    assert sug.profile is None and any("ground truth" in f for f in sug.findings)
