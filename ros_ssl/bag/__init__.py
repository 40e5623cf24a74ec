"""Bag I/O on rosbags: read rosbag2 (MCAP, sqlite3) and ROS 1 bags, write rosbag2 MCAP. No ROS needed.

Writing has one MCAP writer: ``durable`` (a file that stays valid after a SIGKILL), ``recording``
(a rosbag2 directory of such files, split by size or duration, with its metadata), ``recorder_core``
(a writer thread behind a bounded queue, for live recording) and ``writer`` (``BagWriter``: message
objects in, for the simulator and tests).
"""

from ros_ssl.bag.reader import BagReader, TopicInfo
from ros_ssl.bag.recorder_core import FlushPolicy, RecorderCore
from ros_ssl.bag.recording import RecordingBag, SplitPolicy, TopicSpec
from ros_ssl.bag.writer import BagWriter

__all__ = ["BagReader", "BagWriter", "FlushPolicy", "RecorderCore", "RecordingBag", "SplitPolicy",
           "TopicInfo", "TopicSpec"]
