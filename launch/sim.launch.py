"""Simulate a robot and record it: a bag ``ros-ssl label`` accepts, with ground truth, and no robot.

    ros2 launch ros_ssl sim.launch.py seed:=3 out:=runs/sim_live

Without ``ros2 launch``: ``ros-ssl run sim-record --seed 3 --out runs/sim_live --duration 60``.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, Shutdown
from launch.events.process import ProcessExited
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# Beyond the profile's sensor topics: the simulator's truth and world (for labelling and scoring).
SIM_TOPICS = ["/tf", "/tf_static", "/sim/world", "/sim/ground_truth"]


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
        DeclareLaunchArgument("out", default_value="",
                              description="Bag directory to create; empty: ./recording_<date>_<time>"),
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
            executable="ros-ssl-recorder",
            name="recorder",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile,
                         "out": ParameterValue(LaunchConfiguration("out"), value_type=str),
                         "extra_topics": SIM_TOPICS}],
        ),
    ])
