"""Per-variant quality and speed: test AUC, its change against fp32, and batch-1 latency on one CPU core.

Works on ``EdgeModel`` sessions only (no torch), so the figures are those the robot will see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ros_ssl.data.frames import FrameView
from ros_ssl.edge.runtime import EdgeModel


@dataclass(frozen=True)
class VariantReport:
    variant: str
    # Mean per-cell ROC AUC on the test split (None without labelled test frames).
    auc: float | None
    # auc - fp32 auc (0 for fp32 itself).
    auc_change: float | None
    # Mean and largest |p - p_fp32| over the evaluated frames and cells.
    mean_diff: float
    max_diff: float
    median_ms: float
    p99_ms: float
    file_mb: float
    accepted: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_ms(fn: Callable[[], object], repeats: int = 200, warmup: int = 20) -> tuple[float, float]:
    """(median, p99) wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        t = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t
    return float(np.median(times) * 1e3), float(np.percentile(times, 99) * 1e3)


def predict_all(model: EdgeModel, frames: np.ndarray | FrameView, batch: int = 256) -> np.ndarray:
    """(N, A, B) probabilities for (N, H, W, 3) uint8 frames, in batches."""
    return np.concatenate([model.predict(frames[i:i + batch]) for i in range(0, len(frames), batch)])


def format_table(reports: list[VariantReport]) -> str:
    """Markdown table of the variants (latency: batch 1, one CPU thread, ONNX Runtime)."""
    def num(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    fp32 = next((r for r in reports if r.variant == "fp32"), None)
    lines = [("| variant | test AUC | AUC change | mean / max abs diff vs fp32 | median ms | p99 ms "
              "| speed-up | MB | kept |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        speed = fp32.median_ms / r.median_ms if fp32 else None
        lines.append(f"| {r.variant} | {num(r.auc, '.4f')} | {num(r.auc_change, '+.4f')} | "
                     f"{r.mean_diff:.1e} / {r.max_diff:.1e} | "
                     f"{r.median_ms:.3f} | {r.p99_ms:.3f} | {num(speed, '.2f')}x | {r.file_mb:.2f} | "
                     f"{'yes' if r.accepted else 'REFUSED'} |")
    return "\n".join(lines)
