"""ros_ssl: a mobile robot teaches itself long-range perception.

Layers (a lower one never imports a higher one):
1. core, ROS-free and torch-free: ``config``, ``msgs``, ``bag``, ``label``, ``data``, ``sim``;
2. learning (torch): ``models``, ``train``, ``ssl``, ``export``;
3. edge runtime (onnxruntime, never torch): ``edge``;
4. ROS 2 nodes (rclpy): ``nodes``;
5. the ``ros-ssl`` command line: ``cli``.
"""

__version__ = "0.1.0"
