"""Simulate a robot and record it: a bag ``ros-ssl label`` accepts, with ground truth, and no robot.

    ros2 launch launch/sim.launch.py seed:=3 out:=runs/sim_live

Without ``ros2 launch``: ``ros-ssl run sim-record --seed 3 --out runs/sim_live --duration 60``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# Beyond the profile's sensor topics: the simulator's truth and world (for labelling and scoring).
SIM_TOPICS = ["/tf", "/tf_static", "/sim/world", "/sim/ground_truth"]


def generate_launch_description() -> LaunchDescription:
    profile = ParameterValue(LaunchConfiguration("profile"), value_type=str)
    return LaunchDescription([
        DeclareLaunchArgument("profile", default_value="sim",
                              description="Robot profile: built-in name or YAML path"),
        DeclareLaunchArgument("seed", default_value="0", description="World seed"),
        DeclareLaunchArgument("out", default_value="",
                              description="Bag directory to create; empty: ./recording_<date>_<time>"),
        Node(
            executable="ros-ssl-simulator",
            name="simulator",
            output="screen",
            parameters=[{"profile": profile,
                         "seed": ParameterValue(LaunchConfiguration("seed"), value_type=int)}],
        ),
        Node(
            executable="ros-ssl-recorder",
            name="recorder",
            output="screen",
            parameters=[{"profile": profile,
                         "out": ParameterValue(LaunchConfiguration("out"), value_type=str),
                         "extra_topics": SIM_TOPICS}],
        ),
    ])
