"""Simulator: worlds, the robot, the driving policy, and bags checked with an independent MCAP reader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pybullet")

from bagtools import decode_rosbag2
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from ros_ssl.bag.streams import TRUTH_TOPIC, WORLD_TOPIC, read_streams
from ros_ssl.config import load_profile
from ros_ssl.config.profile import profile_from_dict
from ros_ssl.errors import BagError, RosSslError
from ros_ssl.msgs.poses import wrap_angle
from ros_ssl.sim.geometry import clearance, raycast, shapes_of
from ros_ssl.sim.policy import Mode, WanderPolicy
from ros_ssl.sim.record import EPOCH_NS, simulate
from ros_ssl.sim.robot import DriveParams, SimRobot
from ros_ssl.sim.scene import Scene
from ros_ssl.sim.world import PASSAGE, generate_world

PROFILE = load_profile("sim")
SECONDS = 4.0
SEED = 3


def _read_mcap(bag: Path) -> dict[str, list[tuple[int, str, object]]]:
    """topic -> [(log time ns, schema name, decoded message)] via mcap + mcap-ros2-support only."""
    (path,) = bag.glob("*.mcap")
    out: dict[str, list[tuple[int, str, object]]] = {}
    with open(path, "rb") as f:
        for schema, channel, message, decoded in make_reader(f, decoder_factories=[DecoderFactory()]) \
                .iter_decoded_messages():
            out.setdefault(channel.topic, []).append((message.log_time, schema.name, decoded))
    return out


def _raw_messages(bag: Path) -> list[tuple[str, int, bytes]]:
    (path,) = bag.glob("*.mcap")
    with open(path, "rb") as f:
        return [(c.topic, m.log_time, m.data)
                for _, c, m in make_reader(f).iter_messages(log_time_order=False)]


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "bag"
    stats = simulate(out, SECONDS, SEED, PROFILE, progress=False, workers=1)
    assert stats.path == out and stats.distance_m > 0.1
    return out


# -- worlds ---------------------------------------------------------------------------------------

def test_world_is_reproducible_json_and_varied() -> None:
    a, b, c = generate_world(11), generate_world(11), generate_world(12)
    assert json.loads(json.dumps(a)) == a == b
    assert a["obstacles"] != c["obstacles"] and a["floor"] != c["floor"]
    kinds = {ob["kind"] for s in range(10) for ob in generate_world(s)["obstacles"]}
    assert kinds == {"polygon", "circle"}
    sides = {len(ob["points"]) for s in range(10) for ob in generate_world(s)["obstacles"]
             if ob["kind"] == "polygon"}
    assert {3, 4, 5, 6} <= sides


def test_world_start_is_free_and_obstacles_leave_passages() -> None:
    for seed in range(10):
        world = generate_world(seed)
        shapes = shapes_of(world)  # validates convex CCW polygons
        assert shapes.n_polygons >= 4
        x, y, _ = world["start_pose"]
        assert clearance(world, np.array([[x, y]]))[0] > DriveParams().footprint_radius + 0.1
        inner = world["obstacles"][4:]  # after the four walls
        for i, ob in enumerate(inner):
            others = {"obstacles": inner[:i] + inner[i + 1:] + world["obstacles"][:4]}
            pts = np.array(ob["points"]) if ob["kind"] == "polygon" else _circle_points(ob)
            assert clearance(others, pts).min() >= PASSAGE - 1e-9


def _circle_points(ob: dict) -> np.ndarray:
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return np.array(ob["center"]) + ob["radius"] * np.stack([np.cos(ang), np.sin(ang)], axis=1)


# -- robot ----------------------------------------------------------------------------------------

WALL_WORLD = {
    "seed": 0, "bounds": [-1.0, -1.0, 1.0, 1.0], "start_pose": [0.0, 0.0, 0.0],
    "obstacles": [{"kind": "polygon", "points": [[0.5, -1.0], [0.55, -1.0], [0.55, 1.0], [0.5, 1.0]],
                   "height": 0.3, "rgba": [0.8, 0.2, 0.2, 1.0], "texture": "bricks"}],
    "floor": {"rgba": [0.5, 0.5, 0.5, 1.0], "texture": "checker", "scale": 0.2}, "light": {},
}


def test_robot_drives_straight_with_acceleration_limit() -> None:
    with SimRobot(WALL_WORLD, PROFILE, seed=1) as robot:
        for _ in range(50):
            robot.step(0.02, (0.1, 0.0))
        x, y, yaw = robot.true_pose
        # 0.1 m/s for 1 s minus the 0.1 s ramp at 1 m/s^2 (half of it lost): 0.095 m.
        assert x == pytest.approx(0.095, abs=1e-9) and y == 0.0 and yaw == 0.0
        assert robot.velocity == pytest.approx((0.1, 0.0))
        ox, oy, _ = robot.odometry
        assert ox == pytest.approx(0.095, abs=0.002) and (ox, oy) != (x, y)  # noisy, but close


def test_robot_stops_at_walls_and_sensors_read_them() -> None:
    centre = PROFILE.sensor_names.index("center")
    with SimRobot(WALL_WORLD, PROFILE, seed=2) as robot:
        assert np.all(np.isinf(robot.read_proximity()))  # wall 0.5 - 0.082 m away: beyond 0.12 m
        for _ in range(500):  # 10 s at full speed: would pass the wall without collisions
            robot.step(0.02, (0.14, 0.0))
        assert robot.bumped
        x = robot.true_pose[0]
        prm = robot.params
        contact = 0.5 - prm.footprint_x - prm.footprint_radius  # footprint touching the wall
        assert contact - 0.01 < x <= contact
        readings = np.array([robot.read_proximity() for _ in range(20)])
        expected = 0.5 - x - PROFILE.proximity.sensors[centre].x
        valid = readings[:, centre][np.isfinite(readings[:, centre])]
        assert len(valid) >= 18 and abs(np.median(valid) - expected) < 0.003  # Bullet's hull margin ~1 mm
        image = robot.render_camera()
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8 and image.std() > 5


def test_robot_closes_its_pybullet_client() -> None:
    import pybullet as p

    with SimRobot(WALL_WORLD, PROFILE) as robot:
        cid = robot.scene._cid
        assert p.getConnectionInfo(physicsClientId=cid)["isConnected"] == 1
    assert p.getConnectionInfo(physicsClientId=cid)["isConnected"] == 0


def test_pybullet_rays_agree_with_exact_geometry() -> None:
    world = generate_world(4)
    rng = np.random.default_rng(0)
    half = world["bounds"][2]
    origins = rng.uniform(-half, half, (400, 2))
    origins = origins[clearance(world, origins) > 0.01]
    angles = rng.uniform(-np.pi, np.pi, len(origins))
    reach = 0.5
    exact = raycast(world, origins, angles, reach)
    ends = origins + reach * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    z = np.full((len(origins), 1), 0.03)
    with Scene(world, PROFILE.camera) as scene:
        bullet = scene.ray_test(np.hstack([origins, z]), np.hstack([ends, z])) * reach
    assert np.isfinite(exact).sum() > 50
    assert (np.isfinite(bullet) == np.isfinite(exact)).mean() > 0.99  # grazing rays may differ
    hit = np.isfinite(exact) & np.isfinite(bullet)
    err = np.abs(bullet[hit] - exact[hit])  # Bullet's ~1 mm collision margin, more at grazing angles
    assert np.median(err) < 0.002 and np.percentile(err, 95) < 0.005


# -- policy ---------------------------------------------------------------------------------------

def test_policy_makes_straight_approaches_and_never_penetrates() -> None:
    world = generate_world(0)
    policy = WanderPolicy(PROFILE.proximity.obstacle_threshold, seed=0)
    poses, modes, near = [], [], 0
    with SimRobot(world, PROFILE, seed=0) as robot:
        prm = robot.params
        for k in range(30 * 50):  # 30 s, physics at 50 Hz, control at 25 Hz
            robot.step(0.02)
            if k % 2 == 0:
                readings = robot.read_proximity()
                near += bool(np.any(readings < PROFILE.proximity.obstacle_threshold))
                robot.step(0.0, policy.command(robot.time_s, readings, robot.odometry, robot.bumped))
                modes.append(policy.mode)
            poses.append(robot.true_pose)
    poses_a = np.array(poses)
    footprint = poses_a[:, :2] + prm.footprint_x * np.stack([np.cos(poses_a[:, 2]), np.sin(poses_a[:, 2])], 1)
    assert clearance(world, footprint).min() >= prm.footprint_radius
    assert near > 0 and set(Mode) == set(modes)
    step = np.hypot(*np.diff(poses_a[:, :2], axis=0).T)
    straight = (step > 1e-4) & (np.abs(np.diff(poses_a[:, 2])) < 1e-9)
    runs, run = [], 0.0
    for ok, d in zip(straight, step, strict=True):
        if ok:
            run += d
        elif run:
            runs, run = [*runs, run], 0.0
    assert sum(r >= 0.35 for r in [*runs, run]) >= 2  # straight approaches long enough to label 0.30 m


# -- bags -----------------------------------------------------------------------------------------

def test_bag_reads_back_with_independent_mcap_reader(bag: Path) -> None:
    msgs = _read_mcap(bag)
    cam = PROFILE.camera
    expected = {cam.topic: cam.rate_hz, "/odom": 50.0, "/tf": 50.0, TRUTH_TOPIC: 50.0,
                **{s.topic: PROFILE.proximity.rate_hz for s in PROFILE.proximity.sensors}}
    assert set(msgs) == set(expected) | {WORLD_TOPIC, "/tf_static"}
    for topic, rate in expected.items():
        assert len(msgs[topic]) == round(SECONDS * rate), topic
        stamps = np.array([_stamp(d) for _, _, d in msgs[topic]])
        assert stamps[0] == EPOCH_NS and np.all(np.diff(stamps) > 0), topic
        assert np.median(np.diff(stamps)) == pytest.approx(1e9 / rate, abs=1), topic
        assert [t for t, _, _ in msgs[topic]] == stamps.tolist()  # bag time = header stamp
    types = {topic: {s for _, s, _ in rows} for topic, rows in msgs.items()}
    assert types[cam.topic] == {"sensor_msgs/msg/CompressedImage"}
    assert types[TRUTH_TOPIC] == types["/odom"] == {"nav_msgs/msg/Odometry"}
    assert types[WORLD_TOPIC] == {"std_msgs/msg/String"}
    assert json.loads(msgs[WORLD_TOPIC][0][2].data) == generate_world(SEED)
    assert decode_rosbag2(bag) == {topic: len(rows) for topic, rows in msgs.items()}


def test_bag_frame_ids_and_values(bag: Path) -> None:
    msgs = _read_mcap(bag)
    odom = msgs["/odom"][0][2]
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
    truth = msgs[TRUTH_TOPIC][0][2]
    assert (truth.header.frame_id, truth.child_frame_id) == ("world", "base_link")
    start = generate_world(SEED)["start_pose"]
    assert truth.pose.pose.position.x == pytest.approx(start[0])
    tf = msgs["/tf"][-1][2].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("odom", "base_link")
    static = {t.child_frame_id for t in msgs["/tf_static"][0][2].transforms}
    assert static == {"camera_link"} | {f"proximity_{n}" for n in PROFILE.sensor_names}
    image = msgs[PROFILE.camera.topic][0][2]
    assert image.header.frame_id == "camera_link" and image.format == "jpeg"
    assert bytes(image.data[:2]) == b"\xff\xd8"  # a JPEG
    for s in PROFILE.proximity.sensors:
        rows = [d for _, _, d in msgs[s.topic]]
        assert {d.header.frame_id for d in rows} == {f"proximity_{s.name}"}
        values = np.array([d.range for d in rows])
        ok = np.isinf(values) | np.isnan(values) | ((values >= 0) & (values < PROFILE.proximity.max_range))
        assert ok.all() and np.all(values[np.isinf(values)] > 0)


def test_bag_odometry_drifts_but_stays_close(bag: Path) -> None:
    streams = read_streams(bag, PROFILE)
    assert len(streams.camera_ns) == round(SECONDS * PROFILE.camera.rate_hz)
    truth, odom = streams.truth, streams.odom
    np.testing.assert_array_equal(streams.truth_ns, streams.odom_ns)
    rel_truth = _relative(truth[0], truth)
    rel_odom = _relative(odom[0], odom)
    err = np.abs(rel_truth - rel_odom)
    assert err[-1, :2].max() > 1e-5  # it does drift
    assert err[:, :2].max() < 0.02 and err[:, 2].max() < 0.05


def _relative(origin: np.ndarray, poses: np.ndarray) -> np.ndarray:
    c, s = math.cos(origin[2]), math.sin(origin[2])
    dx, dy = poses[:, 0] - origin[0], poses[:, 1] - origin[1]
    return np.stack([c * dx + s * dy, -s * dx + c * dy, wrap_angle(poses[:, 2] - origin[2])], axis=1)


@pytest.mark.slow
def test_same_seed_same_bag_also_with_render_workers(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a", 1.5, 9, PROFILE, progress=False, workers=1).path
    b = simulate(tmp_path / "b", 1.5, 9, PROFILE, progress=False, workers=2).path
    c = simulate(tmp_path / "c", 1.5, 10, PROFILE, progress=False, workers=1).path
    assert _raw_messages(a) == _raw_messages(b)
    assert _raw_messages(a) != _raw_messages(c)


def test_laser_scan_and_raw_camera_profile(tmp_path: Path) -> None:
    data = load_profile("thymio_scan").to_dict()
    data["camera"].update(topic="/camera/image_raw", type="raw", encoding="bgr8")
    profile = profile_from_dict(data)
    simulate(tmp_path / "scan", 1.0, 2, profile, progress=False, workers=1)
    msgs = _read_mcap(tmp_path / "scan")
    scan = msgs["/proximity/scan"][0][2]
    assert len(scan.ranges) == 5
    assert (scan.angle_min, scan.angle_increment) == pytest.approx((-0.66, 0.33))
    image = msgs["/camera/image_raw"][0][2]
    assert (image.encoding, image.height, image.width) == ("bgr8", 240, 320)
    streams = read_streams(tmp_path / "scan", profile)  # odometry from /tf, proximity from scan beams
    assert len(streams.odom) == 50 and len(streams.ranges) == 5 and len(streams.ranges[0]) == 20


def test_bad_arguments_give_clear_errors(bag: Path) -> None:
    with pytest.raises(BagError, match="already exists"):
        simulate(bag, 1.0, 0, PROFILE, progress=False)
    with pytest.raises(RosSslError, match="duration"):
        simulate(bag.parent / "new", 0.0, 0, PROFILE, progress=False)


def _stamp(msg: object) -> int:
    holder = msg.transforms[0] if hasattr(msg, "transforms") else msg  # type: ignore[attr-defined]
    header = holder.header
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def test_cli_simulate_and_help(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import ros_ssl.cli.simulate_cmd  # noqa: F401  (registers the command)
    from ros_ssl.cli.main import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["simulate", "--help"]).output
    for option in ("--out", "--duration", "--seed", "--config", "--workers", "--progress"):
        assert option in help_text
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "b"), "--duration", "1", "--seed", "1",
                                 "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "15 frames" in result.output and (tmp_path / "b" / "metadata.yaml").exists()
    assert len(_read_mcap(tmp_path / "b")[PROFILE.camera.topic]) == 15  # one second at 15 frames/s
