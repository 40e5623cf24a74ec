"""Close the loop in simulation: the simulated robot drives from the detector's predictions alone.

    ros2 launch launch/sim_detect.launch.py model:=runs/demo/model seed:=5

The controller publishes /cmd_vel, which the simulator obeys while commands keep arriving. Without
``ros2 launch``: ``ros-ssl run sim-detect --model runs/demo/model --seed 5``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    profile = ParameterValue(LaunchConfiguration("profile"), value_type=str)
    return LaunchDescription([
        DeclareLaunchArgument("profile", default_value="sim",
                              description="Robot profile: built-in name or YAML path"),
        DeclareLaunchArgument("seed", default_value="0", description="World seed"),
        DeclareLaunchArgument("model", description="Model package directory (ros-ssl export --out)"),
        DeclareLaunchArgument("max_speed", default_value="0.1", description="Controller top speed (m/s)"),
        Node(
            executable="ros-ssl-simulator",
            name="simulator",
            output="screen",
            parameters=[{"profile": profile,
                         "seed": ParameterValue(LaunchConfiguration("seed"), value_type=int)}],
        ),
        Node(
            executable="ros-ssl-detector",
            name="detector",
            output="screen",
            parameters=[{"profile": profile,
                         "model": ParameterValue(LaunchConfiguration("model"), value_type=str)}],
        ),
        Node(
            executable="ros-ssl-controller",
            name="controller",
            output="screen",
            parameters=[{"profile": profile,
                         "max_speed": ParameterValue(LaunchConfiguration("max_speed"), value_type=float)}],
        ),
    ])
