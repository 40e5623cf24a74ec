"""Simulator: random worlds, a pybullet robot with camera, proximity and drifting odometry, bag recording.

Pure numpy, exact ground truth from a world description (importable without pybullet):
``generate_world``, ``raycast``, ``inside``, ``clearance``, ``true_sensor_labels``, ``true_grid_labels``.
Needing pybullet (the ``[sim]`` extra, imported on first use): ``ros_ssl.sim.robot.SimRobot``,
``ros_ssl.sim.policy.WanderPolicy`` (the driver), ``ros_ssl.sim.record.simulate`` (bags).
"""

from ros_ssl.sim.geometry import clearance, inside, raycast
from ros_ssl.sim.truth import true_grid_labels, true_sensor_labels
from ros_ssl.sim.world import generate_world

__all__ = ["clearance", "generate_world", "inside", "raycast", "true_grid_labels", "true_sensor_labels"]
