"""Build standard ROS 2 messages as rosbags objects (kilted definitions) for writing bags.

Used by the simulator and by tests that make small bags in ``tmp_path``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ros_ssl.bag.writer import TYPESTORE
from ros_ssl.msgs.images import encode_compressed, encode_raw
from ros_ssl.msgs.poses import quaternion_from_yaw

_T = TYPESTORE.types
Time = _T["builtin_interfaces/msg/Time"]
Header = _T["std_msgs/msg/Header"]
Image = _T["sensor_msgs/msg/Image"]
CompressedImage = _T["sensor_msgs/msg/CompressedImage"]
Range = _T["sensor_msgs/msg/Range"]
LaserScan = _T["sensor_msgs/msg/LaserScan"]
Odometry = _T["nav_msgs/msg/Odometry"]
String = _T["std_msgs/msg/String"]
TFMessage = _T["tf2_msgs/msg/TFMessage"]
TransformStamped = _T["geometry_msgs/msg/TransformStamped"]
Transform = _T["geometry_msgs/msg/Transform"]
Vector3 = _T["geometry_msgs/msg/Vector3"]
Quaternion = _T["geometry_msgs/msg/Quaternion"]
Point = _T["geometry_msgs/msg/Point"]
Pose = _T["geometry_msgs/msg/Pose"]
PoseWithCovariance = _T["geometry_msgs/msg/PoseWithCovariance"]
Twist = _T["geometry_msgs/msg/Twist"]
TwistWithCovariance = _T["geometry_msgs/msg/TwistWithCovariance"]

INFRARED = 1


def header(stamp_ns: int, frame_id: str) -> Header:
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    return Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=frame_id)


def image_msg(stamp_ns: int, frame_id: str, rgb: np.ndarray, encoding: str = "rgb8") -> Image:
    h, w, enc, step, data = encode_raw(rgb, encoding)
    return Image(header=header(stamp_ns, frame_id), height=h, width=w, encoding=enc, is_bigendian=0,
                 step=step, data=data)


def compressed_msg(stamp_ns: int, frame_id: str, rgb: np.ndarray, fmt: str = "jpeg",
                   quality: int = 90) -> CompressedImage:
    return CompressedImage(header=header(stamp_ns, frame_id), format=fmt,
                           data=encode_compressed(rgb, fmt, quality))


def range_msg(stamp_ns: int, frame_id: str, value: float, max_range: float, min_range: float = 0.0,
              fov: float = 0.3) -> Range:
    return Range(header=header(stamp_ns, frame_id), radiation_type=INFRARED, field_of_view=fov,
                 min_range=min_range, max_range=max_range, range=float(value), variance=0.0)


def scan_msg(stamp_ns: int, frame_id: str, values: Sequence[float], angle_min: float, angle_increment: float,
             range_max: float, range_min: float = 0.0) -> LaserScan:
    n = len(values)
    return LaserScan(header=header(stamp_ns, frame_id), angle_min=angle_min,
                     angle_max=angle_min + angle_increment * max(n - 1, 0), angle_increment=angle_increment,
                     time_increment=0.0, scan_time=0.0, range_min=range_min, range_max=range_max,
                     ranges=np.asarray(values, np.float32), intensities=np.zeros(0, np.float32))


def _pose(x: float, y: float, yaw: float) -> Pose:
    qx, qy, qz, qw = quaternion_from_yaw(yaw)
    return Pose(position=Point(x=x, y=y, z=0.0), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def odometry_msg(stamp_ns: int, frame_id: str, child_frame_id: str, x: float, y: float, yaw: float,
                 v: float = 0.0, w: float = 0.0, pose_var: float = 1e-4) -> Odometry:
    cov = np.zeros(36)
    cov[[0, 7, 35]] = pose_var
    cov[[14, 21, 28]] = 1e6  # z, roll, pitch unobserved on a planar robot
    twist = Twist(linear=Vector3(x=v, y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=w))
    return Odometry(header=header(stamp_ns, frame_id), child_frame_id=child_frame_id,
                    pose=PoseWithCovariance(pose=_pose(x, y, yaw), covariance=cov),
                    twist=TwistWithCovariance(twist=twist, covariance=cov.copy()))


def tf_msg(stamp_ns: int, transforms: Sequence[tuple[str, str, float, float, float]]) -> TFMessage:
    """TFMessage of planar transforms (parent, child, x, y, yaw)."""
    out = []
    for parent, child, x, y, yaw in transforms:
        qx, qy, qz, qw = quaternion_from_yaw(yaw)
        out.append(TransformStamped(header=header(stamp_ns, parent), child_frame_id=child,
                                    transform=Transform(translation=Vector3(x=x, y=y, z=0.0),
                                                        rotation=Quaternion(x=qx, y=qy, z=qz, w=qw))))
    return TFMessage(transforms=out)


def string_msg(text: str) -> String:
    return String(data=text)


__all__ = [
    "compressed_msg", "header", "image_msg", "odometry_msg", "range_msg", "scan_msg", "string_msg", "tf_msg",
]
