"""Small procedural textures (PNG) for obstacles and floors: a few patterns, seeded, cheap to render.

TinyRenderer multiplies a texture by the shape's colour, so the colour is baked into the image and
shapes with a texture are drawn white.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ros_ssl.errors import ConfigError

SIZE = 64
PATTERNS = ("checker", "tiles", "stripes", "wood", "noise", "bricks", "dots")


def make_texture(pattern: str, rgba: Sequence[float], seed: Sequence[int], path: Path) -> Path:
    """Write a SIZE x SIZE PNG of ``pattern`` in the colour ``rgba`` (0..1) and return its path."""
    rng = np.random.default_rng(list(seed))
    base = np.asarray(rgba[:3], np.float32)
    other = np.clip(base * rng.uniform(0.45, 0.75) + rng.uniform(0, 0.2), 0, 1)  # darker companion colour
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    if pattern in ("checker", "tiles"):
        n = int(rng.choice([2, 4, 8]))
        cell = SIZE // n
        mask = ((xx // cell + yy // cell) % 2).astype(np.float32)
        if pattern == "tiles":  # light grout lines instead of alternating cells
            mask = ((xx % cell < 2) | (yy % cell < 2)).astype(np.float32)
    elif pattern in ("stripes", "wood"):
        n = int(rng.choice([2, 4, 8]))
        coord = xx if rng.random() < 0.5 else yy
        mask = (np.sin(coord * 2 * np.pi * n / SIZE) > 0).astype(np.float32)
        if pattern == "wood":
            mask = 0.5 + 0.5 * np.sin(coord * 2 * np.pi * n / SIZE + 3 * _value_noise(rng, 4))
    elif pattern == "noise":
        mask = _value_noise(rng, int(rng.choice([4, 8, 16])))
    elif pattern == "bricks":
        rows, cols = 4, 2
        h, w = SIZE // rows, SIZE // cols
        shifted = (xx + (yy // h % 2) * (w // 2)) % w
        mask = ((yy % h < 2) | (shifted < 2)).astype(np.float32)
    elif pattern == "dots":
        n = int(rng.choice([2, 4]))
        pitch = SIZE / n  # dot spacing, in fractional pixels
        dx, dy = (xx % pitch) - pitch / 2, (yy % pitch) - pitch / 2
        mask = (dx * dx + dy * dy < (pitch * 0.3) ** 2).astype(np.float32)
    else:
        raise ConfigError(f"world texture {pattern!r} is unknown; expected one of {', '.join(PATTERNS)}")
    img = base[None, None] * (1 - mask[..., None]) + other[None, None] * mask[..., None]
    img *= rng.uniform(0.92, 1.0, (SIZE, SIZE, 1)).astype(np.float32)  # a little grain
    cv2.imwrite(str(path), (np.clip(img, 0, 1) * 255).astype(np.uint8)[:, :, ::-1])
    return path


def _value_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] that tiles: random values on a coarse grid, bicubic-upsampled."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    tiled = np.tile(coarse, (3, 3))
    big = cv2.resize(tiled, (3 * SIZE, 3 * SIZE), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[SIZE:2 * SIZE, SIZE:2 * SIZE], 0, 1)
