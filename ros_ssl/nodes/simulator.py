"""Simulator node: the simulated robot live on ROS topics, so the robot-side stack runs with no robot.

Example::

    ros-ssl-simulator --ros-args -p seed:=3 -p profile:=sim

Publishes what a real robot would, on the profile's topics and frames: the camera, the proximity
sensors (Range per sensor or one LaserScan), odometry (nav_msgs/Odometry, drifting like wheel
odometry) and /tf when tf2_msgs is installed, plus /clock, the ground-truth pose (/sim/ground_truth,
frame "world") and the world description (/sim/world, JSON, transient local) so a recorded bag can be
labelled and scored against the truth. The robot wanders by itself (the data-collection policy of
``ros_ssl.sim.policy``) and obeys geometry_msgs/Twist on /cmd_vel while commands keep arriving.

Time is the wall clock: the robot steps by the time elapsed since the last tick, and stamps are the
node clock at that instant; a camera frame that cannot be rendered in time is skipped, not queued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image, LaserScan, Range
from std_msgs.msg import String

from ros_ssl.bag import messages as m
from ros_ssl.bag.streams import TRUTH_TOPIC, WORLD_TOPIC
from ros_ssl.bag.writer import TYPESTORE
from ros_ssl.config.profile import RobotProfile, load_profile
from ros_ssl.errors import MessageError
from ros_ssl.nodes.params import check_fields, declare_config, param
from ros_ssl.nodes.qos import LATCHED, publisher_qos
from ros_ssl.nodes.runtime import main_for, msg_class
from ros_ssl.sim.policy import WanderPolicy
from ros_ssl.sim.render_pool import FrameRenderer, Rendered
from ros_ssl.sim.robot import SimRobot
from ros_ssl.sim.world import generate_world

WORLD_FRAME = "world"
CLOCK = TYPESTORE.types["rosgraph_msgs/msg/Clock"]
SENSOR_FOV = 0.3  # Range.field_of_view of the IR sensors (rad)


@dataclass(frozen=True)
class SimulatorConfig:
    profile: str = field(default="sim", metadata=param(
        "Robot profile (built-in name or YAML path): topics, frames, rates, sensor layout."))
    seed: int = field(default=0, metadata=param(
        "World and noise seed (same seed, same world).", 0, 2**31 - 1))
    policy: str = field(default="wander", metadata=param(
        "Driver when no /cmd_vel arrives: wander (data-collection policy) or stop.",
        choices=("wander", "stop")))
    cmd_timeout: float = field(default=0.5, metadata=param(
        "Seconds a /cmd_vel command stays in force; then the policy drives again.", 0.05, 10.0))
    max_step: float = field(default=0.1, metadata=param(
        "Longest simulation step (s) when the node falls behind; longer gaps are cut.", 0.005, 1.0))
    qos: str = field(default="sensor_data", metadata=param(
        "Camera and proximity publishers: sensor_data (best effort, as most drivers) or reliable (what "
        "large raw frames need to cross processes intact).", choices=("sensor_data", "reliable")))
    render_workers: int = field(default=1, metadata=param(
        "Camera render processes: 1 renders in the node (frames published at once); 2 or more render in "
        "the background and publish each frame one camera period later, stamped when it was taken.", 1, 8))

    def validate(self) -> SimulatorConfig:
        check_fields(self)
        return self


class SimulatorNode(Node):
    """Steps a SimRobot on a timer at the odometry rate and publishes its sensors at their own rates."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("simulator", **node_kwargs)
        self.cfg = declare_config(self, SimulatorConfig)
        self.profile: RobotProfile = load_profile(self.cfg.profile)
        self.world = generate_world(self.cfg.seed)
        self.robot = SimRobot(self.world, self.profile, self.cfg.seed)
        self.policy = WanderPolicy(self.profile.proximity.obstacle_threshold, self.cfg.seed)
        self.renderer = FrameRenderer(self.world, self.profile.camera, self.cfg.render_workers)
        self._frame: tuple[int, Iterator[Rendered]] | None = None  # (stamp, frame being rendered)
        self._pubs: dict[str, Any] = {}
        self._make_publishers()
        self._cmd: tuple[float, float] | None = None
        self._cmd_ns = 0
        self.create_subscription(Twist, "/cmd_vel", self._on_cmd, 10)
        now = self._now_ns()
        self._last_ns = now
        self._due = {"proximity": now, "camera": now}
        self._periods = {"proximity": int(1e9 / self.profile.proximity.rate_hz),
                         "camera": int(1e9 / self.profile.camera.rate_hz)}
        self.frames_skipped = 0
        self._publish("world", m.string_msg(json.dumps(self.world, separators=(",", ":"))))
        self._timer = self.create_timer(1.0 / self.profile.odometry.rate_hz, self._tick)
        self.get_logger().info(f"world seed {self.cfg.seed} ({len(self.world['obstacles'])} obstacles), "
                               f"profile {self.profile.name}, driver {self.cfg.policy} or /cmd_vel")

    # -- wiring ------------------------------------------------------------------------------------
    def _make_publishers(self) -> None:
        p, sensor, reliable = self.profile, publisher_qos(self.cfg.qos), publisher_qos("reliable")
        cam_cls = Image if p.camera.type == "raw" else CompressedImage
        self._pubs["camera"] = self.create_publisher(cam_cls, p.camera.topic, sensor)
        if p.proximity.source == "laser_scan":
            self._pubs["scan"] = self.create_publisher(LaserScan, p.proximity.scan_topic, sensor)
        for s in p.proximity.sensors if p.proximity.source == "range" else ():
            self._pubs[s.topic] = self.create_publisher(Range, s.topic, sensor)
        self._pubs["odom"] = self.create_publisher(Odometry, p.odometry.topic, reliable)
        self._pubs["truth"] = self.create_publisher(Odometry, TRUTH_TOPIC, reliable)
        self._pubs["world"] = self.create_publisher(String, WORLD_TOPIC, LATCHED)
        self._pubs["clock"] = self.create_publisher(Clock, "/clock", reliable)
        try:
            tf_cls = msg_class("tf2_msgs/msg/TFMessage")
        except MessageError as err:
            self.get_logger().warning(f"not publishing /tf: {err}")
        else:
            self._pubs["tf"] = self.create_publisher(tf_cls, "/tf", reliable)

    def _publish(self, key: str, msg: Any) -> None:
        """Serialize a rosbags message (same builders as the bag simulator) and publish the bytes."""
        pub = self._pubs.get(key)
        if pub is not None:
            pub.publish(bytes(TYPESTORE.serialize_cdr(msg, msg.__msgtype__)))

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_cmd(self, msg: Twist) -> None:
        self._cmd = (float(msg.linear.x), float(msg.angular.z))
        self._cmd_ns = self._now_ns()

    # -- simulation --------------------------------------------------------------------------------
    def _tick(self) -> None:
        t_ns = self._now_ns()
        dt = min((t_ns - self._last_ns) / 1e9, self.cfg.max_step)
        self._last_ns = t_ns
        self.robot.step(dt)
        self._publish_motion(t_ns)
        if t_ns >= self._due["proximity"]:
            self._advance("proximity", t_ns)
            readings = self.robot.read_proximity()
            self._publish_proximity(t_ns, readings)
            self.robot.step(0.0, self._command(t_ns, readings))
        if t_ns >= self._due["camera"]:
            self.frames_skipped += self._advance("camera", t_ns)
            if self._frame is not None:  # rendered in the background since the last camera tick
                self._publish_camera(*self._frame)
            self._frame = (t_ns, self.renderer.submit([self.robot.true_pose]))
            if self.cfg.render_workers == 1:
                self._publish_camera(*self._frame)
                self._frame = None

    def _advance(self, stream: str, t_ns: int) -> int:
        """Schedule the stream's next tick; returns how many ticks were missed (skipped, not replayed)."""
        period = self._periods[stream]
        missed = (t_ns - self._due[stream]) // period
        self._due[stream] += (missed + 1) * period
        return int(missed)

    def _command(self, t_ns: int, readings: np.ndarray) -> tuple[float, float]:
        if self._cmd is not None and t_ns - self._cmd_ns <= self.cfg.cmd_timeout * 1e9:
            return self._cmd
        if self.cfg.policy == "stop":
            return 0.0, 0.0
        return self.policy.command(t_ns / 1e9, readings, self.robot.odometry, self.robot.bumped)

    def _publish_motion(self, t_ns: int) -> None:
        odo = self.profile.odometry
        v, w = self.robot.velocity
        ox, oy, oyaw = self.robot.odometry
        tx, ty, tyaw = self.robot.true_pose
        sec, nsec = divmod(t_ns, 1_000_000_000)
        self._publish("clock", CLOCK(clock=m.Time(sec=sec, nanosec=nsec)))
        self._publish("odom", m.odometry_msg(t_ns, odo.odom_frame, odo.base_frame, ox, oy, oyaw, v, w))
        self._publish("tf", m.tf_msg(t_ns, [(odo.odom_frame, odo.base_frame, ox, oy, oyaw)]))
        self._publish("truth", m.odometry_msg(t_ns, WORLD_FRAME, odo.base_frame, tx, ty, tyaw, v, w,
                                                  pose_var=0.0))

    def _publish_proximity(self, t_ns: int, readings: np.ndarray) -> None:
        prox = self.profile.proximity
        if prox.source == "laser_scan":
            beams = {s.beam: s.yaw for s in prox.sensors}
            lo, hi = min(beams), max(beams)
            inc = (beams[hi] - beams[lo]) / (hi - lo) if hi > lo else 0.0
            values = np.full(hi + 1, np.nan)
            for s, r in zip(prox.sensors, readings, strict=True):
                values[s.beam] = r
            self._publish("scan", m.scan_msg(t_ns, self.profile.odometry.base_frame, values,
                                                 beams[lo] - lo * inc, inc, prox.max_range))
            return
        for s, r in zip(prox.sensors, readings, strict=True):
            self._publish(s.topic, m.range_msg(t_ns, prox.frame_prefix + s.name, float(r), prox.max_range,
                                                   fov=SENSOR_FOV))

    def _publish_camera(self, t_ns: int, frame: Iterator[Rendered]) -> None:
        cam = self.profile.camera
        data, _, _ = next(frame)  # RGB array (raw) or encoded bytes (compressed)
        if cam.type == "raw":
            self._publish("camera", m.image_msg(t_ns, cam.frame_id, data, cam.encoding))
        else:
            msg = m.CompressedImage(header=m.header(t_ns, cam.frame_id), format=cam.encoding, data=data)
            self._publish("camera", msg)

    def close(self) -> None:
        self.destroy_timer(self._timer)
        self.renderer.close()
        self.robot.close()
        self.get_logger().info(f"simulator stopped ({self.frames_skipped} camera frames skipped)")


def main(args: Sequence[str] | None = None) -> None:
    main_for(SimulatorNode, args)


if __name__ == "__main__":
    main()
