"""QoS choices shared by the nodes: match the publishers (as ``ros2 bag record`` does) or force one.

Matching matters for large messages: a best-effort subscription to a reliable camera gets best-effort
delivery, and across processes Fast DDS then loses most 640x480 raw frames (benchmarks/bench_nodes.py:
22 of 240 recorded at 30 Hz best effort, 240 of 240 reliable). A reliable subscription to a best-effort
publisher gets nothing at all, so "auto" asks the graph what the publishers offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

QOS_CHOICES = ("auto", "sensor_data", "reliable")
# One-off messages a late subscriber must still get (the world, the detector's geometry): like a latch.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def subscription_qos(choice: str, offered: Sequence[Any], depth: int) -> QoSProfile:
    """``auto``: reliable (and transient local) only if every publisher offers it; or as the choice says."""
    if choice == "sensor_data":
        reliable, latched = False, False
    elif choice == "reliable":
        reliable, latched = True, False
    else:
        reliable = bool(offered) and all(q.reliability == ReliabilityPolicy.RELIABLE for q in offered)
        latched = bool(offered) and all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


def publisher_qos(choice: str, depth: int = 10) -> QoSProfile:
    """``sensor_data`` (best effort) or ``reliable`` for a publisher of sensor streams."""
    reliability = ReliabilityPolicy.BEST_EFFORT if choice == "sensor_data" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability)


def qos_dict(qos: Any) -> dict[str, Any]:
    """An rclpy QoSProfile as a rosbag2 (metadata version 9) offered_qos_profiles entry."""
    def duration(d: Any) -> dict[str, int]:
        sec, nsec = divmod(int(d.nanoseconds), 1_000_000_000)
        return {"sec": sec, "nsec": nsec}
    return {"history": qos.history.name.lower(), "depth": int(qos.depth),
            "reliability": qos.reliability.name.lower(), "durability": qos.durability.name.lower(),
            "deadline": duration(qos.deadline), "lifespan": duration(qos.lifespan),
            "liveliness": qos.liveliness.name.lower(),
            "liveliness_lease_duration": duration(qos.liveliness_lease_duration),
            "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions)}
