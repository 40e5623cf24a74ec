"""Label without writing anything: the coverage a profile would give, and which limits cost labels.

``dry_run`` runs the labeler's association (``label_streams``) on every bag, with no image decoded,
and reports per sensor and distance the fraction of frames that would get a label; then it relaxes
each limit (window, odometry gap, reset speed, tolerances) one at a time and counts the labels each
one costs. On simulator bags it also scores the labels against the ground truth. A bag without a
camera gets frame stamps at the profile's camera rate, so a robot can be checked before its camera
is recorded.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.bag.streams import Streams, read_streams
from ros_ssl.config.profile import RobotProfile
from ros_ssl.data.store import UNKNOWN_TRUTH
from ros_ssl.label.pipeline import label_streams, true_labels
from ros_ssl.label.trajectory import NS, REASON_KEYS, Reason

# (label field, factor): each limit is relaxed by this factor to see what it costs.
RELAXED = (("window_s", 2.0), ("max_odom_gap_s", 4.0), ("max_speed", 4.0), ("tol_x", 2.0), ("tol_y", 2.0),
           ("tol_theta", 2.0))
DRYRUN_TXT = "dry_run.txt"
DRYRUN_PNG = "dry_run.png"


def load_streams(path: str | Path, profile: RobotProfile) -> tuple[Streams, bool]:
    """The bag's streams; without camera messages, frame stamps at the profile's camera rate (True)."""
    streams = read_streams(path, profile, require_camera=False)
    if len(streams.camera_ns) or len(streams.odom_ns) < 2:
        return streams, False
    period = round(NS / profile.camera.rate_hz)
    stamps = np.arange(int(streams.odom_ns.min()), int(streams.odom_ns.max()), period, dtype=np.int64)
    return dataclasses.replace(streams, camera_ns=stamps), True


def with_labels(profile: RobotProfile, **labels: Any) -> RobotProfile:
    """The profile with some label settings changed (not re-validated: callers pass sane values)."""
    return dataclasses.replace(profile, labels=dataclasses.replace(profile.labels, **labels))


@dataclass
class DryRun:
    """What labelling these bags with this profile would give, before any dataset is written."""

    profile: RobotProfile
    bags: list[str]
    frames: int = 0
    synthetic_frames: bool = False  # some bag had no camera: frame stamps at camera.rate_hz
    known: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (S, D) known cells
    scored: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (S, D) known cells with truth
    correct: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (S, D) of those, right
    frames_dropped: Counter[str] = field(default_factory=Counter)
    costs: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # limit -> now, relaxed, +cells

    @property
    def coverage(self) -> np.ndarray:
        """(S, D) fraction of frames whose cell would be labelled."""
        return self.known / max(self.frames, 1)

    @property
    def accuracy(self) -> float | None:
        total = int(self.scored.sum())
        return float(self.correct.sum()) / total if total else None


def dry_run(paths: Sequence[str | Path], profile: RobotProfile, relax: bool = True,
            max_frames: int | None = None) -> DryRun:
    """Coverage (and, on simulator bags, accuracy) per sensor and distance; label cost of each limit.

    ``max_frames`` labels at most that many frames per bag, evenly spread (for quick estimates).
    """
    return dry_run_streams([load_streams(p, profile) for p in paths], profile, relax, max_frames)


def dry_run_streams(loaded: Sequence[tuple[Streams, bool]], profile: RobotProfile, relax: bool = True,
                    max_frames: int | None = None, score: bool = True) -> DryRun:
    """``dry_run`` on streams already read (``load_streams``), e.g. to try many label settings;
    ``score=False`` skips the scoring against simulator truth (ray casts) when only coverage counts."""
    geometry = profile.label_geometry()
    shape = (len(geometry.sensors), len(geometry.distances)) if not geometry.is_grid else (
        len(geometry.x), len(geometry.y))
    out = DryRun(profile, [str(s.path) for s, _ in loaded], known=np.zeros(shape, np.int64),
                 scored=np.zeros(shape, np.int64), correct=np.zeros(shape, np.int64))
    gains: Counter[str] = Counter()
    for full, synthetic in loaded:
        streams = full
        if max_frames is not None and len(full.camera_ns) > max_frames:
            pick = np.linspace(0, len(full.camera_ns) - 1, max_frames).round().astype(int)
            streams = dataclasses.replace(full, camera_ns=full.camera_ns[pick])
        out.synthetic_frames |= synthetic
        _, frames, labels, _ = label_streams(streams, profile)
        out.frames += len(streams.camera_ns)
        out.frames_dropped.update(REASON_KEYS[Reason(int(r))] for r in frames.reason if r != Reason.OK)
        out.known += labels.mask.sum(axis=0)
        if score:
            truth = true_labels(streams, profile, streams.camera_ns, labels.labels.shape[1:])
            scored = labels.mask & (truth != UNKNOWN_TRUTH)
            out.scored += scored.sum(axis=0)
            out.correct += (scored & (labels.labels == truth)).sum(axis=0)
        if relax:
            base = int(labels.mask.sum())
            for name, factor in RELAXED:
                looser = with_labels(profile, **{name: getattr(profile.labels, name) * factor})
                gains[name] += int(label_streams(streams, looser)[2].mask.sum()) - base
    if relax:
        now = {name: float(getattr(profile.labels, name)) for name, _ in RELAXED}
        out.costs = {name: (now[name], now[name] * factor, gains[name]) for name, factor in RELAXED}
    return out


def format_dry_run(run: DryRun) -> str:
    """Table: coverage % per distance (rows) and sensor (columns), then the limits by labels they cost."""
    geometry = run.profile.label_geometry()
    cols = list(geometry.sensors) if not geometry.is_grid else [f"y={y:+.2f}" for y in geometry.y]
    rows = list(geometry.distances) if not geometry.is_grid else list(geometry.x)
    cov = 100 * run.coverage
    width = max(8, *(len(c) for c in cols))
    lines = [f"dry run: {len(run.bags)} bag(s), {run.frames} frames"
             + (" (no camera: frame stamps at camera.rate_hz)" if run.synthetic_frames else ""),
             "coverage % (frames that get a label) per distance and sensor:",
             f"{'dist m':>7} " + " ".join(f"{c:>{width}}" for c in cols) + f" {'all':>{width}}"]
    for j, d in enumerate(rows):
        values = cov[:, j] if not geometry.is_grid else cov[j, :]
        row = " ".join(f"{v:{width}.1f}" for v in values)
        lines.append(f"{d:7.3f} {row} {values.mean():{width}.1f}")
    lines.append(f"{'all':>7} " + " ".join(f"{v:{width}.1f}" for v in (
        cov.mean(axis=1) if not geometry.is_grid else cov.mean(axis=0))) + f" {cov.mean():{width}.1f}")
    acc = run.accuracy
    if acc is not None:
        lines.append(f"accuracy against simulator truth: {100 * acc:.2f}% of {int(run.scored.sum())} labels")
    dropped = ", ".join(f"{k} {v}" for k, v in run.frames_dropped.most_common()) or "none"
    lines.append(f"frames without a pose (never labelled): {dropped}")
    if run.costs:
        cells = max(run.known.size * run.frames, 1)
        lines.append("labels each limit costs (gain if it were relaxed alone), most first:")
        for name, (now, looser, gain) in sorted(run.costs.items(), key=lambda kv: -kv[1][2]):
            lines.append(f"  labels.{name:<15} {now:g} -> {looser:g}: +{gain} labels "
                         f"(+{100 * gain / cells:.2f} points of coverage)")
    return "\n".join(lines)


def plot_dry_run(run: DryRun, path: str | Path) -> Path:
    """PNG: coverage per sensor against distance, and the label cost of each limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    geometry = run.profile.label_geometry()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    cov = 100 * run.coverage
    if geometry.is_grid:
        image = ax.imshow(cov.T, origin="lower", aspect="auto", vmin=0, vmax=100,
                          extent=(geometry.x[0], geometry.x[-1], geometry.y[0], geometry.y[-1]))
        fig.colorbar(image, ax=ax, label="coverage %")
        ax.set_xlabel("ahead (m)")
        ax.set_ylabel("left (m)")
    else:
        for i, name in enumerate(geometry.sensors):
            ax.plot(geometry.distances, cov[i], label=name)
        ax.plot(geometry.distances, cov.mean(axis=0), "k--", label="all")
        ax.set_xlabel("distance ahead (m)")
        ax.set_ylabel("coverage % (frames labelled)")
        ax.set_ylim(0, 101)
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(f"dry run: {run.frames} frames", fontsize=10)
    names = list(run.costs)
    cells = max(run.known.size * run.frames, 1)
    bx.barh(names, [100 * run.costs[n][2] / cells for n in names])
    bx.set_xlabel("coverage gained if relaxed (points)")
    bx.set_title("labels each limit costs", fontsize=10)
    bx.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def write_dry_run(run: DryRun, out_dir: str | Path) -> tuple[Path, Path]:
    """dry_run.txt (the table) and dry_run.png in ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    txt = out / DRYRUN_TXT
    txt.write_text(format_dry_run(run) + "\n")
    return txt, plot_dry_run(run, out / DRYRUN_PNG)

