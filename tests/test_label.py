"""Association on hand-made trajectories whose labels are known exactly, bad input, and the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_ssl.config import load_profile
from ros_ssl.config.profile import profile_from_dict
from ros_ssl.label import (
    MatchParams,
    Reason,
    associate,
    associate_naive,
    clean_trajectory,
    grid_labels,
    posed_readings,
)

MS = 1_000_000
T0 = 1_000_000_000_000  # 1000 s: stamps never start at zero in a real bag
DIST = np.round(np.arange(31) * 0.01, 6)
PARAMS = MatchParams(DIST, tol_x=0.01, tol_y=0.01, tol_theta=0.05, window_ns=20_000 * MS,
                     obstacle_threshold=0.10)


def ticks(seconds: float, period_ms: int) -> np.ndarray:
    return T0 + np.arange(round(seconds * 1000 / period_ms) + 1, dtype=np.int64) * period_ms * MS


def run(frame_ns, odom_ns, odom, range_ns, ranges, params=PARAMS):
    """Vectorised labels (and the frame poses); always checked against the naive reference too."""
    traj = clean_trajectory(odom_ns, odom, max_speed=2.0, max_gap_s=0.5)
    frames = traj.poses_at(frame_ns)
    out = associate(frame_ns, frames, traj, posed_readings(traj, range_ns, ranges), params)
    ref = associate_naive(frame_ns, traj, range_ns, ranges, params)
    np.testing.assert_array_equal(out.mask, ref.mask)
    np.testing.assert_array_equal(out.labels, ref.labels)
    return out, frames, traj


def straight(t_ns: np.ndarray, speed: float, x0: float = 0.0) -> np.ndarray:
    x = x0 + speed * (t_ns - T0) / 1e9
    return np.column_stack([x, np.zeros_like(x), np.zeros_like(x)])


def wall_reading(x: np.ndarray, wall: float, sensor_x: float = 0.0) -> np.ndarray:
    gap = wall - (x + sensor_x)
    return np.where(gap < 0.12, gap, np.inf)


def test_straight_approach_to_a_wall_gives_the_reading_at_exactly_d_ahead():
    odom_ns = ticks(4.0, 20)  # 50 Hz, 0.1 m/s: x from 0 to 0.4
    range_ns = ticks(4.0, 50)  # 20 Hz: a reading every 5 mm
    wall = 0.4025  # obstacle (< 0.10) once x > 0.3025; never exactly on a 5 mm step
    frame_ns = ticks(1.0, 100)  # x_f = 0 .. 0.1: every d up to 0.30 is driven through later
    odom = straight(odom_ns, 0.1)
    x_r = straight(range_ns, 0.1)[:, 0]
    out, frames, _ = run(frame_ns, odom_ns, odom, [range_ns], [wall_reading(x_r, wall)])
    assert frames.ok.all() and out.mask.all()
    x_f = frames.pose[:, 0]
    expected = (wall - (x_f[:, None] + DIST[None, :])) < 0.10
    np.testing.assert_array_equal(out.labels[:, 0, :], expected)
    assert out.labels.sum() > 0 and (out.labels == 0).sum() > 0


def test_the_closest_pose_wins_not_the_first_one_in_tolerance():
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    odom = straight(odom_ns, 0.1)
    # Readings tag their own position: reading j is at x = 5 mm * j; obstacle where j % 4 == 0.
    values = np.where(np.arange(len(range_ns)) % 4 == 0, 0.05, np.inf)
    out, _, _ = run(np.array([T0], np.int64), odom_ns, odom, [range_ns], [values])
    # d = k cm is exactly reading 2k: obstacle for even k. The first reading within tolerance,
    # 2k - 2 (d - 1 cm), would give the opposite label for every k > 0.
    assert out.mask[0, 0].all()
    np.testing.assert_array_equal(out.labels[0, 0], np.arange(len(DIST)) % 2 == 0)


def test_turning_in_place_labels_only_distances_within_tol_x_of_the_start():
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    yaw = 0.5 * (odom_ns - T0) / 1e9
    odom = np.column_stack([np.full_like(yaw, 0.2), np.full_like(yaw, 0.1), yaw])
    values = np.where(np.arange(len(range_ns)) == 20, 0.05, np.inf)  # obstacle seen only at t = 1.0 s
    frame_ns = np.array([T0 + 1000 * MS, T0 + 2000 * MS], np.int64)
    out, _, _ = run(frame_ns, odom_ns, odom, [range_ns], [values])
    known = PARAMS.tol_x >= DIST
    assert out.mask[:, 0, known].all() and not out.mask[:, 0, ~known].any()
    # Frame 0: its own reading (dtheta = 0) wins; frame 1 never sees the obstacle reading.
    np.testing.assert_array_equal(out.labels[:, 0, 0], [1, 0])


def test_lateral_offset_beyond_tol_y_is_unknown():
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    x = 0.1 * (odom_ns - T0) / 1e9
    odom = np.column_stack([x, 0.042 * x, np.zeros_like(x)])  # crabbing: dy = 0.042 dx, heading fixed
    values = np.where(np.arange(len(range_ns)) % 2 == 0, 0.05, np.inf)  # tags the chosen reading
    out, _, _ = run(np.array([T0], np.int64), odom_ns, odom, [range_ns], [values])
    # |dy| <= 1 cm only while dx <= 0.238 m: d up to 0.24 is reachable within tol_x, 0.25 is not.
    np.testing.assert_array_equal(out.mask[0, 0], DIST <= 0.24 + 1e-9)
    # d <= 0.23 uses the reading exactly at dx = d (even step); d = 0.24 the one at dx = 0.235 (odd).
    np.testing.assert_array_equal(out.labels[0, 0, :24], 1)
    assert out.labels[0, 0, 24] == 0


def test_reverse_driving_labels_only_the_frames_own_pose_until_it_drives_forward_again():
    odom_ns, range_ns = ticks(7.0, 20), ticks(7.0, 50)

    def x_at(t_ns):
        t = (t_ns - T0) / 1e9
        return np.where(t <= 2.0, -0.1 * t, -0.2 + 0.1 * (t - 2.0))  # back 0.2 m, then forward 0.5 m

    odom = np.column_stack([x_at(odom_ns), np.zeros(len(odom_ns)), np.zeros(len(odom_ns))])
    values = wall_reading(x_at(range_ns), wall=0.3025)
    frame = np.array([T0 + 500 * MS], np.int64)  # x = -0.05 while backing up
    back_o, back_r = odom_ns <= T0 + 2000 * MS, range_ns <= T0 + 2000 * MS
    out, _, _ = run(frame, odom_ns[back_o], odom[back_o], [range_ns[back_r]], [values[back_r]])
    # Backing up, nothing ahead of the frame is visited later: only d <= tol_x (the frame's own pose).
    np.testing.assert_array_equal(out.mask[0, 0], PARAMS.tol_x >= DIST)
    out, _, _ = run(frame, odom_ns, odom, [range_ns], [values])
    # Driving forward again passes every d ahead of it: labelled from that pass.
    assert out.mask[0, 0].all()
    np.testing.assert_array_equal(out.labels[0, 0], (0.3025 - (-0.05 + DIST)) < 0.10)


def test_odometry_reset_never_matches_poses_across_it():
    odom_ns, range_ns = ticks(6.0, 20), ticks(6.0, 50)
    t_o, t_r = (odom_ns - T0) / 1e9, (range_ns - T0) / 1e9
    # The robot keeps driving; at t = 3 s its odometry jumps back to the origin.
    x_o = np.where(t_o < 3.0, 0.1 * t_o, 0.1 * (t_o - 3.0))
    odom = np.column_stack([x_o, np.zeros_like(x_o), np.zeros_like(x_o)])
    values = np.where(t_r < 3.0, np.inf, 0.05)  # after the reset the robot is near a wall
    frame_ns = np.array([T0 + 2500 * MS, T0 + 2990 * MS, T0 + 3500 * MS], np.int64)
    out, frames, traj = run(frame_ns, odom_ns, odom, [range_ns], [values])
    assert traj.counts["odom_resets"] == 1 and traj.counts["odom_segments"] == 2
    # Frame at x = 0.25: poses up to x = 0.30 (t < 3 s) only; all free, nothing from after the reset.
    assert out.mask[0, 0, DIST <= 0.05 + 1e-9].all() and not out.mask[0, 0, DIST >= 0.07 - 1e-9].any()
    assert out.labels[0].sum() == 0
    # A frame between the last pre-reset and first post-reset sample has no pose at all.
    assert frames.reason[1] == Reason.ODOM_RESET and not out.mask[1].any()
    assert frames.ok[2] and out.labels[2, 0, out.mask[2, 0]].all()


def test_odometry_gap_is_not_interpolated_across():
    odom_ns, range_ns = ticks(6.0, 20), ticks(6.0, 50)
    odom = straight(odom_ns, 0.1)
    hole = (odom_ns > T0 + 2000 * MS) & (odom_ns < T0 + 3000 * MS)
    frame_ns = np.array([T0 + 1900 * MS, T0 + 2500 * MS], np.int64)
    values = np.full(len(range_ns), np.inf)
    out, frames, traj = run(frame_ns, odom_ns[~hole], odom[~hole], [range_ns], [values])
    assert traj.counts["odom_gaps"] == 1
    assert frames.reason[1] == Reason.ODOM_GAP and not out.mask[1].any()
    # Frame at x = 0.19 sees poses up to x = 0.20 only (the gap ends its segment).
    np.testing.assert_array_equal(out.mask[0, 0], DIST <= 0.02 + 1e-9)


def test_proximity_gap_leaves_distances_unknown_instead_of_borrowing_far_readings():
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    odom = straight(odom_ns, 0.1)
    hole = (range_ns > T0 + 1000 * MS) & (range_ns < T0 + 2000 * MS)  # x in (0.10, 0.20) never read
    out, _, _ = run(np.array([T0], np.int64), odom_ns, odom, [range_ns[~hole]],
                    [np.full(int((~hole).sum()), np.inf)])
    np.testing.assert_array_equal(out.mask[0, 0], (DIST <= 0.11 + 1e-9) | (DIST >= 0.19 - 1e-9))


def test_frames_before_the_first_and_after_the_last_pose_are_skipped():
    odom_ns = ticks(2.0, 20) + 1000 * MS
    out, frames, _ = run(np.array([T0, T0 + 1500 * MS, T0 + 5000 * MS], np.int64), odom_ns,
                         straight(odom_ns, 0.1), [ticks(4.0, 50)], [np.full(81, np.inf)])
    np.testing.assert_array_equal(frames.reason,
                                  [Reason.BEFORE_FIRST_POSE, Reason.OK, Reason.AFTER_LAST_POSE])
    assert not out.mask[[0, 2]].any() and out.mask[1].any()


def test_time_going_backwards_and_duplicated_stamps_are_repaired_and_counted():
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    odom = straight(odom_ns, 0.1)
    values = wall_reading(straight(range_ns, 0.1)[:, 0], 0.4025)
    frame_ns = ticks(1.0, 100)
    clean, _, _ = run(frame_ns, odom_ns, odom, [range_ns], [values])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(odom_ns))
    dup_o = np.r_[order, order[:30]]  # 30 duplicated odometry messages (same stamp, same pose)
    dup_r = np.r_[np.arange(len(range_ns)), np.arange(10)]
    frames_shuffled = rng.permutation(len(frame_ns))
    messy, _, traj = run(frame_ns[frames_shuffled], odom_ns[dup_o], odom[dup_o], [range_ns[dup_r]],
                         [values[dup_r]])
    assert traj.counts["odom_out_of_order"] > 0 and traj.counts["odom_duplicate_stamps"] == 30
    np.testing.assert_array_equal(messy.labels, clean.labels[frames_shuffled])
    np.testing.assert_array_equal(messy.mask, clean.mask[frames_shuffled])


def test_standing_still_labels_only_d_within_tol_x_and_reports_no_motion():
    odom_ns, range_ns = ticks(5.0, 20), ticks(5.0, 50)
    odom = np.tile([0.3, -0.2, 1.0], (len(odom_ns), 1))
    out, _, traj = run(ticks(2.0, 100), odom_ns, odom, [range_ns], [np.full(len(range_ns), 0.05)])
    assert traj.max_displacement() == 0.0
    assert out.mask[:, 0, PARAMS.tol_x >= DIST].all() and not out.mask[:, 0, PARAMS.tol_x < DIST].any()


def test_rep117_readings_inf_free_minus_inf_obstacle_nan_never_used():
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    odom = straight(odom_ns, 0.1)
    n = len(range_ns)
    sensors = [np.full(n, np.inf), np.full(n, -np.inf), np.full(n, np.nan),
               np.where(np.arange(n) % 2 == 0, np.nan, 0.05)]  # valid only at odd 5 mm steps
    out, _, _ = run(np.array([T0], np.int64), odom_ns, odom, [range_ns] * 4, sensors)
    assert out.mask[0, 0].all() and out.labels[0, 0].sum() == 0
    assert out.mask[0, 1].all() and out.labels[0, 1].all()
    assert not out.mask[0, 2].any()
    # NaN readings are skipped, so the next-closest valid reading (5 mm off) still labels every d.
    assert out.mask[0, 3].all() and out.labels[0, 3].all()


def test_sensors_with_their_own_stamps_are_matched_at_their_own_times():
    odom_ns = ticks(4.0, 20)
    odom = straight(odom_ns, 0.1)
    a_ns, b_ns = ticks(3.9, 50), ticks(3.9, 50) + 25 * MS  # interleaved topics, 25 ms apart
    wall = 0.4025
    values = [wall_reading(straight(a_ns, 0.1)[:, 0], wall), wall_reading(straight(b_ns, 0.1)[:, 0], wall)]
    out, _, _ = run(ticks(1.0, 100), odom_ns, odom, [a_ns, b_ns], values)
    assert out.mask.all()
    np.testing.assert_array_equal(out.labels[:, 0], out.labels[:, 1])


def random_case(seed: int, seconds: float = 12.0):
    rng = np.random.default_rng(seed)
    dt = 0.02
    n = int(seconds / dt)
    v = np.clip(rng.normal(0.1, 0.06, n), -0.05, 0.2)
    w = rng.normal(0.0, 0.4, n) * (rng.random(n) < 0.3)
    th = np.cumsum(w * dt)
    odom = np.column_stack([np.cumsum(v * np.cos(th) * dt), np.cumsum(v * np.sin(th) * dt), th])
    odom[n // 2:] -= odom[n // 2]  # a reset
    t = T0 + (np.arange(n) * dt * 1e9).astype(np.int64)
    t[3 * n // 4:] += 1_000 * MS  # a gap
    range_ns, ranges = [], []
    for s in range(3):
        m = int(seconds * 20)
        offset = rng.integers(0, 50 * MS) + s * 7 * MS
        range_ns.append(T0 + (np.arange(m) * 50 * MS + offset).astype(np.int64))
        vals = rng.uniform(0.0, 0.2, m)
        vals[vals > 0.12] = np.inf
        vals[rng.random(m) < 0.05] = np.nan
        vals[rng.random(m) < 0.02] = -np.inf
        ranges.append(vals)
    frame_ns = T0 - 500 * MS + np.sort(rng.integers(0, int((seconds + 2) * 1e9), int(seconds * 10)))
    return frame_ns, t, odom, range_ns, ranges


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_equals_naive_reference_on_random_trajectories(seed):
    frame_ns, t, odom, range_ns, ranges = random_case(seed)
    out, frames, _ = run(frame_ns, t, odom, range_ns, ranges)  # run() compares with the reference
    assert 0.1 < out.mask[frames.ok].mean() < 0.95  # a real mix of known and unknown cells
    assert 0 < out.labels[out.mask].mean() < 1


def grid_profile(**labels):
    data = load_profile("sim").to_dict()
    data["labels"].update(geometry="grid", grid_x_min=0.0, grid_x_max=0.8, grid_y_min=-0.4, grid_y_max=0.4,
                          grid_cell=0.05, **labels)
    data["proximity"]["sensors"] = [{"name": "c", "topic": "/p/c", "x": 0.082, "y": 0.01, "yaw": 0.0}]
    return profile_from_dict(data)


def test_grid_labels_free_along_the_rays_occupied_at_the_wall():
    prof = grid_profile()
    odom_ns, range_ns = ticks(4.0, 20), ticks(4.0, 50)
    odom = straight(odom_ns, 0.1)  # base x 0 .. 0.4, sensor x 0.082 .. 0.482
    values = wall_reading(straight(range_ns, 0.1)[:, 0], wall=0.51, sensor_x=0.082)
    traj = clean_trajectory(odom_ns, odom, 2.0, 0.5)
    frame_ns = np.array([T0], np.int64)
    frames = traj.poses_at(frame_ns)
    out = grid_labels(frame_ns, frames, traj, posed_readings(traj, [range_ns], [values]), prof)
    gx, gy = (np.asarray(axis) for axis in prof.labels.grid_axes())
    assert out.labels.shape == (1, len(gx), len(gy)) == (1, 16, 16)
    row = int(np.flatnonzero(np.isclose(gy, 0.025))[0])  # the sensor's lateral offset, 1 cm
    known = np.zeros((16, 16), bool)
    known[1:11, row] = True  # from the sensor's first position (x 0.082) to the wall cell [0.50, 0.55)
    np.testing.assert_array_equal(out.mask[0], known)
    expected = np.zeros((16, 16), np.uint8)
    expected[10, row] = 1
    np.testing.assert_array_equal(out.labels[0], expected)


def test_grid_labels_rotate_rays_into_the_frame_of_the_frame():
    prof = grid_profile()
    odom_ns, range_ns = ticks(2.0, 20), ticks(2.0, 50)
    # Facing +y (yaw pi/2) and driving along +y: the frame's "ahead" is world +y.
    y = 0.1 * (odom_ns - T0) / 1e9
    odom = np.column_stack([np.full_like(y, 1.0), y, np.full_like(y, math.pi / 2)])
    traj = clean_trajectory(odom_ns, odom, 2.0, 0.5)
    frame_ns = np.array([T0], np.int64)
    values = np.full(len(range_ns), 0.05)  # always something 5 cm ahead of the sensor
    readings = posed_readings(traj, [range_ns], [values])
    out = grid_labels(frame_ns, traj.poses_at(frame_ns), traj, readings, prof)
    gx, gy = (np.asarray(axis) for axis in prof.labels.grid_axes())
    occupied = np.argwhere(out.labels[0] == 1)
    assert len(occupied) and np.isclose(gy[occupied[:, 1]], 0.025).all()  # straight ahead, not sideways
    assert (gx[occupied[:, 0]] >= 0.1).all()


def test_vectorised_equals_naive_on_real_turtlebot_odometry(realdata):
    from ros_ssl.bag import BagReader
    from ros_ssl.msgs.poses import odometry_pose, stamp_ns

    with BagReader(realdata / "evo_nav2_turtlebot4_sim_odom.mcap") as bag:
        msgs = [m.msg for m in bag.messages(["/odom"])]
    odom_ns = np.array([stamp_ns(m.header) for m in msgs], np.int64)
    odom = np.array([odometry_pose(m) for m in msgs])
    rng = np.random.default_rng(0)
    start, end = odom_ns.min(), odom_ns.max()
    range_ns = [np.arange(start, end, 50 * MS) + 7 * MS * s for s in range(2)]
    ranges = [np.where(rng.random(len(t)) < 0.3, rng.uniform(0, 0.1, len(t)), np.inf) for t in range_ns]
    frame_ns = np.sort(rng.integers(start, end, 80))
    out, frames, _traj = run(frame_ns, odom_ns, odom, range_ns, ranges)  # compares with the reference
    assert frames.ok.mean() > 0.9 and out.mask.any()


def test_distances_must_ascend():
    from ros_ssl.errors import ConfigError

    with pytest.raises(ConfigError, match="strictly ascending"):
        MatchParams(np.array([0.1, 0.0]), 0.01, 0.01, 0.05, 1, 0.1)
