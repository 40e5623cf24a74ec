"""Camera images: sensor_msgs/Image (rgb8, bgr8, mono8, bgra8, rgba8) and CompressedImage (jpeg, png).

Everything downstream works on H x W x 3 uint8 RGB arrays; this module is the only place that knows
about encodings, row padding (``step``) and channel order.

Decoding is strict: a frame the decoder can only partly make sense of is refused, never returned as
garbage. JPEG goes through libjpeg-turbo (``simplejpeg``) with its warnings ("corrupt data", "premature
end") raised as errors; PNG chunks are checked against their CRC32 before OpenCV decodes them. Every
refusal is an ``UndecodableImage`` whose ``reason`` says why, so callers can count frames per reason.
"""

from __future__ import annotations

import struct
import zlib
from enum import Enum
from typing import Any

import cv2
import numpy as np
import simplejpeg

from ros_ssl.errors import MessageError

_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4}
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class DecodeFailure(str, Enum):
    """Why a camera frame could not be decoded (the keys of the per-reason counts in label reports)."""

    EMPTY = "empty"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    WRONG_FORMAT = "wrong_format"
    SIZE_MISMATCH = "size_mismatch"
    UNSUPPORTED = "unsupported_encoding"


class UndecodableImage(MessageError):
    """An image message whose pixels cannot be trusted; ``reason`` classifies it."""

    def __init__(self, reason: DecodeFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type[UndecodableImage], tuple[DecodeFailure, str]]:
        return type(self), (self.reason, str(self))


def decode_image(msg: Any) -> np.ndarray:
    """Return an H x W x 3 uint8 RGB array from an Image or CompressedImage message."""
    if hasattr(msg, "encoding"):
        return _decode_raw(msg)
    if hasattr(msg, "format"):
        return _decode_compressed(msg)
    raise MessageError(f"not an image message: {type(msg).__name__}")


def decode_resized(msg: Any, width: int, height: int) -> np.ndarray:
    """The frame at the training resolution, as ``resize_rgb(decode_image(msg), width, height)`` but cheaper:
    a JPEG that ``halves_well`` is decoded at half size in libjpeg's DCT domain, then area-resized.

    That skips half the inverse DCT and the colour upsampling and makes the resize 4x smaller; against
    the area-resized uncompressed image it scores no worse than full decoding (4:2:0 chroma then
    needs no upsampling), see tests/test_streaming_label.py and ``benchmarks/bench_label.py``.
    """
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return resize_rgb(_decode_compressed(msg, (width, height)), width, height)
    return resize_rgb(decode_image(msg), width, height)


def halves_well(width: int, height: int, subsampling: str, out_width: int, out_height: int) -> bool:
    """Whether a ``width`` x ``height`` JPEG resized to ``out_width`` x ``out_height`` may be decoded at half
    size first.

    Only 4:2:0 (what cameras, OpenCV and image_transport write): at half size its chroma is at full
    resolution, which is where the gain over full decoding comes from; 4:4:4, 4:2:2 and greyscale lose
    1-7 dB PSNR, as do the 1/4 and 1/8 scales. The half-size image must stay at least 1.5x the output
    size so the area resize still averages (closer to 1x the half-size decode lost up to 0.2 dB).
    """
    return (subsampling == "420" and 2 * ((width + 1) // 2) >= 3 * out_width
            and 2 * ((height + 1) // 2) >= 3 * out_height)


def _decode_raw(msg: Any) -> np.ndarray:
    enc = str(msg.encoding).lower()
    if enc not in _CHANNELS:
        raise UndecodableImage(DecodeFailure.UNSUPPORTED, f"unsupported image encoding {msg.encoding!r}; "
                                                          f"expected one of {sorted(_CHANNELS)}")
    h, w, step, ch = int(msg.height), int(msg.width), int(msg.step), _CHANNELS[enc]
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data, np.uint8)
    if h <= 0 or w <= 0 or step < w * ch or data.size < h * step:
        raise UndecodableImage(DecodeFailure.SIZE_MISMATCH, f"image {w}x{h} {enc} with step {step} does not "
                                                            f"fit its {data.size} data bytes")
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


def _decode_compressed(msg: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode by the data's own magic bytes (the ``format`` string varies between publishers).

    ``size`` (width, height) is what the caller resizes to: a JPEG may come back smaller, never below it.
    """
    raw = msg.data.tobytes() if isinstance(msg.data, np.ndarray) else bytes(msg.data)
    if not raw:
        raise UndecodableImage(DecodeFailure.EMPTY, f"compressed image ({msg.format!r}) has no data")
    if raw.startswith(_JPEG_MAGIC):
        return _decode_jpeg(raw, msg.format, size)
    if raw.startswith(_PNG_MAGIC):
        return _decode_png(raw, msg.format)
    raise UndecodableImage(DecodeFailure.WRONG_FORMAT, f"compressed image with format {msg.format!r} could "
                                                       f"not be decoded: its data is neither JPEG nor PNG")


def _decode_jpeg(raw: bytes, fmt: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB from JPEG bytes; any libjpeg warning is an error (``strict``).

    Full size, or half size (DCT-domain scaling) when the caller resizes to ``size`` and the JPEG
    ``halves_well``. A header that does not parse just means full size: decoding then names the error.
    """
    half_w = half_h = 0  # simplejpeg ignores minimum sizes <= 0
    if size is not None:
        try:
            h, w, _, subsampling = simplejpeg.decode_jpeg_header(raw)
        except ValueError:
            pass
        else:
            if halves_well(w, h, subsampling, *size):
                half_w, half_h = (w + 1) // 2, (h + 1) // 2
    try:
        return np.asarray(simplejpeg.decode_jpeg(raw, colorspace="RGB", strict=True, min_width=half_w,
                                                 min_height=half_h))
    except ValueError as err:
        text = (str(err).splitlines() or [""])[0]
        # A JPEG cut short has no end-of-image marker (FF D9 never occurs inside the entropy-coded data).
        cut = "premature end" in text.lower() or not raw.rstrip(b"\0").endswith(b"\xff\xd9")
        reason = DecodeFailure.TRUNCATED if cut else DecodeFailure.CORRUPT
        raise UndecodableImage(reason, f"compressed image with format {fmt!r} could not be decoded: "
                                       f"{reason.value} JPEG ({text})") from err


def _decode_png(raw: bytes, fmt: str) -> np.ndarray:
    """RGB from PNG bytes whose every chunk is complete and matches its CRC32 (libpng skips some)."""
    pos, end_seen = len(_PNG_MAGIC), False
    while pos < len(raw) and not end_seen:
        if pos + 12 > len(raw):
            break
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        body_end = pos + 8 + length
        if body_end + 4 > len(raw):
            break
        (crc,) = struct.unpack(">I", raw[body_end:body_end + 4])
        if zlib.crc32(raw[pos + 4:body_end]) != crc:
            kind = raw[pos + 4:pos + 8].decode("latin-1")
            raise UndecodableImage(DecodeFailure.CORRUPT, f"compressed image with format {fmt!r} could not "
                                                          f"be decoded: corrupt PNG (CRC mismatch in a "
                                                          f"{kind!r} chunk)")
        end_seen = raw[pos + 4:pos + 8] == b"IEND"
        pos = body_end + 4
    if not end_seen:
        raise UndecodableImage(DecodeFailure.TRUNCATED, f"compressed image with format {fmt!r} could not be "
                                                        f"decoded: truncated PNG (no IEND chunk)")
    bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UndecodableImage(DecodeFailure.CORRUPT, f"compressed image with format {fmt!r} could not be "
                                                      f"decoded: corrupt PNG")
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
