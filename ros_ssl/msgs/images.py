"""Camera images: sensor_msgs/Image (rgb8, bgr8, mono8, bgra8, rgba8) and CompressedImage (jpeg, png).

Everything downstream works on H x W x 3 uint8 RGB arrays; this module is the only place that knows
about encodings, row padding (``step``) and channel order.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ros_ssl.errors import MessageError

_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4}


def decode_image(msg: Any) -> np.ndarray:
    """Return an H x W x 3 uint8 RGB array from an Image or CompressedImage message."""
    if hasattr(msg, "encoding"):
        return _decode_raw(msg)
    if hasattr(msg, "format"):
        return _decode_compressed(msg)
    raise MessageError(f"not an image message: {type(msg).__name__}")


def _decode_raw(msg: Any) -> np.ndarray:
    enc = str(msg.encoding).lower()
    if enc not in _CHANNELS:
        raise MessageError(f"unsupported image encoding {msg.encoding!r}; "
                           f"expected one of {sorted(_CHANNELS)}")
    h, w, step, ch = int(msg.height), int(msg.width), int(msg.step), _CHANNELS[enc]
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data, np.uint8)
    if h <= 0 or w <= 0 or step < w * ch or data.size < h * step:
        raise MessageError(f"image {w}x{h} {enc} with step {step} does not fit its {data.size} data bytes")
    img = data[: h * step].reshape(h, step)[:, : w * ch].reshape(h, w, ch)
    if enc == "rgb8":
        return np.ascontiguousarray(img)
    if enc == "bgr8":
        return np.ascontiguousarray(img[:, :, ::-1])
    if enc == "mono8":
        return np.repeat(img, 3, axis=2)
    if enc == "bgra8":
        return np.ascontiguousarray(img[:, :, 2::-1])
    return np.ascontiguousarray(img[:, :, :3])  # rgba8


def _decode_compressed(msg: Any) -> np.ndarray:
    data = msg.data if isinstance(msg.data, np.ndarray) else np.frombuffer(bytes(msg.data), np.uint8)
    if data.size == 0:
        raise MessageError(f"compressed image ({msg.format!r}) has no data")
    bgr = cv2.imdecode(np.asarray(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MessageError(f"compressed image with format {msg.format!r} could not be decoded")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def encode_raw(rgb: np.ndarray, encoding: str = "rgb8") -> tuple[int, int, str, int, np.ndarray]:
    """Return (height, width, encoding, step, data) fields of an Image holding ``rgb``."""
    rgb = _check_rgb(rgb)
    if encoding not in _CHANNELS:
        raise MessageError(f"unsupported image encoding {encoding!r}; expected one of {sorted(_CHANNELS)}")
    if encoding == "rgb8":
        out = rgb
    elif encoding == "bgr8":
        out = rgb[:, :, ::-1]
    elif encoding == "mono8":
        out = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None]
    elif encoding == "bgra8":
        out = np.concatenate([rgb[:, :, ::-1], np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    else:
        out = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    h, w = rgb.shape[:2]
    return h, w, encoding, w * _CHANNELS[encoding], np.ascontiguousarray(out).reshape(-1)


def encode_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> np.ndarray:
    """Return the data bytes (uint8 array) of a CompressedImage in ``fmt`` (jpeg or png)."""
    rgb = _check_rgb(rgb)
    if fmt not in ("jpeg", "png"):
        raise MessageError(f"unsupported compressed format {fmt!r}; expected jpeg or png")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", rgb[:, :, ::-1], params)
    if not ok:
        raise MessageError(f"could not encode a {rgb.shape} image as {fmt}")
    return buf.reshape(-1)


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to the training resolution with area averaging (no aliasing when shrinking)."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        shape = getattr(rgb, "shape", None)
        raise MessageError(f"expected an H x W x 3 uint8 RGB array, got {type(rgb).__name__} {shape}")
    return np.ascontiguousarray(rgb)
