"""Bag I/O on rosbags: read rosbag2 (MCAP, sqlite3) and ROS 1 bags, write rosbag2 MCAP. No ROS needed."""

from ros_ssl.bag.reader import BagReader, TopicInfo
from ros_ssl.bag.writer import BagWriter

__all__ = ["BagReader", "BagWriter", "TopicInfo"]
