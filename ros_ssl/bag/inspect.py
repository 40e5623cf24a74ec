"""Summarise a bag: topics, types, counts, rates, duration, gaps, and what the profile needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ros_ssl.bag.reader import BagReader
from ros_ssl.config.profile import RobotProfile


@dataclass
class TopicSummary:
    name: str
    msgtype: str
    count: int
    rate_hz: float
    max_gap_s: float
    # Header stamps that went backwards (time going backwards in the sensor clock).
    backwards: int


@dataclass
class BagSummary:
    path: Path
    duration_s: float
    start_ns: int
    topics: list[TopicSummary]
    # Configured topic -> present?
    required: dict[str, bool] = field(default_factory=dict)

    def format(self) -> str:
        lines = [f"bag:      {self.path}", f"duration: {self.duration_s:.2f} s",
                 (f"{'topic':40s} {'type':36s} {'count':>7s} {'rate Hz':>8s} {'max gap s':>9s} "
                  f"{'backwards':>9s}")]
        for t in self.topics:
            lines.append(f"{t.name:40s} {t.msgtype:36s} {t.count:7d} {t.rate_hz:8.2f} {t.max_gap_s:9.3f} "
                         f"{t.backwards:9d}")
        if self.required:
            lines.append("profile topics:")
            lines += [f"  [{'ok' if ok else 'MISSING'}] {name}" for name, ok in self.required.items()]
        return "\n".join(lines)


def inspect_bag(path: str | Path, profile: RobotProfile | None = None) -> BagSummary:
    """Scan the whole bag once (streamed) and summarise it."""
    with BagReader(path) as bag:
        infos = bag.topics()
        log: dict[str, list[int]] = {t.name: [] for t in infos}
        stamps: dict[str, list[int]] = {t.name: [] for t in infos}
        for m in bag.messages(deserialize=True):
            log[m.topic].append(m.log_ns)
            h = getattr(m.msg, "header", None)
            if h is not None:
                stamps[m.topic].append(int(h.stamp.sec) * 1_000_000_000 + int(h.stamp.nanosec))
        duration = (bag.end_ns - bag.start_ns) / 1e9 if infos else 0.0
        start = bag.start_ns if infos else 0
    topics = []
    for t in infos:
        ts = np.asarray(log[t.name], np.int64)
        span = (ts[-1] - ts[0]) / 1e9 if ts.size > 1 else 0.0
        gaps = np.diff(np.sort(ts)) / 1e9 if ts.size > 1 else np.zeros(0)
        hs = np.asarray(stamps[t.name], np.int64)
        topics.append(TopicSummary(t.name, t.msgtype, int(ts.size), (ts.size - 1) / span if span > 0 else 0.0,
                                   float(gaps.max()) if gaps.size else 0.0,
                                   int((np.diff(hs) < 0).sum()) if hs.size > 1 else 0))
    summary = BagSummary(Path(path), duration, start, topics)
    if profile is not None:
        names = {t.name for t in topics}
        cam = profile.camera.topic
        alt = cam[: -len("/compressed")] if cam.endswith("/compressed") else cam + "/compressed"
        summary.required[cam] = cam in names or alt in names
        for topic in profile.proximity_topics():
            summary.required[topic] = topic in names
        odom = profile.odometry.topic if profile.odometry.source == "odometry" else "/tf"
        summary.required[odom] = odom in names
    return summary
