"""Close the loop in simulation: the simulated robot drives from the detector's predictions alone.

    ros2 launch ros_ssl sim_detect.launch.py model:=runs/demo/model seed:=5

The controller publishes /cmd_vel, which the simulator obeys while commands keep arriving. Without
``ros2 launch``: ``ros-ssl run sim-detect --model runs/demo/model --seed 5``.
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
    profile = ParameterValue(LaunchConfiguration("profile"), value_type=str)
    return LaunchDescription([
        DeclareLaunchArgument("profile", default_value="sim",
                              description="Robot profile: built-in name or YAML path"),
        DeclareLaunchArgument("seed", default_value="0", description="World seed"),
        DeclareLaunchArgument("model", description="Model package directory (ros-ssl export --out)"),
        DeclareLaunchArgument("max_speed", default_value="0.1", description="Controller top speed (m/s)"),
        Node(
            package="ros_ssl",
            executable="ros-ssl-simulator",
            name="simulator",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile,
                         "seed": ParameterValue(LaunchConfiguration("seed"), value_type=int)}],
        ),
        Node(
            package="ros_ssl",
            executable="ros-ssl-detector",
            name="detector",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile,
                         "model": ParameterValue(LaunchConfiguration("model"), value_type=str)}],
        ),
        Node(
            package="ros_ssl",
            executable="ros-ssl-controller",
            name="controller",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile,
                         "max_speed": ParameterValue(LaunchConfiguration("max_speed"), value_type=float)}],
        ),
    ])
