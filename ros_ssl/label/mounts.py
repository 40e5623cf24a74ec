"""Where sensors sit on the robot: a static frame tree from a bag's /tf_static or from a URDF.

A profile needs each proximity sensor's (x, y, yaw) and the camera's (x, z, pitch) on base_link. A bag
that records /tf_static (or a URDF of the robot) already says so; this module reads either into one
tree of rigid transforms and answers "pose of frame F in base_link" in full 3-D, so a pitched camera
or an upside-down lidar come out right.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.errors import ConfigError


@dataclass(frozen=True)
class Mount:
    """A frame's pose in the base frame: position (m) and rotation matrix (columns = frame axes)."""

    xyz: tuple[float, float, float]
    rotation: np.ndarray  # (3, 3)

    def direction(self, axis: tuple[float, float, float]) -> np.ndarray:
        """A unit axis of the frame (e.g. (1, 0, 0) = its x) expressed in the base frame."""
        return np.asarray(self.rotation @ np.asarray(axis, np.float64))

    def planar_yaw(self, axis: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> float:
        d = self.direction(axis)
        return math.atan2(float(d[1]), float(d[0]))

    def pitch_down(self, axis: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> float:
        """Angle below the horizon of the frame's ``axis`` (positive looks down)."""
        d = self.direction(axis)
        return math.atan2(-float(d[2]), math.hypot(float(d[0]), float(d[1])))


def _rot_quat(x: float, y: float, z: float, w: float) -> np.ndarray:
    n = math.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _rot_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF convention: fixed-axis roll about x, then pitch about y, then yaw about z."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx)


class FrameTree:
    """Rigid parent -> child transforms; ``mount(frame, base)`` composes the chain between them."""

    def __init__(self) -> None:
        self.edges: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}  # child -> (parent, xyz, R)

    def __len__(self) -> int:
        return len(self.edges)

    def add(self, parent: str, child: str, xyz: Iterable[float], rotation: np.ndarray) -> None:
        self.edges[child.lstrip("/")] = (parent.lstrip("/"), np.asarray(list(xyz), np.float64), rotation)

    def add_tf_message(self, msg: Any) -> None:
        """Every transform of a tf2_msgs/TFMessage (as /tf_static carries them)."""
        for ts in msg.transforms:
            t, q = ts.transform.translation, ts.transform.rotation
            self.add(ts.header.frame_id, ts.child_frame_id, (t.x, t.y, t.z),
                     _rot_quat(float(q.x), float(q.y), float(q.z), float(q.w)))

    def mount(self, frame: str, base: str) -> Mount | None:
        """Pose of ``frame`` in ``base`` through the tree, or None if they are not linked."""
        frame, base = frame.lstrip("/"), base.lstrip("/")
        up_f, up_b = self.ancestors(frame), self.ancestors(base)
        common = next((f for f in up_f if f in up_b), None)
        if common is None:
            return None
        p_f, r_f = self._to_ancestor(frame, common)
        p_b, r_b = self._to_ancestor(base, common)
        rot = r_b.T @ r_f
        xyz = r_b.T @ (p_f - p_b)
        return Mount((float(xyz[0]), float(xyz[1]), float(xyz[2])), rot)

    def ancestors(self, frame: str) -> list[str]:
        """``frame``, its parent, its grandparent, ... up to the root of its tree."""
        chain = [frame.lstrip("/")]
        while chain[-1] in self.edges and len(chain) < 64:
            chain.append(self.edges[chain[-1]][0])
        return chain

    def _to_ancestor(self, frame: str, ancestor: str) -> tuple[np.ndarray, np.ndarray]:
        pos, rot = np.zeros(3), np.eye(3)
        node = frame
        while node != ancestor:
            parent, xyz, r = self.edges[node]
            pos, rot = r @ pos + xyz, r @ rot
            node = parent
        return pos, rot


def urdf_tree(path: str | Path) -> FrameTree:
    """The joints of a URDF file (origin xyz / rpy of each child link in its parent link)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise ConfigError(f"URDF {path} cannot be read: {err}") from err
    tree = FrameTree()
    for joint in root.iter("joint"):
        parent, child = joint.find("parent"), joint.find("child")
        if parent is None or child is None:
            continue
        origin = joint.find("origin")
        xyz = _floats(origin.get("xyz") if origin is not None else None, path)
        rpy = _floats(origin.get("rpy") if origin is not None else None, path)
        tree.add(parent.get("link", ""), child.get("link", ""), xyz, _rot_rpy(*rpy))
    if not len(tree):
        raise ConfigError(f"URDF {path} has no joints linking any link")
    return tree


def _floats(text: str | None, path: Path) -> tuple[float, float, float]:
    if not text:
        return 0.0, 0.0, 0.0
    try:
        a, b, c = (float(v) for v in text.split())
    except ValueError as err:
        raise ConfigError(f"URDF {path}: origin {text!r} is not three numbers") from err
    return a, b, c
