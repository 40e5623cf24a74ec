"""How close a decode comes to the uncompressed image: the measurement behind ``decode_resized``.

The label pipeline decodes 4:2:0 JPEGs at half size in the DCT (``ros_ssl.msgs.images.decode_resized``)
instead of decoding them whole and area-resizing. This module scores both ways against the
area-resized original on camera-like test scenes; the test that guards the choice and
``benchmarks/bench_label.py`` both call it.
"""

from __future__ import annotations

import cv2
import numpy as np

from ros_ssl.bag import messages as M
from ros_ssl.msgs.images import decode_image, decode_resized, encode_compressed, resize_rgb


def scene(seed: int, height: int = 240, width: int = 320) -> np.ndarray:
    """A camera-like test image: smooth shading, texture at several scales, hard-edged boxes and lines."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 128.0, np.float32)
    for sigma, amplitude in ((40, 80), (12, 40), (3, 25), (0.8, 12)):
        noise = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)).astype(np.float32), (0, 0), sigma)
        img += amplitude * noise / (noise.std() + 1e-9)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = rng.integers(0, 256, 3).tolist()
        cv2.rectangle(img, (x, y), (x + int(rng.integers(5, 80)), y + int(rng.integers(5, 60))), colour, -1)
        cv2.line(img, (int(rng.integers(0, width)), int(rng.integers(0, height))),
                 (int(rng.integers(0, width)), int(rng.integers(0, height))), colour, int(rng.integers(1, 3)))
    return np.clip(img, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB."""
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) over pixels and channels."""
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(v: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(v, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def decode_quality(quality: int, seeds: int = 6, size: tuple[int, int] = (80, 64)) -> dict[str, float]:
    """PSNR / SSIM against the area-resized original of the full decode (full size + area resize) and of
    ``decode_resized``, mean over ``seeds`` 320x240 scenes JPEG-encoded at ``quality``."""
    out = {"psnr_full": 0.0, "psnr_new": 0.0, "ssim_full": 0.0, "ssim_new": 0.0}
    for seed in range(seeds):
        img = scene(seed)
        ref = resize_rgb(img, *size)
        msg = M.CompressedImage(header=M.header(1, "cam"), format="jpeg",
                                data=encode_compressed(img, "jpeg", quality))
        full = resize_rgb(decode_image(msg), *size)
        new = decode_resized(msg, *size)
        out["psnr_full"] += psnr(full, ref) / seeds
        out["psnr_new"] += psnr(new, ref) / seeds
        out["ssim_full"] += ssim(full, ref) / seeds
        out["ssim_new"] += ssim(new, ref) / seeds
    return out
