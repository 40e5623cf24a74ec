"""ROS 2 nodes (rclpy): recorder, simulator, detector, controller; thin wrappers over ROS-free cores.

ROS-free: ``mcap_durable`` (crash-safe MCAP file), ``recording`` (split rosbag2 bag),
``recorder_core`` (queue + writer thread), ``predictions`` (output layout, latency), ``avoidance``
(controller policy), ``params`` (parameter dataclasses). The node modules and ``qos`` import rclpy.
Console scripts: ros-ssl-recorder, ros-ssl-simulator, ros-ssl-detector, ros-ssl-controller; a node
set at once: ``ros-ssl run`` (or the launch files in launch/).
"""
