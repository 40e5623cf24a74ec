"""Build standard ROS 2 messages as rosbags objects (kilted definitions) for writing bags.

Used by the simulator and by tests that make small bags in ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The kilted classes are the ones ros_ssl.bag.writer.TYPESTORE serialises; imported by name they type-check.
from rosbags.typesys.stores.ros2_kilted import builtin_interfaces__msg__Time as Time
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__Point as Point
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__Pose as Pose
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__PoseWithCovariance as PoseWithCovariance
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__Quaternion as Quaternion
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__Transform as Transform
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__TransformStamped as TransformStamped
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__Twist as Twist
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__TwistWithCovariance as TwistWithCovariance
from rosbags.typesys.stores.ros2_kilted import geometry_msgs__msg__Vector3 as Vector3
from rosbags.typesys.stores.ros2_kilted import nav_msgs__msg__Odometry as Odometry
from rosbags.typesys.stores.ros2_kilted import sensor_msgs__msg__CompressedImage as CompressedImage
from rosbags.typesys.stores.ros2_kilted import sensor_msgs__msg__Image as Image
from rosbags.typesys.stores.ros2_kilted import sensor_msgs__msg__LaserScan as LaserScan
from rosbags.typesys.stores.ros2_kilted import sensor_msgs__msg__Range as Range
from rosbags.typesys.stores.ros2_kilted import std_msgs__msg__Header as Header
from rosbags.typesys.stores.ros2_kilted import std_msgs__msg__String as String
from rosbags.typesys.stores.ros2_kilted import tf2_msgs__msg__TFMessage as TFMessage

from ros_ssl.msgs.images import encode_compressed, encode_raw
from ros_ssl.msgs.poses import quaternion_from_yaw

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


def scan_msg(stamp_ns: int, frame_id: str, values: Sequence[float] | np.ndarray, angle_min: float,
             angle_increment: float, range_max: float, range_min: float = 0.0) -> LaserScan:
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


def twist_msg(v: float, w: float) -> Twist:
    """A velocity command (/cmd_vel): forward ``v`` m/s, turning ``w`` rad/s."""
    return Twist(linear=Vector3(x=float(v), y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=float(w)))


def string_msg(text: str) -> String:
    return String(data=text)


__all__ = [
    "INFRARED", "CompressedImage", "Header", "Image", "LaserScan", "Odometry", "Point", "Pose",
    "PoseWithCovariance", "Quaternion", "Range", "String", "TFMessage", "Time", "Transform",
    "TransformStamped", "Twist", "TwistWithCovariance", "Vector3",
    "compressed_msg", "header", "image_msg", "odometry_msg", "range_msg", "scan_msg", "string_msg", "tf_msg",
    "twist_msg",
]
