"""Look inside an encoder: embed frames and draw each query frame beside its nearest neighbours.

Neighbours from the same recording within ``exclude_s`` seconds of the query are skipped: they are
near-copies of it and say nothing about what the encoder groups together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ros_ssl.data import load_dataset
from ros_ssl.models import Encoder, build_encoder, normalize, to_chw
from ros_ssl.train.checkpoint import load_checkpoint
from ros_ssl.train.run_config import AnyRunConfig, read_run_config

PAD = 4
SCALE = 2


def load_run_encoder(run_dir: str | Path) -> tuple[Encoder, AnyRunConfig]:
    """The encoder of an SSL or training run (``checkpoints/encoder.pt``), in eval mode, and its config."""
    config = read_run_config(run_dir)
    encoder = build_encoder(config.model, config.image_hw)
    encoder.load_state_dict(load_checkpoint(Path(run_dir) / "checkpoints" / "encoder.pt"))
    return encoder.eval(), config


@torch.no_grad()
def embed_frames(encoder: Encoder, frames: np.ndarray, mean: Sequence[float], std: Sequence[float],
                 batch_size: int = 256) -> np.ndarray:
    """(N, out_dim) float32 L2-normalised embeddings of (N, H, W, 3) uint8 frames."""
    out = []
    for i in range(0, len(frames), batch_size):
        batch = to_chw(torch.from_numpy(np.ascontiguousarray(frames[i:i + batch_size])))
        out.append(F.normalize(encoder(normalize(batch, mean, std)), dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, encoder.out_dim), np.float32)


def nearest_neighbours(emb: np.ndarray, queries: np.ndarray, k: int, stamps: np.ndarray,
                       recording: np.ndarray, exclude_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) indices and cosine similarities of each query's nearest frames, near-in-time copies excluded."""
    sim = emb[queries] @ emb.T
    same = recording[queries, None] == recording[None, :]
    close = np.abs(stamps[queries, None] - stamps[None, :]) <= exclude_s
    sim = np.where(same & close, -np.inf, sim)
    order = np.argsort(-sim, axis=1)[:, :k]
    return order, np.take_along_axis(sim, order, axis=1)


def neighbour_grid(frames: np.ndarray, queries: np.ndarray, neighbours: np.ndarray,
                   sims: np.ndarray) -> np.ndarray:
    """An RGB image: one row per query, the query (red frame) then its neighbours with their similarity."""
    h, w = frames.shape[1] * SCALE, frames.shape[2] * SCALE
    rows, cols = neighbours.shape[0], neighbours.shape[1] + 1
    grid = np.full((rows * (h + PAD) + PAD, cols * (w + PAD) + PAD, 3), 255, np.uint8)
    for r in range(rows):
        y = PAD + r * (h + PAD)
        for c in range(cols):
            x = PAD + c * (w + PAD)
            index = queries[r] if c == 0 else neighbours[r, c - 1]
            tile = cv2.resize(np.asarray(frames[index]), (w, h), interpolation=cv2.INTER_NEAREST)
            if c == 0:
                cv2.rectangle(tile, (0, 0), (w - 1, h - 1), (255, 0, 0), 3)
            elif np.isfinite(sims[r, c - 1]):
                cv2.putText(tile, f"{sims[r, c - 1]:.2f}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                            (255, 255, 0), 1, cv2.LINE_AA)
            grid[y:y + h, x:x + w] = tile
    return grid


def write_neighbour_grid(run_dir: str | Path, dataset: str | Path, out: str | Path, queries: int = 8,
                         k: int = 6, max_frames: int = 4000, exclude_s: float = 5.0, seed: int = 0) -> Path:
    """Embed up to ``max_frames`` frames of ``dataset`` with the run's encoder; write the grid PNG ``out``."""
    encoder, config = load_run_encoder(run_dir)
    ds = load_dataset(dataset)
    rng = np.random.default_rng(seed)
    pool = np.sort(rng.choice(len(ds), min(max_frames, len(ds)), replace=False))
    frames = np.asarray(ds.frames[pool])
    emb = embed_frames(encoder, frames, config.mean, config.std)
    q = rng.choice(len(pool), min(queries, len(pool)), replace=False)
    nn_idx, sims = nearest_neighbours(emb, q, min(k, len(pool) - 1), np.asarray(ds.stamps[pool]),
                                      np.asarray(ds.recording[pool]), exclude_s)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(neighbour_grid(frames, q, nn_idx, sims), cv2.COLOR_RGB2BGR))
    return out
