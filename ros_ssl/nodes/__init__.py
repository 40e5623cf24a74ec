"""ROS 2 nodes (rclpy): recorder, simulator, detector, controller; thin wrappers over ROS-free cores.

ROS-free: ``predictions`` (output layout, latency), ``avoidance`` (controller policy), ``watchdog``
(doubt means stop: missing, late or invalid input), ``params`` (parameter dataclasses); the recorder's
crash-safe bag writing lives in ``ros_ssl.bag`` (``durable``, ``recording``, ``recorder_core``). The node
modules and ``qos`` import rclpy.
Console scripts: ros-ssl-recorder, ros-ssl-simulator, ros-ssl-detector, ros-ssl-controller; a node
set at once: ``ros-ssl run`` (or the launch files in launch/).
"""
