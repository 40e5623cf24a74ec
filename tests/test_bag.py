import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bagtools import T0, decode_rosbag2, write_robot_bag

from ros_ssl.bag import BagReader, BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.bag.inspect import inspect_bag
from ros_ssl.bag.streams import iter_frames, read_streams
from ros_ssl.config import load_profile
from ros_ssl.errors import BagError


def _mcap_file(bag: Path) -> Path:
    (f,) = bag.glob("*.mcap")
    return f


def test_streams_from_range_topics_and_odometry(tmp_path):
    prof = load_profile("thymio")
    bag = write_robot_bag(tmp_path / "b", prof)
    s = read_streams(bag, prof)
    assert s.camera_ns.size == 20 and s.odom.shape == (100, 3)
    assert s.odom[10] == pytest.approx([0.02, 0.0, 0.0])
    assert len(s.ranges) == 5 and all(r.size == 50 for r in s.ranges)
    center = s.ranges[2]
    assert center[0] == math.inf and np.isfinite(center[-1])  # wall comes into range as the robot closes in
    assert s.world is None and s.truth.size == 0


def test_streams_from_laser_scan_and_tf(tmp_path):
    prof = load_profile("thymio_scan")
    bag = write_robot_bag(tmp_path / "b", prof, tf_odometry=True)
    s = read_streams(bag, prof)
    assert s.odom.shape == (100, 3) and s.odom[-1][0] == pytest.approx(0.198)
    assert [r.size for r in s.ranges] == [50] * 5


def test_raw_camera_topic_is_accepted_for_compressed_profile(tmp_path):
    prof = load_profile("thymio")
    bag = write_robot_bag(tmp_path / "b", prof, raw_camera=True)
    s = read_streams(bag, prof)
    assert s.camera_topic == "/camera/image_raw"
    frames = list(iter_frames(bag, s.camera_topic))
    assert len(frames) == 20 and frames[0][2].shape == (24, 32, 3)
    thinned = list(iter_frames(bag, s.camera_topic, every=3))  # only these are decoded
    assert [f.number for f in thinned] == [0, 3, 6, 9, 12, 15, 18]
    assert all(np.array_equal(f.rgb, frames[f.number].rgb) and f.stamp_ns == frames[f.number].stamp_ns
               for f in thinned)


def test_independent_reader_agrees(tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    prof = load_profile("thymio")
    bag = write_robot_bag(tmp_path / "b", prof)
    counts: dict[str, int] = {}
    with open(_mcap_file(bag), "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, channel, message, decoded in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic == "/odom":
                assert decoded.header.frame_id == "odom"
                assert message.log_time >= T0
    assert counts["/odom"] == 100 and counts["/camera/image_raw/compressed"] == 20
    assert counts["/proximity/center"] == 50
    # Five Range topics share one schema; every message decodes by its stored ROS 2 definition.
    assert decode_rosbag2(bag) == counts


def test_rosbag2_directory_named_dot_bag(tmp_path):
    prof = load_profile("thymio")
    bag = write_robot_bag(tmp_path / "run.bag", prof)
    assert read_streams(bag, prof).odom.shape == (100, 3)


def test_missing_topic_is_named(tmp_path):
    prof = load_profile("thymio")
    bag = tmp_path / "b"
    with BagWriter(bag) as w:
        w.write("/odom", T0, M.odometry_msg(T0, "odom", "base_link", 0, 0, 0))
        w.write(prof.camera.topic, T0, M.compressed_msg(T0, "cam", np.zeros((8, 8, 3), np.uint8)))
    with pytest.raises(BagError, match=r"lacks configured topic\(s\) \['/proximity/center'"):
        read_streams(bag, prof)
    with BagWriter(tmp_path / "c") as w:
        w.write("/odom", T0, M.odometry_msg(T0, "odom", "base_link", 0, 0, 0))
    with pytest.raises(BagError, match="has no camera topic /camera/image_raw/compressed"):
        read_streams(tmp_path / "c", prof)


def test_writer_refuses_to_overwrite(tmp_path):
    (tmp_path / "b").mkdir()
    with pytest.raises(BagError, match="already exists"):
        BagWriter(tmp_path / "b")


def test_missing_empty_truncated_and_garbage_bags(tmp_path):
    with pytest.raises(BagError, match="not found"), BagReader(tmp_path / "none.mcap"):
        pass
    (tmp_path / "empty.mcap").write_bytes(b"")
    with pytest.raises(BagError, match="is empty"), BagReader(tmp_path / "empty.mcap"):
        pass
    (tmp_path / "junk.bag").write_bytes(b"#ROSBAG V2.0\n" + b"\x00" * 100)
    with pytest.raises(BagError, match=r"junk\.bag"):
        inspect_bag(tmp_path / "junk.bag")
    bag = write_robot_bag(tmp_path / "b", load_profile("thymio"))
    data = _mcap_file(bag).read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match=r"cut.mcap .*(corrupt|truncated)"):
        inspect_bag(cut)


def test_inspect_reports_rates_gaps_and_backwards_time(tmp_path):
    bag = tmp_path / "b"
    stamps = [0, 100, 200, 150, 300, 1300]  # ms: one step back, one 1 s gap
    with BagWriter(bag) as w:
        for i, ms in enumerate(stamps):
            w.write("/odom", T0 + i * 100_000_000,
                    M.odometry_msg(T0 + ms * 1_000_000, "odom", "base_link", 0, 0, 0))
            w.write("/proximity/center", T0 + i * 100_000_000,
                    M.range_msg(T0, "p", math.nan if i == 2 else 0.05, 0.12))
    s = inspect_bag(bag, load_profile("thymio"))
    odom = {t.name: t for t in s.topics}["/odom"]
    assert odom.count == 6 and odom.backwards == 1 and odom.rate_hz == pytest.approx(10.0)
    assert s.required["/odom"] and not s.required["/camera/image_raw/compressed"]
    assert "MISSING" in s.format()


@pytest.mark.slow
def test_cli_inspect_exit_codes(tmp_path):
    exe = [sys.executable, "-m", "ros_ssl"]
    ok = subprocess.run([*exe, "inspect", str(write_robot_bag(tmp_path / "b", load_profile("thymio"))),
                         "--config", "thymio", "--strict"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "[ok] /proximity/right" in ok.stdout
    bad = subprocess.run([*exe, "inspect", str(tmp_path / "nope")], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("ros-ssl: error: bag")
    assert "Traceback" not in bad.stderr


def test_realdata_ros2_mcap_odometry(realdata):
    s = inspect_bag(realdata / "evo_nav2_turtlebot4_sim_odom.mcap")
    topics = {t.name: t for t in s.topics}
    assert topics["/odom"].count == 2639 and topics["/tf"].count == 5422
    assert s.duration_s == pytest.approx(97.36, abs=0.05)
    n = 0
    from ros_ssl.msgs.poses import odometry_pose

    with BagReader(realdata / "evo_nav2_turtlebot4_sim_odom.mcap") as bag:
        for m in bag.messages(["/odom"]):
            x, _y, yaw = odometry_pose(m.msg)
            assert math.isfinite(x) and -math.pi <= yaw <= math.pi
            n += 1
    assert n == 2639


def test_realdata_ros1_scan_and_tf(realdata, tmp_path):
    from ros_ssl.config import profile_from_dict

    s = inspect_bag(realdata / "cs412t1d4_turtlebot2_real_scan_tf.bag")
    assert {t.name for t in s.topics} == {"/scan", "/tf"}
    data = load_profile("thymio_scan").to_dict()
    data["proximity"]["scan_topic"] = "/scan"
    data["odometry"]["base_frame"] = "base_footprint"
    prof = profile_from_dict(data)
    path = realdata / "cs412t1d4_turtlebot2_real_scan_tf.bag"
    with pytest.raises(BagError, match="no camera topic"):
        read_streams(path, prof)
    st = read_streams(path, prof, require_camera=False)
    assert st.camera_ns.size == 0
    assert st.odom.shape[0] > 300 and np.isfinite(st.odom).all()
    assert np.all(np.abs(st.odom[:, 2]) <= math.pi)
    assert [r.size for r in st.ranges] == [536] * 5  # 5 beams of the 640-beam scan as "sensors"
    # The robot moved: a real trajectory, not a constant.
    assert np.ptp(st.odom[:, 0]) + np.ptp(st.odom[:, 1]) > 0.05


def test_realdata_ros1_ground_truth_odometry(realdata):
    s = inspect_bag(realdata / "embag_test_odom_scan_cloud.bag")
    assert {t.name: t.count for t in s.topics} == {"/base_pose_ground_truth": 5, "/base_scan": 5,
                                                     "/luminar_pointcloud": 5}


def test_tf_odometry_through_static_edges_that_arrive_late(tmp_path):
    """odom -> base_footprint on /tf from the start; base_footprint -> base_link on /tf_static only later."""
    prof = load_profile("thymio_scan")
    bag = tmp_path / "b"
    with BagWriter(bag) as w:
        for k in range(10):
            t = T0 + k * 20_000_000
            w.write("/tf", t, M.tf_msg(t, [("odom", "base_footprint", 0.01 * k, 0.0, 0.0)]))
            if k == 5:
                w.write("/tf_static", t,
                        M.tf_msg(t, [("base_footprint", "base_link", 0.1, 0.0, math.pi / 2)]))
            w.write(prof.proximity.scan_topic, t, M.scan_msg(t, "p", [math.inf] * 5, -0.7, 0.35, 0.12))
    s = read_streams(bag, prof, require_camera=False)
    assert s.odom.shape == (10, 3)  # the five transforms before /tf_static are not lost
    assert np.allclose(s.odom[np.argsort(s.odom_ns)][:, 0], 0.1 + 0.01 * np.arange(10))
    assert np.allclose(s.odom[:, 2], math.pi / 2)
