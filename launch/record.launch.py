"""Record a robot's camera, proximity and odometry topics (per its ros_ssl profile) to a rosbag2 MCAP bag.

    ros2 launch launch/record.launch.py profile:=thymio out:=/data/run1

The nodes are pip-installed console scripts (``pip install ros_ssl[ros]``), so ``Node`` names no
package and runs the executable from PATH. Remap topics as usual, e.g. ``--ros-args -r`` in a
``ros_arguments`` list, or give the profile YAML your robot's topic names. Without ``ros2 launch``:
``ros-ssl run record --config thymio --out /data/run1``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("profile", default_value="thymio",
                              description="Robot profile: built-in name or YAML path"),
        DeclareLaunchArgument("out", default_value="",
                              description="Bag directory to create; empty: ./recording_<date>_<time>"),
        DeclareLaunchArgument("flush_interval", default_value="1.0",
                              description="Seconds between commits: the most a crash can lose"),
        DeclareLaunchArgument("max_file_mb", default_value="512",
                              description="Split files at this size (MiB)"),
        DeclareLaunchArgument("qos", default_value="auto",
                              description="Sensor QoS: auto (match publishers), sensor_data, reliable"),
        Node(
            executable="ros-ssl-recorder",
            name="recorder",
            output="screen",
            parameters=[{
                "profile": ParameterValue(LaunchConfiguration("profile"), value_type=str),
                "out": ParameterValue(LaunchConfiguration("out"), value_type=str),
                "flush_interval": ParameterValue(LaunchConfiguration("flush_interval"), value_type=float),
                "max_file_mb": ParameterValue(LaunchConfiguration("max_file_mb"), value_type=int),
                "qos": ParameterValue(LaunchConfiguration("qos"), value_type=str),
            }],
        ),
    ])
