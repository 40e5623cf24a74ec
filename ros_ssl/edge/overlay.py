"""Predictions drawn over a camera frame, as in Nava et al. (2019): one column of distance cells per sensor.

Sensor columns run left to right in the model's sensor order, distance grows upward, and each cell is
coloured by the probability of an obstacle there (green 0, yellow 0.5, red 1). A grid model shows its
cells top-down: far ahead at the top, left on the left.
"""

from __future__ import annotations

import cv2
import numpy as np

from ros_ssl.config.geometry import LabelGeometry

DISPLAY_HEIGHT = 256


def cell_matrix(probs: np.ndarray, geometry: LabelGeometry) -> np.ndarray:
    """(rows, cols) probabilities in screen order: top row farthest ahead, left column leftmost."""
    if geometry.is_grid:
        return np.flip(probs, (0, 1))  # grid x ahead (far at the top), y lateral +left (left first)
    return np.flip(probs.T, 0)  # (distances, sensors), far at the top


def colour(p: np.ndarray) -> np.ndarray:
    """RGB uint8 colours for probabilities: green (0) through yellow (0.5) to red (1)."""
    p = np.clip(np.asarray(p, np.float32), 0.0, 1.0)
    rgb = np.stack([np.minimum(1.0, 2 * p), np.minimum(1.0, 2 * (1 - p)), np.zeros_like(p)], axis=-1)
    return (rgb * 220).astype(np.uint8)


def draw_overlay(rgb: np.ndarray, probs: np.ndarray, geometry: LabelGeometry, caption: str = "",
                 alpha: float = 0.5, height: int = DISPLAY_HEIGHT) -> np.ndarray:
    """RGB image ``height`` pixels tall: the frame with the prediction cells blended over it."""
    h, w = rgb.shape[:2]
    width = round(w * height / h)
    frame = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    cells = cell_matrix(probs, geometry)
    rows, cols = cells.shape
    gap = 0.0 if geometry.is_grid else 0.5  # sensor columns leave the scene visible
    ys = np.arange(height) * rows // height
    xs = np.arange(width) * cols / width
    inside = np.abs(xs - np.floor(xs) - 0.5) <= (1 - gap) / 2  # pixel columns covered by a cell
    layer = colour(cells)[ys][:, xs.astype(int)]
    out = np.array(frame)  # a copy to blend into
    out[:, inside] = (alpha * layer[:, inside] + (1 - alpha) * frame[:, inside]).astype(np.uint8)
    if caption:
        cv2.putText(out, caption, (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def strip(images: list[np.ndarray], sep: int = 4) -> np.ndarray:
    """Images of equal height side by side, separated by white bars."""
    bar = np.full((images[0].shape[0], sep, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for i, img in enumerate(images):
        parts += [bar, img] if i else [img]
    return np.concatenate(parts, axis=1)
