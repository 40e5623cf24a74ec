"""Frames to input tensor as in training: INTER_AREA resize, (x/255 - mean) / std, RGB, NCHW float32."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ros_ssl.edge.package import InputSpec
from ros_ssl.errors import MessageError
from ros_ssl.msgs.images import resize_rgb

# A frame whose width/height ratio differs more than this from the training camera's is refused:
# resizing it would squash the scene and silently move every prediction.
ASPECT_TOLERANCE = 0.03


def check_frame(rgb: object, spec: InputSpec) -> np.ndarray:
    """Return ``rgb`` as a contiguous H x W x 3 uint8 array, or raise MessageError saying what is wrong."""
    if not isinstance(rgb, np.ndarray):
        raise MessageError(f"expected an H x W x 3 uint8 RGB array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) == 0:
        raise MessageError(f"expected an H x W x 3 RGB image, got an array of shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise MessageError(f"expected uint8 pixels (0..255), got {rgb.dtype}; convert with "
                           f"np.clip(x, 0, 255).astype(np.uint8)")
    h, w = rgb.shape[:2]
    if (h, w) != (spec.height, spec.width) and spec.source_width and spec.source_height:
        aspect, want = w / h, spec.source_width / spec.source_height
        if abs(aspect / want - 1) > ASPECT_TOLERANCE:
            raise MessageError(f"image {w}x{h} (aspect {aspect:.2f}) does not match the {spec.source_width}x"
                               f"{spec.source_height} camera the model was trained on (aspect {want:.2f}); "
                               f"crop it or set the camera to that aspect ratio")
    return np.ascontiguousarray(rgb)


def to_input(frames: np.ndarray | Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """(N, 3, H, W) float32 model input from a batch array (N, h, w, 3) or a list of H x W x 3 frames."""
    items = list(frames)
    if len(items) == 0:
        raise MessageError("empty batch: give at least one frame")
    out = np.empty((len(items), spec.height, spec.width, 3), np.float32)
    for i, rgb in enumerate(items):
        out[i] = resize_rgb(check_frame(rgb, spec), spec.width, spec.height)
    gain = np.asarray(spec.scale / np.asarray(spec.std), np.float32)
    bias = np.asarray(np.asarray(spec.mean) / np.asarray(spec.std), np.float32)
    out *= gain
    out -= bias
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
