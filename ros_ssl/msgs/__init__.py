"""Message conversion between ROS messages and numpy, for any message object with ROS field names.

Works on rosbags-deserialised messages and on rclpy messages alike (duck typing on field names),
so the nodes and the offline tools share one conversion.
"""

from ros_ssl.msgs.images import decode_image, encode_compressed, encode_raw
from ros_ssl.msgs.poses import quaternion_from_yaw, yaw_from_quaternion
from ros_ssl.msgs.ranges import range_reading, scan_readings

__all__ = [
    "decode_image",
    "encode_compressed",
    "encode_raw",
    "quaternion_from_yaw",
    "range_reading",
    "scan_readings",
    "yaw_from_quaternion",
]
