"""Frames to input tensor as in training: INTER_AREA resize, (x/255 - mean) / std, RGB, NCHW float32."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
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


def _affine(spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain and bias of ``x * gain - bias`` = ((x * scale) - mean) / std, float32."""
    gain = np.asarray(spec.scale / np.asarray(spec.std), np.float32)
    bias = np.asarray(np.asarray(spec.mean) / np.asarray(spec.std), np.float32)
    return gain, bias


class FrameInput:
    """One frame to a (1, 3, H, W) input with no allocation: resize and normalise into kept buffers.

    The same arithmetic as ``to_input`` (bit-identical results), for the per-frame path of a running
    node; the returned array is reused by the next call. Not thread-safe: one per model and thread.
    """

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self._resized = np.empty((spec.height, spec.width, 3), np.uint8)
        self._input = np.empty((1, 3, spec.height, spec.width), np.float32)
        gain, bias = _affine(spec)
        self._gain, self._bias = gain[:, None, None], bias[:, None, None]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        rgb = check_frame(rgb, self.spec)
        if rgb.shape[:2] == (self.spec.height, self.spec.width):
            resized = rgb
        else:
            resized = cv2.resize(rgb, (self.spec.width, self.spec.height), dst=self._resized,
                                 interpolation=cv2.INTER_AREA)
        chw = self._input[0]
        np.multiply(resized.transpose(2, 0, 1), self._gain, out=chw)
        chw -= self._bias
        return self._input


def to_input(frames: np.ndarray | Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """(N, 3, H, W) float32 model input from a batch array (N, h, w, 3) or a list of H x W x 3 frames."""
    items = list(frames)
    if len(items) == 0:
        raise MessageError("empty batch: give at least one frame")
    out = np.empty((len(items), spec.height, spec.width, 3), np.float32)
    for i, rgb in enumerate(items):
        out[i] = resize_rgb(check_frame(rgb, spec), spec.width, spec.height)
    gain, bias = _affine(spec)
    out *= gain
    out -= bias
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
