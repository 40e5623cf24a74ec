"""What the sim-loop's bags say about each model: collisions per minute and the detector's swaps.

The recorder also records the simulator's ground truth (/sim/ground_truth, /sim/world), the
controller's commands (/cmd_vel) and the detector's latched status (/detector/model: model id, SHA-256,
swap figures). A status message tells which model was loaded from then on; the true poses and the world
geometry tell when the robot touched an obstacle (its footprint's clearance below the footprint radius
plus a margin). A collision is the start of such a contact. Only time the model drove counts: while the
controller's commands keep coming. During an exploration spell the controller is silent and the
simulator's data-collection policy drives up to obstacles on purpose, which says nothing of the model.
A bag without /cmd_vel (recorded before the loop recorded it) counts all its time as the model's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.bag.reader import BagReader
from ros_ssl.bag.streams import TRUTH_TOPIC, WORLD_TOPIC
from ros_ssl.msgs.poses import odometry_pose
from ros_ssl.sim.geometry import clearance
from ros_ssl.sim.robot import DriveParams

STATUS_TOPIC = "/detector/model"
CMD_TOPIC = "/cmd_vel"
# A command older than this no longer drives the simulated robot (the simulator's cmd_timeout default).
COMMAND_FRESH_S = 0.5
CONTACT_MARGIN = 0.003  # m: clearance within this of the footprint counts as touching
Sample = tuple[int, str | None, float, float, float]  # log time, active model SHA-256, x, y, yaw
TOPICS = [STATUS_TOPIC, TRUTH_TOPIC, WORLD_TOPIC, CMD_TOPIC]


@dataclass
class ModelDriving:
    """Driving time and collisions while one model (by SHA-256) drove, and its swap as the detector saw it."""

    seconds: float = 0.0
    collisions: int = 0
    swapped: bool = False
    swap_ms: float = 0.0
    frames_dropped: int = 0

    @property
    def per_minute(self) -> float:
        return 60.0 * self.collisions / self.seconds if self.seconds > 0 else 0.0


@dataclass
class LoopBags:
    by_sha: dict[str, ModelDriving] = field(default_factory=dict)


def analyse_bags(bags: Iterable[Path]) -> LoopBags:
    """Attribute each bag's driving and collisions to the model running at the time."""
    out = LoopBags()
    params = DriveParams()
    active: str | None = None
    for bag in bags:
        world: dict[str, Any] | None = None
        samples: list[Sample] = []
        commands: list[int] = []
        with BagReader(bag) as reader:
            has_commands = reader.msgtype(CMD_TOPIC) is not None
            for m in reader.messages(TOPICS):
                if m.topic == STATUS_TOPIC:
                    active = _status(out, json.loads(m.msg.data))
                elif m.topic == WORLD_TOPIC:
                    world = json.loads(m.msg.data)
                elif m.topic == CMD_TOPIC:
                    commands.append(m.log_ns)
                else:
                    samples.append((m.log_ns, active, *odometry_pose(m.msg)))
        if world is not None and samples:
            _collisions(out, world, samples, np.array(commands, np.int64) if has_commands else None, params)
    return out


def _commanded(t: np.ndarray, commands: np.ndarray) -> np.ndarray:
    """Whether a command newer than COMMAND_FRESH_S preceded each time ``t`` (both sorted, ns)."""
    if not len(commands):
        return np.zeros(len(t), bool)
    last = np.searchsorted(commands, t, side="right") - 1
    age = t - commands[np.maximum(last, 0)]
    return np.asarray((last >= 0) & (age <= COMMAND_FRESH_S * 1e9))


def _status(out: LoopBags, status: dict[str, Any]) -> str | None:
    sha = str(status.get("sha256", "")) or None
    if sha is not None:
        driving = out.by_sha.setdefault(sha, ModelDriving())
        if int(status.get("swaps", 0)) > 0 and not driving.swapped:
            driving.swapped = True
            driving.swap_ms = float(status.get("swap_ms", 0.0))
            driving.frames_dropped = int(status.get("frames_dropped_during_swap", 0))
    return sha


def _collisions(out: LoopBags, world: dict[str, Any], samples: list[Sample], commands: np.ndarray | None,
                params: DriveParams) -> None:
    """Driving time and collision starts per model; ``commands`` (log times) tell when the model drove,
    None (no /cmd_vel in the bag) that it drove throughout."""
    t = np.array([s[0] for s in samples], np.int64)
    driven = _commanded(t, commands) if commands is not None else np.ones(len(t), bool)
    xy = np.array([(s[2], s[3]) for s in samples])
    yaw = np.array([s[4] for s in samples])
    centre = xy + params.footprint_x * np.column_stack([np.cos(yaw), np.sin(yaw)])
    r = params.footprint_radius
    touching = clearance(world, centre, r + CONTACT_MARGIN) < r + CONTACT_MARGIN
    starts = touching & ~np.concatenate([[False], touching[:-1]])
    dt = np.diff(t, append=t[-1]) / 1e9
    for k, (_, sha, *_rest) in enumerate(samples):
        if sha is None or not driven[k]:
            continue
        driving = out.by_sha.setdefault(sha, ModelDriving())
        driving.seconds += float(min(dt[k], 1.0))  # a gap (between bags) is not driving time
        driving.collisions += int(starts[k])
