"""The controller's ROS-free core driving a simulated robot: contacts, time wedged and distance driven.

Measures the driving itself, apart from ROS timing and apart from the detector when the predictions
come from simulator truth (a perfect detector): a contact the controller makes then is the
controller's. ``benchmarks/bench_avoid.py`` compares the avoider alone with the avoider plus
``ObstacleMemory`` and ``StallGuard`` this way, on truth or on a model package's predictions from
rendered frames.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_ssl.config.profile import RobotProfile
from ros_ssl.errors import MessageError
from ros_ssl.nodes.avoidance import Avoider, AvoidParams, SafeDriver
from ros_ssl.nodes.obstacle_memory import Footprint, MemoryParams, ObstacleMemory
from ros_ssl.nodes.stall import StallGuard
from ros_ssl.nodes.watchdog import Watchdog
from ros_ssl.sim.geometry import shapes_of
from ros_ssl.sim.robot import SimRobot
from ros_ssl.sim.truth import true_sensor_labels
from ros_ssl.sim.world import generate_world

Predict = Callable[[SimRobot], np.ndarray]  # the robot now -> (sensors, distances) probabilities
NS = 1_000_000_000


@dataclass(frozen=True)
class DriveStats:
    seconds: float
    contacts: int  # times the footprint came into contact with a surface
    wedged_s: float  # time spent in contact (the simulator refuses the step; the wheels stall)
    metres: float  # distance the robot really drove


def truth_predictor(world: dict[str, Any], distances: list[float]) -> Predict:
    """A perfect detector: the labels ``true_sensor_labels`` gives at the robot's true pose."""
    shapes = shapes_of(world)

    def predict(robot: SimRobot) -> np.ndarray:
        pose = np.asarray([robot.true_pose])
        probs: np.ndarray = true_sensor_labels(shapes, pose, robot.profile, distances)[0].astype(np.float32)
        return probs
    return predict


def drive(world_seed: int, profile: RobotProfile, seconds: float, memory: bool, stall: bool = False,
          predict: Predict | None = None, params: AvoidParams = AvoidParams(),
          memory_params: MemoryParams = MemoryParams(), rate_hz: float = 10.0,
          step_s: float = 0.02) -> DriveStats:
    """Drive ``seconds`` in the world of ``world_seed`` from predictions at ``rate_hz`` (simulator truth
    unless ``predict`` is given), with or without the obstacle memory and the stall guard, and count
    what happened."""
    distances = list(profile.label_geometry().distances)
    sensors = profile.proximity.sensors
    world = generate_world(world_seed)
    with SimRobot(world, profile, world_seed) as robot:
        footprint = Footprint(robot.params.footprint_x, robot.params.footprint_radius)
        keep = (ObstacleMemory([(s.x, s.y, s.yaw) for s in sensors], profile.proximity.obstacle_threshold,
                               footprint, memory_params) if memory else None)
        driver = SafeDriver(Avoider([s.yaw for s in sensors], params), distances, 0.5, Watchdog(0.3, 0),
                            keep, StallGuard() if stall else None)
        guess = predict or truth_predictor(world, distances)
        contacts, wedged_s, metres, t, next_command = 0, 0.0, 0.0, 0.0, 0.0
        was_bumped, last = False, robot.true_pose
        while t < seconds:
            now_ns = round(t * NS)
            driver.odometry(robot.odometry, now_ns)
            if t >= next_command:
                with suppress(MessageError):  # a non-finite prediction: the driver stops, as the node does
                    driver.update(guess(robot), now_ns)
                robot.step(0.0, driver.command(now_ns))
                next_command += 1.0 / rate_hz
            robot.step(step_s)
            t += step_s
            pose = robot.true_pose
            metres += float(np.hypot(pose[0] - last[0], pose[1] - last[1]))
            last = pose
            contacts += robot.bumped and not was_bumped
            wedged_s += step_s * robot.bumped
            was_bumped = robot.bumped
    return DriveStats(seconds, contacts, wedged_s, metres)
