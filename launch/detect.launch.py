"""Run the obstacle detector on a robot: camera in, predictions out (see ros_ssl.nodes.detector).

    ros2 launch ros_ssl detect.launch.py profile:=thymio model:=/models/model debug_image:=true

``model`` is a package made by ``ros-ssl export``; ``edge_config`` (edge/config.yaml) sets providers,
threads and TensorRT. Without ``ros2 launch``: ``ros-ssl run detect --config thymio --model /models/model``.
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
        DeclareLaunchArgument("model", description="Model package directory (ros-ssl export --out)"),
        DeclareLaunchArgument("edge_config", default_value="",
                              description="Edge runtime YAML (providers, threads, TensorRT)"),
        DeclareLaunchArgument("threshold", default_value="0.5",
                              description="Obstacle probability threshold for the Range outputs"),
        DeclareLaunchArgument("debug_image", default_value="false",
                              description="Publish the camera frame with the predictions drawn"),
        Node(
            package="ros_ssl",
            executable="ros-ssl-detector",
            name="detector",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{
                "profile": ParameterValue(LaunchConfiguration("profile"), value_type=str),
                "model": ParameterValue(LaunchConfiguration("model"), value_type=str),
                "edge_config": ParameterValue(LaunchConfiguration("edge_config"), value_type=str),
                "threshold": ParameterValue(LaunchConfiguration("threshold"), value_type=float),
                "debug_image": ParameterValue(LaunchConfiguration("debug_image"), value_type=bool),
            }],
        ),
    ])
