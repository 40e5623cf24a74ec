"""Record a robot's camera, proximity and odometry topics (per its ros_ssl profile) to a rosbag2 MCAP bag.

    ros2 launch ros_ssl record.launch.py profile:=thymio out:=/data/run1

``Node`` runs ``<prefix>/lib/ros_ssl/ros-ssl-recorder``, which pip (``pip install ros_ssl[ros]``) or
``colcon build`` installs and the ament index finds. Any node exiting ends the launch, and a failed one makes
``ros2 launch`` exit 1. Remap topics as usual, e.g. ``--ros-args -r`` in a ``ros_arguments`` list, or give
the profile YAML your robot's topic names. Without ``ros2 launch``:
``ros-ssl run record --config thymio --out /data/run1``.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, Shutdown
from launch.events.process import ProcessExited
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def _end_on_exit(event: ProcessExited, context: LaunchContext) -> list[Shutdown] | None:
    """Any node exiting ends the launch; a node that fails (non-zero exit, or an executable that cannot
    start) makes ``ros2 launch`` exit 1, which ``launch`` does only for an exception in its event loop."""
    if event.returncode != 0:
        raise RuntimeError(f"{event.action.name} exited with code {event.returncode}")
    return None if context.is_shutdown else [Shutdown(reason=f"{event.action.name} exited")]


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
            package="ros_ssl",
            executable="ros-ssl-recorder",
            name="recorder",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{
                "profile": ParameterValue(LaunchConfiguration("profile"), value_type=str),
                "out": ParameterValue(LaunchConfiguration("out"), value_type=str),
                "flush_interval": ParameterValue(LaunchConfiguration("flush_interval"), value_type=float),
                "max_file_mb": ParameterValue(LaunchConfiguration("max_file_mb"), value_type=int),
                "qos": ParameterValue(LaunchConfiguration("qos"), value_type=str),
            }],
        ),
    ])
