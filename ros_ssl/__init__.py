"""ros_ssl: a mobile robot teaches itself long-range perception.

Layers, numbered so that a lower one never imports a higher one (tests/test_layers.py checks every
import statement):
1. core, ROS-free and torch-free: ``config``, ``msgs``, ``bag``, ``label``, ``data``, ``sim``, ``io``;
2. edge runtime (onnxruntime, never torch): ``edge``;
3. learning (torch): ``models``, ``train``, ``ssl``, ``export``; may import core and edge;
4. ROS 2 nodes (rclpy): ``nodes``; may import core and edge, never learning: a robot has no torch;
5. experiments, end-to-end runs of core and learning (the demo, the label-efficiency study): ``experiments``;
6. the ``ros-ssl`` command line, which composes them all: ``cli``.
"""

__version__ = "0.1.0"
