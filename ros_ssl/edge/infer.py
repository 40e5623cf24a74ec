"""Offline inference over a bag: predictions for every camera frame, an image strip and a video.

Outputs in ``out``::

    predictions.npz   stamps_ns (N,) int64, index (N,) int32 message index on the topic,
                      probabilities (N, A, B) float32, geometry (JSON string)
    strip.png         a few frames spread over the bag, predictions drawn over them
    overlay.mp4       every frame with its predictions (frames/000000.png ... if no mp4 codec is available)

Frames that cannot be decoded or have the wrong shape are skipped and counted, as a running node would;
so are frames whose predictions are not all finite (NaN/inf): they are never stored as if valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ros_ssl.bag.reader import BagReader
from ros_ssl.bag.streams import iter_frames
from ros_ssl.edge.overlay import draw_overlay, strip
from ros_ssl.edge.preprocess import check_frame
from ros_ssl.edge.runtime import EdgeModel
from ros_ssl.errors import BagError, MessageError


@dataclass(frozen=True)
class InferResult:
    frames: int
    skipped: int
    predictions: Path
    strip: Path
    # overlay.mp4, or the folder of PNG frames written when no mp4 codec is available; None if not asked for.
    video: Path | None
    # The first few reasons frames were skipped.
    errors: list[str] = field(default_factory=list)


class _VideoOut:
    """mp4 via cv2.VideoWriter, falling back to numbered PNG frames if the codec cannot be opened."""

    def __init__(self, out: Path, fps: float) -> None:
        self.out, self.fps = out, fps
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.path = out / "overlay.mp4"
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        if self.size is None:
            self.size = (rgb.shape[1], rgb.shape[0])
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, self.size)
            if writer.isOpened():
                self.writer = writer
            else:
                self.path = self.out / "frames"
                self.path.mkdir(exist_ok=True)
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        if self.writer is not None:
            self.writer.write(bgr)
        else:
            cv2.imwrite(str(self.path / f"{self.count:06d}.png"), bgr)
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def infer_bag(model: EdgeModel, bag: str | Path, topic: str, out: str | Path, batch_size: int = 32,
              strip_frames: int = 8, fps: float = 15.0, video: bool = True) -> InferResult:
    """Run ``model`` on every frame of ``topic`` in ``bag``; write predictions, strip and video to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with BagReader(bag) as reader:
        total = next((t.count for t in reader.topics() if t.name == topic), 0)
    if total == 0:
        raise BagError(f"bag {bag} has no messages on camera topic {topic}")
    # Strip: the first usable frame at or after each of a few evenly spread message indices.
    targets = sorted(set(np.linspace(0, total - 1, min(strip_frames, total)).round().astype(int).tolist()))
    geometry = model.metadata.output.geometry
    stamps: list[int] = []
    index: list[int] = []
    probs: list[np.ndarray] = []
    errors: list[str] = []
    shown: list[np.ndarray] = []
    writer = _VideoOut(out, fps) if video else None
    batch: list[tuple[int, int, np.ndarray]] = []

    def flush() -> None:
        p = model.predict([rgb for _, _, rgb in batch])
        for (i, t_ns, rgb), pi in zip(batch, p, strict=True):
            if not np.isfinite(pi).all():
                errors.append(f"frame {i}: the model's output is not finite (NaN/inf)")
                continue
            stamps.append(t_ns)
            index.append(i)
            probs.append(pi)
            show = bool(targets) and i >= targets[0]
            if writer is not None or show:
                img = draw_overlay(rgb, pi, geometry, caption=f"#{i} {(t_ns - stamps[0]) / 1e9:.2f} s")
                if writer is not None:
                    writer.write(img)
                if show:
                    shown.append(img)
                    while targets and targets[0] <= i:
                        targets.pop(0)
        batch.clear()

    try:
        for i, t_ns, rgb, read_err in iter_frames(bag, topic):
            err = "" if read_err is None else str(read_err)
            if rgb is not None:
                try:
                    batch.append((i, t_ns, check_frame(rgb, model.metadata.input)))
                except MessageError as bad:
                    err = str(bad)
            if err:
                errors.append(f"frame {i}: {err}")
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    finally:
        if writer is not None:
            writer.close()
    if not probs:
        first = errors[0] if errors else "no message read"
        raise MessageError(f"no frame on {topic} in {bag} could be used; first problem: {first}")
    pred_file = out / "predictions.npz"
    np.savez_compressed(pred_file, stamps_ns=np.asarray(stamps, np.int64), index=np.asarray(index, np.int32),
                        probabilities=np.stack(probs).astype(np.float32),
                        geometry=np.array(json.dumps(geometry.to_dict())))
    strip_file = out / "strip.png"
    cv2.imwrite(str(strip_file), strip(shown)[:, :, ::-1])  # overlays share one height
    return InferResult(frames=len(probs), skipped=len(errors), predictions=pred_file, strip=strip_file,
                       video=writer.path if writer is not None else None, errors=errors[:5])
