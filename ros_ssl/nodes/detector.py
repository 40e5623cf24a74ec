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
- ``~/geometry`` once (std_msgs/String JSON, transient local): sensors, distances, threshold;
- ``~/model`` (std_msgs/String JSON, transient local): the running model's id, path and SHA-256, and the
  last swap's figures (``ros_ssl.edge.swap.ModelSwapper.status``), after start and every swap attempt.

Hot swap: with ``models_dir`` the node watches ``models_dir/current`` (a symlink or pointer file naming
``models_dir/<model-id>``); setting ``model`` at runtime (``ros2 param set /detector model DIR``) loads that
package. Either way the new package is loaded, verified and warmed up in a background thread beside the
running model and swapped in between two frames; a broken package is refused with one error line and
the running model stays.

Frames are taken serialized and read in place (``ros_ssl.msgs.cdr``): no rclpy image message is built.

A frame that cannot be decoded, has the wrong shape or is stamped more than ``max_frame_age`` seconds
ago is skipped with a warning. Doubt means stop: a frame whose predictions are not all finite (NaN/inf)
publishes no prediction array (so nothing downstream can read it as "free"), only its Ranges, NaN where
invalid; the controller then stops. When no usable frame came for ``frame_timeout`` seconds the node
logs a warning (and once more when frames come back); it never republishes an old prediction. Every
``report_interval`` the node logs its rate, latency (frame stamp to publish: median, p99) and model time.
"""

from __future__ import annotations

import array
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image, Range
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

from ros_ssl.config.geometry import GeometryKind
from ros_ssl.config.profile import load_profile
from ros_ssl.errors import ConfigError, MessageError
from ros_ssl.msgs.cdr import CompressedImageView, ImageView, parse_compressed_image, parse_image
from ros_ssl.msgs.images import decode_image
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
        "Model package directory (ros-ssl export); overrides the edge config's model and models_dir's "
        "current model. Settable at runtime: the package is loaded beside the running one and swapped in.",
        dynamic=True))
    models_dir: str = field(default="", metadata=param(
        "Models folder to follow: MODELS/current (symlink or pointer file) names MODELS/<model-id>; each "
        "time it changes the new package is loaded and swapped in. Empty = no watching."))
    models_poll: float = field(default=0.5, metadata=param(
        "Seconds between looks at models_dir/current.", 0.05, 60.0))
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
        if not self.model and not self.edge_config and not self.models_dir:
            raise ConfigError("parameter model is empty and no edge_config is given; "
                              "set model:=<package dir>")
        return self


class DetectorNode(Node):
    """Runs the edge model on each camera frame and publishes the predictions."""

    def __init__(self, **node_kwargs: Any) -> None:
        from ros_ssl.edge import EdgeConfig, EdgeModel, load_edge_config
        from ros_ssl.edge.swap import ActiveModel, ModelSwapper, PointerWatcher, package_id, read_current

        super().__init__("detector", **node_kwargs)
        self.cfg = c = declare_config(self, DetectorConfig)
        cv2.setNumThreads(1)  # one frame at a time: OpenCV's worker threads would only add jitter
        profile = load_profile(c.profile)
        edge = load_edge_config(c.edge_config) if c.edge_config else EdgeConfig()
        edge = replace(edge, variant=c.variant or edge.variant,
                       intra_op_threads=c.threads or edge.intra_op_threads)
        self._watcher = PointerWatcher(c.models_dir) if c.models_dir else None
        current = read_current(Path(c.models_dir)) if c.models_dir else None
        if c.models_dir and not c.model and current is None:
            raise ConfigError(f"models_dir {c.models_dir} has no model pointer 'current' (a symlink or file "
                              f"naming {c.models_dir}/<model-id>); publish a model first or set model:=DIR")
        if c.model or current is None:
            first = Path(c.model or edge.model)
            model_id = package_id(first)
        else:
            model_id, first = current
        if self._watcher is not None and current is not None:
            self._watcher.seen = current[0]  # the pointer's model, or one chosen over it with model:=

        def load(path: Path) -> EdgeModel:
            return EdgeModel.from_config(edge, path)

        self._model_pub = self.create_publisher(String, "~/model", LATCHED)
        self.swapper = ModelSwapper(ActiveModel(load(first), model_id, first), load, self._on_swap_status)
        model = self.swapper.active.model
        self.geometry = model.metadata.output.geometry
        shape = model.output_shape
        self._pred = Float32MultiArray()
        self._pred.layout.dim = [MultiArrayDimension(label=label, size=size, stride=stride)
                                 for label, size, stride in layout_dims(self.geometry, shape)]
        self._pred_pub = self.create_publisher(Float32MultiArray, "~/predictions", 10)
        self.create_publisher(String, "~/geometry", LATCHED).publish(
            String(data=geometry_json(self.geometry, c.threshold)))
        self._ranges: list[tuple[Any, Range]] = []
        if c.publish_ranges and self.geometry.kind is GeometryKind.SENSOR_DISTANCE:
            prefix = profile.proximity.frame_prefix
            self._distances = list(self.geometry.distances)
            self._ranges = [(self.create_publisher(Range, f"~/range/{name}", 10),
                             self._range_msg(prefix + name)) for name in self.geometry.sensors]
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 2) if c.debug_image else None
        compressed = profile.camera.type != "raw"
        self._camera = (CompressedImage if compressed else Image, profile.camera.topic)
        self._parse: Callable[[bytes], ImageView | CompressedImageView] = (
            parse_compressed_image if compressed else parse_image)
        self._camera_sub: Any = None
        self._connect_timer = self.create_timer(0.5, self._connect)
        self._connect()
        self.window = LatencyWindow()
        self.frames = self.skipped = self.invalid = 0
        self._watchdog = Watchdog(c.frame_timeout, self.get_clock().now().nanoseconds)
        self.create_timer(c.frame_timeout / 2, self._check_camera)
        if self._watcher is not None:
            self.create_timer(c.models_poll, self._watch_models)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if c.report_interval > 0:
            self.create_timer(c.report_interval, self._report)
        self._publish_status(self.swapper.status())
        self.get_logger().info(f"model {model_id} ({model.package.path}, {model.variant}, "
                               f"{', '.join(model.providers)}), output {shape}, "
                               f"camera {profile.camera.topic}")

    def _range_msg(self, frame: str) -> Range:
        r = Range(radiation_type=INFRARED, field_of_view=0.3, min_range=self._distances[0],
                  max_range=self._distances[-1])
        r.header.frame_id = frame
        return r

    def _connect(self) -> None:
        """Subscribe to the camera; with qos auto, once a publisher shows which QoS it offers."""
        cls, topic = self._camera
        offered = [i.qos_profile for i in self.get_publishers_info_by_topic(self.resolve_topic_name(topic))]
        if self.cfg.qos == "auto" and not offered:
            return
        qos = subscription_qos(self.cfg.qos, offered, self.cfg.qos_depth)
        self._camera_sub = self.create_subscription(cls, topic, self._on_image, qos, raw=True)
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

    # -- model swap -------------------------------------------------------------------------------------
    def _watch_models(self) -> None:
        if self._watcher is None or self.swapper.busy:
            return
        found = self._watcher.check()
        if found is not None:
            self._request(found[1], found[0])

    def _request(self, path: Path, model_id: str) -> bool:
        started = self.swapper.request(path, model_id)
        if started:
            self.get_logger().info(f"loading model {model_id} ({path}) beside {self.swapper.active.model_id}")
        return started

    def _on_set_parameters(self, params: list[Parameter[Any]]) -> SetParametersResult:
        """``model`` may change at runtime (load + swap); the other parameters are read once at start."""
        from ros_ssl.edge.swap import package_id

        for p in params:
            if p.name != "model":
                continue
            path = str(p.value or "")
            if not path:
                return SetParametersResult(successful=False, reason="model must name a package directory")
            if not self._request(Path(path), package_id(Path(path))):
                return SetParametersResult(successful=False,
                                           reason="another model is loading; set model again when it is done")
        return SetParametersResult(successful=True)

    def _on_swap_status(self, status: dict[str, Any], error: str) -> None:
        """After a swap (frame thread) or a refused package (loader thread): log one line, publish status."""
        if error:
            self.get_logger().error(error)
        else:
            self.get_logger().info(f"swapped to model {status['model_id']} (sha256 {status['sha256'][:12]}) "
                                   f"in {status['swap_ms']:.0f} ms, between two frames "
                                   f"({status['frames_dropped_during_swap']} frames dropped)")
        self._publish_status(status)

    def _publish_status(self, status: dict[str, Any]) -> None:
        self._model_pub.publish(String(data=json.dumps(status, separators=(",", ":"))))

    # -- frames -----------------------------------------------------------------------------------------
    def _on_image(self, data: bytes) -> None:
        t0 = time.perf_counter()
        model = self.swapper.take()
        self.swapper.frame_in()
        try:
            msg = self._parse(data)
        except MessageError as err:
            self.skipped += 1
            self.get_logger().warning(f"skipped a camera frame: {err}", throttle_duration_sec=5.0)
            return
        age_s = (self.get_clock().now().nanoseconds - msg.stamp.ns) / 1e9
        if self.cfg.max_frame_age and age_s > self.cfg.max_frame_age:
            self.skipped += 1
            self.get_logger().warning(f"skipped a camera frame: stamped {age_s:.2f} s ago, more than "
                                      f"max_frame_age {self.cfg.max_frame_age} s (a bag replayed without "
                                      f"its clock? set max_frame_age:=0)", throttle_duration_sec=5.0)
            return
        try:
            rgb = decode_image(msg)
            probs = model.predict(rgb)
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
        stamp = Time(sec=msg.stamp.sec, nanosec=msg.stamp.nanosec)
        if not np.isfinite(probs).all():
            self.invalid += 1
            self._publish_ranges(stamp, probs)
            self.get_logger().error("the model's output for a frame is not finite (NaN/inf): no predictions "
                                    "published for it, ranges marked invalid (NaN)",
                                    throttle_duration_sec=5.0)
            return
        self._publish(stamp, msg.frame_id, probs, rgb)
        self.swapper.prediction_out()
        now_ns = self.get_clock().now().nanoseconds
        self._watchdog.feed(now_ns)
        self.frames += 1
        self.window.add(now_ns / 1e9, (now_ns - msg.stamp.ns) / 1e9, infer_s)

    def _publish(self, stamp: Time, frame_id: str, probs: np.ndarray, rgb: np.ndarray) -> None:
        self._pred.data = array.array("f", probs.astype(np.float32, copy=False).tobytes())
        self._pred_pub.publish(self._pred)
        self._publish_ranges(stamp, probs)
        if self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0:
            from ros_ssl.edge.overlay import draw_overlay

            img = draw_overlay(rgb, probs, self.geometry)
            dbg = Image(height=img.shape[0], width=img.shape[1], encoding="rgb8", step=img.shape[1] * 3,
                        data=img.tobytes())
            dbg.header.stamp = stamp
            dbg.header.frame_id = frame_id
            self._debug_pub.publish(dbg)

    def _publish_ranges(self, stamp: Time, probs: np.ndarray) -> None:
        """One Range per sensor (REP 117: +inf = nothing ahead, NaN = invalid reading)."""
        if self._ranges:
            nearest = nearest_obstacle(probs, self._distances, self.cfg.threshold)
            for (pub, r), value in zip(self._ranges, nearest, strict=True):
                r.header.stamp = stamp
                r.range = float(value)
                pub.publish(r)

    def _report(self) -> None:
        s = self.window.summary()
        self.get_logger().info(f"{self.frames} frames ({self.skipped} skipped, {self.invalid} not finite), "
                               f"{s.hz:.1f} Hz, "
                               f"latency median {s.median_ms:.1f} ms p99 {s.p99_ms:.1f} ms, "
                               f"model {s.infer_ms:.1f} ms")

    def close(self) -> None:
        self.swapper.join(timeout=30.0)
        s = self.window.summary()
        self.get_logger().info(f"detector stopped: {self.frames} frames, {self.skipped} skipped, "
                               f"{self.invalid} not finite, "
                               f"latency median {s.median_ms:.1f} ms p99 {s.p99_ms:.1f} ms")


def main(args: Sequence[str] | None = None) -> None:
    main_for(DetectorNode, args)


if __name__ == "__main__":
    main()
