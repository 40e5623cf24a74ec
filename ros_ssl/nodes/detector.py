"""Detector node: camera frames in, obstacle predictions out, through the torch-free edge runtime.

Example::

    ros-ssl-detector --ros-args -p profile:=thymio -p model:=/models/model -p debug_image:=true

Subscribes to the profile's camera topic (Image or CompressedImage) and publishes, per frame:

- ``~/predictions`` (std_msgs/Float32MultiArray): the model's probabilities, layout in
  ``ros_ssl.nodes.predictions`` (dims "sensor" x "distance", row-major);
- ``~/range/<sensor>`` (sensor_msgs/Range, sensor_distance models): the nearest distance ahead whose
  probability exceeds ``threshold``, +inf if none, NaN if that sensor's probabilities are not all finite
  (REP 117: an invalid reading), stamped with the camera frame's stamp;
- ``~/debug_image`` (sensor_msgs/Image, rgb8, if ``debug_image``): the frame with the predictions drawn;
- ``~/geometry`` once (std_msgs/String JSON, transient local): sensors, distances, threshold.

A frame that cannot be decoded, has the wrong shape or is stamped more than ``max_frame_age`` seconds
ago is skipped with a warning. Doubt means stop: a frame whose predictions are not all finite (NaN/inf)
publishes no prediction array (so nothing downstream can read it as "free"), only its Ranges, NaN where
invalid; the controller then stops. When no usable frame came for ``frame_timeout`` seconds the node
logs a warning (and once more when frames come back); it never republishes an old prediction. Every
``report_interval`` the node logs its rate, latency (frame stamp to publish: median, p99) and model time.
"""

from __future__ import annotations

import array
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, Range
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

from ros_ssl.config.geometry import GeometryKind
from ros_ssl.config.profile import load_profile
from ros_ssl.errors import ConfigError, MessageError
from ros_ssl.msgs.images import decode_image
from ros_ssl.msgs.poses import stamp_ns
from ros_ssl.nodes.params import check_fields, declare_config, param
from ros_ssl.nodes.predictions import LatencyWindow, geometry_json, layout_dims, nearest_obstacle
from ros_ssl.nodes.qos import LATCHED, QOS_CHOICES, subscription_qos
from ros_ssl.nodes.runtime import main_for
from ros_ssl.nodes.watchdog import Watchdog

INFRARED = 1


@dataclass(frozen=True)
class DetectorConfig:
    profile: str = field(default="sim", metadata=param(
        "Robot profile (built-in name or YAML path): the camera topic and the proximity sensor frames."))
    model: str = field(default="", metadata=param(
        "Model package directory (ros-ssl export); overrides the edge config's model."))
    edge_config: str = field(default="", metadata=param(
        "Edge runtime YAML (edge/config.yaml: model, variant, providers, threads, TensorRT); "
        "empty = defaults."))
    variant: str = field(default="", metadata=param(
        "Model variant; empty = the edge config's (fp32 by default).", choices=("", "fp32", "fp16", "int8")))
    threads: int = field(default=0, metadata=param(
        "ONNX Runtime intra-op threads; 0 = the edge config's.", 0, 64))
    threshold: float = field(default=0.5, metadata=param(
        "Probability above which a cell counts as an obstacle (for the Range outputs).", 0.0, 1.0))
    publish_ranges: bool = field(default=True, metadata=param(
        "Publish a sensor_msgs/Range per sensor at the nearest predicted obstacle."))
    debug_image: bool = field(default=False, metadata=param(
        "Publish the frame with the predictions drawn over it (costs a few ms per frame)."))
    qos: str = field(default="auto", metadata=param(
        "Camera subscription QoS: auto (reliable if the camera publishes reliably; subscribes once it "
        "appears), sensor_data (best effort) or reliable.", choices=QOS_CHOICES))
    qos_depth: int = field(default=1, metadata=param(
        "Camera queue depth; 1 = always work on the newest frame.", 1, 100))
    frame_timeout: float = field(default=0.5, metadata=param(
        "Warn when no usable camera frame came for this long (s).", 0.05, 60.0))
    max_frame_age: float = field(default=1.0, metadata=param(
        "Skip frames stamped longer ago than this (s): their predictions would be late; 0 = never "
        "(e.g. a bag replayed without its clock).", 0.0, 3600.0))
    report_interval: float = field(default=5.0, metadata=param(
        "Seconds between rate/latency reports in the log; 0 = never.", 0.0, 3600.0))

    def validate(self) -> DetectorConfig:
        check_fields(self)
        if not self.model and not self.edge_config:
            raise ConfigError("parameter model is empty and no edge_config is given; "
                              "set model:=<package dir>")
        return self


class DetectorNode(Node):
    """Runs the edge model on each camera frame and publishes the predictions."""

    def __init__(self, **node_kwargs: Any) -> None:
        from ros_ssl.edge import EdgeConfig, EdgeModel, load_edge_config

        super().__init__("detector", **node_kwargs)
        self.cfg = c = declare_config(self, DetectorConfig)
        profile = load_profile(c.profile)
        edge = load_edge_config(c.edge_config) if c.edge_config else EdgeConfig()
        edge = replace(edge, model=c.model or edge.model, variant=c.variant or edge.variant,
                       intra_op_threads=c.threads or edge.intra_op_threads)
        self.model = EdgeModel.from_config(edge)
        self.geometry = self.model.metadata.output.geometry
        shape = self.model.output_shape
        self._layout = [MultiArrayDimension(label=label, size=size, stride=stride)
                        for label, size, stride in layout_dims(self.geometry, shape)]
        self._pred_pub = self.create_publisher(Float32MultiArray, "~/predictions", 10)
        self.create_publisher(String, "~/geometry", LATCHED).publish(
            String(data=geometry_json(self.geometry, c.threshold)))
        self._ranges: list[tuple[Any, str]] = []
        if c.publish_ranges and self.geometry.kind is GeometryKind.SENSOR_DISTANCE:
            prefix = profile.proximity.frame_prefix
            self._distances = list(self.geometry.distances)
            self._ranges = [(self.create_publisher(Range, f"~/range/{name}", 10), prefix + name)
                            for name in self.geometry.sensors]
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 2) if c.debug_image else None
        self._camera = (Image if profile.camera.type == "raw" else CompressedImage, profile.camera.topic)
        self._camera_sub: Any = None
        self._connect_timer = self.create_timer(0.5, self._connect)
        self._connect()
        self.window = LatencyWindow()
        self.frames = self.skipped = self.invalid = 0
        self._watchdog = Watchdog(c.frame_timeout, self.get_clock().now().nanoseconds)
        self.create_timer(c.frame_timeout / 2, self._check_camera)
        if c.report_interval > 0:
            self.create_timer(c.report_interval, self._report)
        self.get_logger().info(f"model {self.model.package.path} ({self.model.variant}, "
                               f"{', '.join(self.model.providers)}), output {shape}, "
                               f"camera {profile.camera.topic}")

    def _connect(self) -> None:
        """Subscribe to the camera; with qos auto, once a publisher shows which QoS it offers."""
        cls, topic = self._camera
        offered = [i.qos_profile for i in self.get_publishers_info_by_topic(self.resolve_topic_name(topic))]
        if self.cfg.qos == "auto" and not offered:
            return
        qos = subscription_qos(self.cfg.qos, offered, self.cfg.qos_depth)
        self._camera_sub = self.create_subscription(cls, topic, self._on_image, qos)
        self.destroy_timer(self._connect_timer)
        self.get_logger().info(f"subscribed to {self._camera_sub.topic_name} "
                               f"({qos.reliability.name.lower()}, depth {qos.depth})")

    def _check_camera(self) -> None:
        now = self.get_clock().now().nanoseconds
        alarm = self._watchdog.alarm(now)
        if alarm:
            self.get_logger().warning(f"no usable camera frame on {self._camera[1]} for "
                                      f"{self._watchdog.silent_s(now):.1f} s: no predictions are published "
                                      f"(the controller stops)")
        elif alarm is False:
            self.get_logger().info(f"camera frames on {self._camera[1]} again: publishing predictions")

    def _on_image(self, msg: Any) -> None:
        t0 = time.perf_counter()
        age_s = (self.get_clock().now().nanoseconds - stamp_ns(msg.header)) / 1e9
        if self.cfg.max_frame_age and age_s > self.cfg.max_frame_age:
            self.skipped += 1
            self.get_logger().warning(f"skipped a camera frame: stamped {age_s:.2f} s ago, more than "
                                      f"max_frame_age {self.cfg.max_frame_age} s (a bag replayed without "
                                      f"its clock? set max_frame_age:=0)", throttle_duration_sec=5.0)
            return
        try:
            rgb = decode_image(msg)
            probs = self.model.predict(rgb)
        except MessageError as err:
            self.skipped += 1
            self.get_logger().warning(f"skipped a camera frame: {err}", throttle_duration_sec=5.0)
            return
        except Exception as err:  # noqa: BLE001 - e.g. a GPU provider error must not stop the node
            self.skipped += 1
            self.get_logger().error(f"inference failed on a frame ({type(err).__name__}: {err}); skipped",
                                    throttle_duration_sec=5.0)
            return
        infer_s = time.perf_counter() - t0
        if not np.isfinite(probs).all():
            self.invalid += 1
            self._publish_ranges(msg.header, probs)
            self.get_logger().error("the model's output for a frame is not finite (NaN/inf): no predictions "
                                    "published for it, ranges marked invalid (NaN)",
                                    throttle_duration_sec=5.0)
            return
        self._publish(msg.header, probs, rgb)
        now_ns = self.get_clock().now().nanoseconds
        self._watchdog.feed(now_ns)
        self.frames += 1
        self.window.add(now_ns / 1e9, (now_ns - stamp_ns(msg.header)) / 1e9, infer_s)

    def _publish(self, header: Any, probs: np.ndarray, rgb: np.ndarray) -> None:
        out = Float32MultiArray()
        out.layout.dim = self._layout
        out.data = array.array("f", probs.astype(np.float32).ravel().tobytes())
        self._pred_pub.publish(out)
        self._publish_ranges(header, probs)
        if self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0:
            from ros_ssl.edge.overlay import draw_overlay

            img = draw_overlay(rgb, probs, self.geometry)
            dbg = Image(height=img.shape[0], width=img.shape[1], encoding="rgb8", step=img.shape[1] * 3,
                        data=img.tobytes())
            dbg.header = header
            self._debug_pub.publish(dbg)

    def _publish_ranges(self, header: Any, probs: np.ndarray) -> None:
        """One Range per sensor (REP 117: +inf = nothing ahead, NaN = invalid reading)."""
        if self._ranges:
            nearest = nearest_obstacle(probs, self._distances, self.cfg.threshold)
            for (pub, frame), value in zip(self._ranges, nearest, strict=True):
                r = Range(radiation_type=INFRARED, field_of_view=0.3, min_range=self._distances[0],
                          max_range=self._distances[-1], range=float(value))
                r.header.stamp, r.header.frame_id = header.stamp, frame
                pub.publish(r)

    def _report(self) -> None:
        s = self.window.summary()
        self.get_logger().info(f"{self.frames} frames ({self.skipped} skipped, {self.invalid} not finite), "
                               f"{s.hz:.1f} Hz, "
                               f"latency median {s.median_ms:.1f} ms p99 {s.p99_ms:.1f} ms, "
                               f"model {s.infer_ms:.1f} ms")

    def close(self) -> None:
        s = self.window.summary()
        self.get_logger().info(f"detector stopped: {self.frames} frames, {self.skipped} skipped, "
                               f"{self.invalid} not finite, "
                               f"latency median {s.median_ms:.1f} ms p99 {s.p99_ms:.1f} ms")


def main(args: Sequence[str] | None = None) -> None:
    main_for(DetectorNode, args)


if __name__ == "__main__":
    main()
