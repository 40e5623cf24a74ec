"""Controller node: drive from the detector's predictions alone, turning away from predicted obstacles.

Example::

    ros-ssl-controller --ros-args -p profile:=thymio -p max_speed:=0.08

Subscribes to ``/detector/predictions`` and ``/detector/geometry`` and publishes geometry_msgs/Twist on
``/cmd_vel`` at ``rate`` Hz (``ros_ssl.nodes.avoidance``). Doubt means stop: it commands zero velocity
until the first valid prediction, whenever the newest valid one is older than ``timeout`` seconds (0.3 s:
3 to 5 camera frames), and from a prediction it cannot use (non-finite probabilities, wrong
layout) until the next valid one; the log says when it stops for lack of predictions and when it drives
again. Needs a sensor x distance model whose sensors are in the profile. With odometry (nav_msgs/Odometry
on the profile's topic) it also remembers the predicted obstacles for ``memory_s`` seconds and keeps its
``footprint_*`` circle clear of those it has passed on the side (``ros_ssl.nodes.obstacle_memory``), and
turns away when ``stall_s`` seconds of forward commands did not move it (``ros_ssl.nodes.stall``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from std_msgs.msg import Float32MultiArray, String

from ros_ssl.config.geometry import GeometryKind
from ros_ssl.config.profile import load_profile
from ros_ssl.errors import ConfigError, MessageError
from ros_ssl.msgs.poses import odometry_pose
from ros_ssl.nodes.avoidance import Avoider, AvoidParams, SafeDriver
from ros_ssl.nodes.obstacle_memory import Footprint, MemoryParams, ObstacleMemory
from ros_ssl.nodes.params import check_fields, declare_config, param
from ros_ssl.nodes.predictions import parse_geometry_json, prediction_array
from ros_ssl.nodes.qos import LATCHED
from ros_ssl.nodes.runtime import main_for
from ros_ssl.nodes.stall import StallGuard, StallParams
from ros_ssl.nodes.watchdog import Watchdog


@dataclass(frozen=True)
class ControllerConfig:
    profile: str = field(default="sim", metadata=param(
        "Robot profile (built-in name or YAML path): where the model's sensors point."))
    threshold: float = field(default=0.5, metadata=param(
        "Probability above which a predicted cell is an obstacle.", 0.0, 1.0))
    max_speed: float = field(default=0.1, metadata=param(
        "Forward speed when the way is free (m/s).", 0.0, 2.0))
    max_turn: float = field(default=1.2, metadata=param("Turn rate when blocked (rad/s).", 0.0, 10.0))
    stop_distance: float = field(default=0.03, metadata=param(
        "Free distance ahead (m) at which the robot stops and turns.", 0.0, 5.0))
    slow_distance: float = field(default=0.2, metadata=param(
        "Free distance ahead (m) below which the robot slows down.", 0.0, 5.0))
    rate: float = field(default=10.0, metadata=param("Command rate (Hz).", 1.0, 100.0))
    timeout: float = field(default=0.3, metadata=param(
        "Stop when the newest valid prediction is older than this (s); about 3 to 5 camera frame periods.",
        0.05, 10.0))
    explore: float = field(default=0.0, metadata=param(
        "Chance per second of an exploration spell: for explore_s seconds no /cmd_vel is sent, so the "
        "robot's own driver (the simulator's data-collection policy) drives up to obstacles and a "
        "learning robot records labels its cautious predictions avoid; 0 = never.", 0.0, 1.0))
    explore_s: float = field(default=8.0, metadata=param("Length of an exploration spell (s).", 0.5, 600.0))
    memory_s: float = field(default=5.0, metadata=param(
        "Remember predicted obstacles this long (s) in the odometry frame, so the robot keeps clear of "
        "those it has passed on the side (needs nav_msgs/Odometry on the profile's odometry topic); "
        "0 = ahead only.", 0.0, 600.0))
    stall_s: float = field(default=1.0, metadata=param(
        "Forward commands this long that moved the robot (by odometry) less than a quarter of the way mean "
        "it is wedged against something it never saw: it turns in place away; 0 = never.", 0.0, 60.0))
    footprint_x: float = field(default=0.025, metadata=param(
        "Centre of the robot's collision circle ahead of base_link (m).", -1.0, 1.0))
    footprint_radius: float = field(default=0.068, metadata=param(
        "Radius of the robot's collision circle (m).", 0.001, 5.0))

    def validate(self) -> ControllerConfig:
        check_fields(self)
        if self.slow_distance <= self.stop_distance:
            raise ConfigError(f"parameter slow_distance ({self.slow_distance}) must exceed stop_distance "
                              f"({self.stop_distance})")
        return self

    def avoid_params(self) -> AvoidParams:
        return AvoidParams(self.max_speed, self.max_turn, self.stop_distance, self.slow_distance)

    def footprint(self) -> Footprint:
        return Footprint(self.footprint_x, self.footprint_radius)


class ControllerNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("controller", **node_kwargs)
        self.cfg = declare_config(self, ControllerConfig)
        self._profile = load_profile(self.cfg.profile)
        self._sensors = {s.name: s for s in self._profile.proximity.sensors}
        self._watchdog = Watchdog(self.cfg.timeout, self._now_ns())
        self._driver: SafeDriver | None = None
        self.create_subscription(String, "/detector/geometry", self._on_geometry, LATCHED)
        self.create_subscription(Float32MultiArray, "/detector/predictions", self._on_predictions, 10)
        wants = self.cfg.memory_s > 0 or self.cfg.stall_s > 0
        self._odometry = wants and self._profile.odometry.source == "odometry"
        if self._odometry:
            self.create_subscription(Odometry, self._profile.odometry.topic, self._on_odometry,
                                     qos_profile_sensor_data)
            self.get_logger().info(f"odometry on {self._profile.odometry.topic}: remembering predicted "
                                   f"obstacles for {self.cfg.memory_s:g} s, stall turn after "
                                   f"{self.cfg.stall_s:g} s (0 = off)")
        elif wants:
            self.get_logger().warning(f"profile {self._profile.name} takes odometry from /tf, which the "
                                      f"controller does not read: it keeps clear of what is ahead only "
                                      f"(memory_s, stall_s ignored)")
        self._cmd_pub = self.create_publisher(Twist, "/cmd_vel", 10)
        self.create_timer(1.0 / self.cfg.rate, self._tick)
        self.commands = 0
        self._rng = np.random.default_rng()
        self._explore_until = 0

    def _now_ns(self) -> int:
        return int(self.get_clock().now().nanoseconds)

    def _on_geometry(self, msg: String) -> None:
        try:
            geometry = parse_geometry_json(msg.data)
        except ConfigError as err:
            self.get_logger().error(f"cannot steer: {err}")
            return
        if geometry.kind is not GeometryKind.SENSOR_DISTANCE:
            kind = geometry.kind.value
            self.get_logger().error(f"cannot steer from a {kind!r} model; need a sensor_distance model")
            return
        unknown = [s for s in geometry.sensors if s not in self._sensors]
        if unknown:
            self.get_logger().error(f"model sensors {unknown} are not in profile {self.cfg.profile!r}")
            return
        sensors = [self._sensors[s] for s in geometry.sensors]
        avoider = Avoider([s.yaw for s in sensors], self.cfg.avoid_params())
        memory = stall = None
        if self._odometry and self.cfg.memory_s > 0:
            memory = ObstacleMemory([(s.x, s.y, s.yaw) for s in sensors],
                                    self._profile.proximity.obstacle_threshold, self.cfg.footprint(),
                                    MemoryParams(keep_s=self.cfg.memory_s))
        if self._odometry and self.cfg.stall_s > 0:
            stall = StallGuard(StallParams(after_s=self.cfg.stall_s))
        self._driver = SafeDriver(avoider, geometry.distances, self.cfg.threshold, self._watchdog, memory,
                                  stall)

    def _on_odometry(self, msg: Odometry) -> None:
        if self._driver is None:
            return
        line = self._driver.odometry(odometry_pose(msg), self._now_ns())
        if line:
            self.get_logger().warning(line)

    def _on_predictions(self, msg: Float32MultiArray) -> None:
        if self._driver is None:
            return
        try:
            self._driver.update(prediction_array([d.size for d in msg.layout.dim], msg.data),
                                self._now_ns())
        except MessageError as err:
            self._watchdog.invalidate(self._now_ns())
            self.get_logger().error(f"unusable prediction: {err}", throttle_duration_sec=5.0)

    def _tick(self) -> None:
        now = self._now_ns()
        alarm = self._watchdog.alarm(now)
        if alarm:
            self.get_logger().warning(f"no valid prediction for {self._watchdog.silent_s(now):.2f} s "
                                      f"(timeout {self.cfg.timeout} s): stopping")
        elif alarm is False:
            self.get_logger().info("valid predictions again: driving")
        if self._exploring(now):
            return
        cmd = Twist()
        if self._driver is not None:
            cmd.linear.x, cmd.angular.z = self._driver.command(now)
        self._cmd_pub.publish(cmd)
        self.commands += 1

    def _exploring(self, now: int) -> bool:
        """Whether an exploration spell runs (one may start now, at ``explore`` per second)."""
        if now < self._explore_until:
            return True
        if self.cfg.explore and self._rng.random() < self.cfg.explore / self.cfg.rate:
            self._explore_until = now + int(self.cfg.explore_s * 1e9)
            self.get_logger().info(f"exploring: {self.cfg.explore_s:g} s without commands")
            return True
        return False

    def close(self) -> None:
        self._cmd_pub.publish(Twist())  # leave the robot stopped
        self.get_logger().info(f"controller stopped after {self.commands} commands")


def main(args: Sequence[str] | None = None) -> None:
    main_for(ControllerNode, args)


if __name__ == "__main__":
    main()
