"""The robot side of the learning loop: record and hand bags over, detect with the newest model, drive.

    ros2 launch ros_ssl robot_loop.launch.py profile:=thymio drop:=/data/drop models:=/data/models

The recorder closes a bag every ``split_s`` seconds and moves it, complete, into ``drop`` (the learner,
``ros-ssl learn``, picks it up there, or a sync carries it to the workstation); the detector runs the
package ``models/current`` names and swaps to a new one between two frames when the learner publishes
it; the controller drives from the predictions, and now and then (``explore``) leaves the robot to
its own driver for a spell (on a robot without one, it stands still), keeping its collision circle
(``footprint_x``, ``footprint_radius``: set them for your robot) clear of the predicted obstacles it
remembers for ``memory_s`` seconds, and turning away when wedged for ``stall_s`` seconds.
``models/current`` must exist at start (publish a first model with ``ros-ssl learn --once``). In
simulation: ``ros-ssl run sim-loop --rounds 3 --out DIR`` (these nodes plus the simulator and the learner).
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


def _arg(name: str, kind: type) -> ParameterValue:
    return ParameterValue(LaunchConfiguration(name), value_type=kind)


def generate_launch_description() -> LaunchDescription:
    profile = _arg("profile", str)
    return LaunchDescription([
        DeclareLaunchArgument("profile", default_value="thymio",
                              description="Robot profile: built-in name or YAML path"),
        DeclareLaunchArgument("out", default_value="/data/recording",
                              description="Recording directory: the bag being written"),
        DeclareLaunchArgument("drop", default_value="/data/drop",
                              description="Drop folder: every closed, complete bag is moved here"),
        DeclareLaunchArgument("split_s", default_value="300.0", description="Seconds per bag"),
        DeclareLaunchArgument("models", default_value="/data/models",
                              description="Models folder: the detector runs models/current"),
        DeclareLaunchArgument("explore", default_value="0.05",
                              description="Controller: chance per second of an exploration spell"),
        DeclareLaunchArgument("footprint_x", default_value="0.025",
                              description="Controller: collision circle's centre ahead of base_link (m)"),
        DeclareLaunchArgument("footprint_radius", default_value="0.068",
                              description="Controller: collision circle's radius (m)"),
        DeclareLaunchArgument("memory_s", default_value="5.0",
                              description="Controller: remember predicted obstacles this long (s); 0 = off"),
        DeclareLaunchArgument("stall_s", default_value="1.0",
                              description="Controller: turn away after this long wedged (s); 0 = never"),
        Node(
            package="ros_ssl",
            executable="ros-ssl-recorder",
            name="recorder",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile, "out": _arg("out", str), "drop_dir": _arg("drop", str),
                         "split_s": _arg("split_s", float), "bag_prefix": "robot",
                         "extra_topics": ["/tf", "/tf_static", "/detector/model"]}],
        ),
        Node(
            package="ros_ssl",
            executable="ros-ssl-detector",
            name="detector",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile, "models_dir": _arg("models", str)}],
        ),
        Node(
            package="ros_ssl",
            executable="ros-ssl-controller",
            name="controller",
            output="screen",
            on_exit=_end_on_exit,
            parameters=[{"profile": profile, "explore": _arg("explore", float),
                         "footprint_x": _arg("footprint_x", float),
                         "footprint_radius": _arg("footprint_radius", float),
                         "memory_s": _arg("memory_s", float), "stall_s": _arg("stall_s", float)}],
        ),
    ])
