"""Obstacles passed on the side: the memory keeps the predicted obstacles in the odometry frame, the
controller's core keeps its footprint clear of them, and in the simulator (driven from its truth, a
perfect detector) that ends the side contacts that wedged the ahead-only avoider. The stall guard turns
a robot wedged against an obstacle it never saw away from it."""

from __future__ import annotations

import numpy as np
import pytest

from ros_ssl.config import load_profile
from ros_ssl.errors import MessageError
from ros_ssl.nodes.avoidance import Avoider, SafeDriver
from ros_ssl.nodes.obstacle_memory import MemoryParams, ObstacleMemory
from ros_ssl.nodes.sim_drive import drive
from ros_ssl.nodes.stall import StallGuard, StallParams
from ros_ssl.nodes.watchdog import Watchdog

PROFILE = load_profile("sim")
SENSORS = [(s.x, s.y, s.yaw) for s in PROFILE.proximity.sensors]
THRESHOLD = PROFILE.proximity.obstacle_threshold
DISTANCES = list(PROFILE.label_geometry().distances)
HORIZON = DISTANCES[-1]
MS = 1_000_000


def free_with(sensor: int, distance: float) -> np.ndarray:
    """Free distances: nothing within the horizon but for ``sensor``, which fires after ``distance``."""
    free = np.full(len(SENSORS), HORIZON)
    free[sensor] = distance
    return free


def probs_with(sensor: int, distance: float) -> np.ndarray:
    """The prediction whose nearest obstacle is ``distance`` for ``sensor`` and none for the others."""
    probs = np.zeros((len(SENSORS), len(DISTANCES)), np.float32)
    probs[sensor, np.asarray(DISTANCES) >= distance - 1e-9] = 1.0
    return probs


def test_a_point_is_kept_once_the_next_prediction_confirms_it() -> None:
    memory = ObstacleMemory(SENSORS, THRESHOLD, params=MemoryParams(keep_s=0.5))
    memory.observe(free_with(0, 0.05), HORIZON, (0.0, 0.0, 0.0), 0.0)
    assert len(memory) == 0  # one prediction alone may be a wrong cell
    memory.observe(free_with(0, 0.05), HORIZON, (0.0, 0.0, 0.0), 0.1)
    assert len(memory) == 3  # seen again: points along the left sensor's ray
    memory.observe(free_with(4, 0.2), HORIZON, (0.0, 0.0, 0.0), 0.2)  # flickering wrong cells elsewhere
    memory.observe(free_with(2, 0.1), HORIZON, (0.0, 0.0, 0.0), 0.3)
    assert len(memory) == 3
    memory.observe(free_with(0, 0.03), HORIZON, (0.02, 0.0, 0.0), 0.4)  # the same obstacle, robot 2 cm on
    assert len(memory) == 3  # placed by odometry where they were: refreshed, not copied
    nothing = np.full(len(SENSORS), HORIZON)
    memory.observe(nothing, HORIZON, (0.02, 0.0, 0.0), 0.8)
    assert len(memory) == 3  # kept 0.5 s from 0.4, when they were seen last
    memory.observe(nothing, HORIZON, (0.02, 0.0, 0.0), 0.95)
    assert len(memory) == 0


def test_points_are_forgotten_after_keep_s_and_beyond_reach() -> None:
    memory = ObstacleMemory(SENSORS, THRESHOLD, params=MemoryParams(keep_s=1.0, reach=0.6))
    for t in (0.0, 0.1):
        memory.observe(free_with(1, 0.1), HORIZON, (0.0, 0.0, 0.0), t)
    nothing = np.full(len(SENSORS), HORIZON)
    memory.observe(nothing, HORIZON, (0.0, 0.0, 0.0), 1.05)
    assert len(memory) == 3
    memory.observe(nothing, HORIZON, (0.0, 0.0, 0.0), 1.15)
    assert len(memory) == 0
    for t in (2.0, 2.1):
        memory.observe(free_with(1, 0.1), HORIZON, (0.0, 0.0, 0.0), t)
    assert len(memory) == 3
    memory.observe(nothing, HORIZON, (1.0, 0.0, 0.0), 2.2)  # the robot is 1 m on: out of reach
    assert len(memory) == 0
    for t in (3.0, 3.1, 3.2):  # seen again and again: refreshed in place, not copied
        memory.observe(free_with(1, 0.1), HORIZON, (0.0, 0.0, 0.0), t)
    assert len(memory) == 3
    memory.observe(nothing, HORIZON, (0.0, 0.0, 0.0), 4.15)  # last seen at 3.2: kept for 1 s from then
    assert len(memory) == 3
    memory.clear()
    assert len(memory) == 0


def test_an_obstacle_passed_on_the_side_blocks_the_turn_towards_it() -> None:
    """The left sensor fires at once, twice; 4 cm later the obstacle has left its fan and sits beside
    the footprint: turning left in place (the footprint's centre is ahead of the axle) would hit it."""
    memory = ObstacleMemory(SENSORS, THRESHOLD)
    for t in (0.0, 0.1):
        memory.observe(free_with(0, 0.0), HORIZON, (0.0, 0.0, 0.0), t)
    start, beside = (0.0, 0.0, 0.0), (0.04, 0.0, 0.0)
    assert memory.safe(start, 0.0, 1.2) and not memory.safe(start, 0.1, 0.0)  # straight on would clip it
    assert not memory.safe(beside, 0.0, 1.2) and memory.safe(beside, 0.0, -1.2)
    assert memory.choose(beside, (0.0, 1.2), 1.2, prefer=1.0) == (0.0, -1.2)
    assert memory.choose(beside, (0.0, -1.2), 1.2) == (0.0, -1.2)  # a safe command is kept as it is
    seen_from_far = (-0.5, 0.0, 0.0)
    assert memory.clearance(seen_from_far, 0.1, 0.0)[1] > 0.3


def test_safe_driver_forgets_on_an_odometry_reset_or_gap_and_drives_ahead_only_without_odometry() -> None:
    yaws = [s[2] for s in SENSORS]
    memory = ObstacleMemory(SENSORS, THRESHOLD)
    driver = SafeDriver(Avoider(yaws), DISTANCES, 0.5, Watchdog(0.3, 0), memory)
    for i in range(2):
        assert driver.odometry((0.0, 0.0, 0.0), i * 100 * MS) == ""
        driver.update(probs_with(0, 0.0), i * 100 * MS)
    assert len(memory) == 3
    line = driver.odometry((5.0, 5.0, 0.0), 200 * MS)  # a driver restart zeroes odometry, or it jumps
    assert line == ("odometry jumped 7.07 m, 0.00 rad between two messages (a reset?): forgot 3 remembered "
                    "obstacle points")
    assert len(memory) == 0

    for i in range(3, 5):  # the obstacle again, then the robot 4 cm on: it sits beside the footprint
        driver.odometry((5.0, 5.0, 0.0), i * 100 * MS)
        driver.update(probs_with(0, 0.0), i * 100 * MS)
    driver.odometry((5.04, 5.0, 0.0), 500 * MS)
    driver.update(probs_with(2, 0.0), 500 * MS)  # blocked straight ahead: the avoider turns left
    assert Avoider(yaws).command(np.asarray([HORIZON, HORIZON, 0.0, HORIZON, HORIZON]))[1] > 0
    assert driver.command(500 * MS) == (0.0, -1.2)  # the memory turns it right, away from the obstacle
    driver.update(probs_with(2, 0.0), 1100 * MS)  # no odometry for 0.6 s: what is ahead only
    assert driver.command(1100 * MS)[1] > 0 and len(memory) > 0
    line = driver.odometry((0.0, 0.0, 0.0), 1100 * MS)  # a restarted driver: a new odometry frame
    assert line.startswith("odometry came back after 0.6 s of silence (a restarted driver?): forgot ")
    assert len(memory) == 0


def test_without_memory_the_driver_is_the_ahead_only_avoider() -> None:
    driver = SafeDriver(Avoider([s[2] for s in SENSORS]), DISTANCES, 0.5, Watchdog(0.3, 0))
    assert driver.odometry((0.0, 0.0, 0.0), 0) == "" and driver.odometry((9.0, 0.0, 0.0), MS) == ""
    driver.update(probs_with(2, 0.0), MS)
    assert driver.command(MS)[1] > 0


@pytest.mark.slow
@pytest.mark.parametrize("world", [0, 4, 7])
def test_in_the_simulator_the_memory_ends_the_side_contacts_that_wedge_the_avoider(world: int) -> None:
    """Simulator truth as the detector: the avoider alone clips a side obstacle and stays wedged; with
    the memory (drifting wheel odometry) the robot touches nothing and keeps driving."""
    alone = drive(world, PROFILE, 60.0, memory=False)
    assert alone.contacts >= 1 and alone.wedged_s > 30.0, alone
    remembered = drive(world, PROFILE, 60.0, memory=True)
    assert remembered.contacts == 0 and remembered.wedged_s == 0.0 and remembered.metres > 0.3, remembered


def test_stall_guard_turns_away_when_forward_commands_do_not_move_the_robot() -> None:
    guard = StallGuard(StallParams(after_s=1.0, progress=0.25, turn_s=1.0, check_s=0.4))
    forward = (0.1, 0.0)
    for i in range(11):  # driving: 1 cm per 0.1 s, as commanded
        assert guard.command(forward, (0.01 * i, 0.0, 0.0), 0.1 * i, 1.2, prefer=-1.0) is None
    pose, i = (0.1, 0.0, 0.0), 11
    while (turn := guard.command(forward, pose, 0.1 * i, 1.2, prefer=-1.0)) is None:  # wedged from 1.0 s
        i += 1
    assert turn == (0.0, -1.2) and guard.stalls == 1
    assert 1.7 <= 0.1 * i <= 2.0  # found once the last second moved the robot under a quarter of the way
    t = 0.1 * i
    assert guard.command(forward, pose, t + 0.3, 1.2, prefer=-1.0) == (0.0, -1.2)  # not checked yet
    assert guard.command(forward, pose, t + 0.45, 1.2, prefer=-1.0) == (0.0, 1.2)  # did not turn: other way
    turned = (0.1, 0.0, 0.3)
    assert guard.command(forward, turned, t + 0.9, 1.2, prefer=-1.0) == (0.0, 1.2)  # turning: keeps on
    assert guard.command(forward, turned, t + 1.5, 1.2, prefer=-1.0) is None  # done: the avoider drives
    assert guard.command((0.0, 1.2), turned, t + 1.6, 1.2, prefer=-1.0) is None  # a turn is never a stall


def test_a_stop_in_between_is_not_a_stall() -> None:
    """Forward, then a stop for an unusable prediction, then forward again: the stop's standing still
    must not read as a stall when driving resumes."""
    yaws = [s[2] for s in SENSORS]
    driver = SafeDriver(Avoider(yaws), DISTANCES, 0.5, Watchdog(0.3, 0), stall=StallGuard())
    free = np.zeros((len(SENSORS), len(DISTANCES)), np.float32)
    for i, x in ((0, 0.0), (1, 0.01)):
        driver.odometry((x, 0.0, 0.0), i * 100 * MS)
        driver.update(free, i * 100 * MS)
        assert driver.command(i * 100 * MS) == (0.1, 0.0)
    with pytest.raises(MessageError):
        driver.update(np.full_like(free, np.nan), 200 * MS)
    for i in range(2, 10):  # stopped, odometry still coming
        driver.odometry((0.02, 0.0, 0.0), i * 100 * MS)
        assert driver.command(i * 100 * MS) == (0.0, 0.0)
    driver.odometry((0.02, 0.0, 0.0), 1000 * MS)
    driver.update(free, 1000 * MS)
    assert driver.command(1000 * MS) == (0.1, 0.0) and driver.stall is not None and driver.stall.stalls == 0


@pytest.mark.slow
def test_in_the_simulator_the_stall_guard_frees_the_avoider_from_unseen_side_obstacles() -> None:
    """Without the memory (as for an obstacle the detector missed), the stall guard turns the wedged
    avoider away: far less time pushing against a surface, more distance driven."""
    alone = drive(0, PROFILE, 60.0, memory=False)
    freed = drive(0, PROFILE, 60.0, memory=False, stall=True)
    assert freed.wedged_s < alone.wedged_s / 4 and freed.metres > 2 * alone.metres, (alone, freed)
