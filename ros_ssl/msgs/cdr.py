"""sensor_msgs/Image and CompressedImage read straight from their CDR bytes, the pixels as a numpy view.

A subscriber with ``raw=True`` gets the serialized message; building the rclpy message copies a 900 KB
640x480 frame into a Python array first. These views copy nothing: ``data`` is a ``np.frombuffer``
view into the received bytes, and ``ros_ssl.msgs.images.decode_image`` takes the views as it takes
the messages (it only reads the fields named here). Only little-endian plain CDR (what every ROS 2
middleware sends by default) is read; anything else is a MessageError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ros_ssl.errors import MessageError

_CDR_LE = (b"\x00\x01", b"\x00\x03")  # CDR_LE, PL_CDR_LE encapsulation ids
_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")
_HEADER = 4  # encapsulation header; alignment counts from its end


@dataclass(frozen=True)
class Stamp:
    """builtin_interfaces/Time fields."""

    sec: int
    nanosec: int

    @property
    def ns(self) -> int:
        return self.sec * 1_000_000_000 + self.nanosec


@dataclass(frozen=True)
class ImageView:
    """The fields of a sensor_msgs/Image the detector reads."""

    stamp: Stamp
    frame_id: str
    height: int
    width: int
    encoding: str
    step: int
    data: np.ndarray


@dataclass(frozen=True)
class CompressedImageView:
    """The fields of a sensor_msgs/CompressedImage the detector reads."""

    stamp: Stamp
    frame_id: str
    format: str
    data: np.ndarray


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        if len(buf) < _HEADER or buf[:2] not in _CDR_LE:
            raise MessageError(f"serialized message starts with {bytes(buf[:4])!r}, not little-endian CDR")
        self.buf, self.pos = buf, _HEADER

    def _align(self, n: int) -> None:
        self.pos += -(self.pos - _HEADER) % n

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise MessageError(f"serialized image is truncated: {len(self.buf)} bytes, field at {self.pos} "
                               f"needs {n} more")

    def u32(self) -> int:
        self._align(4)
        self._need(4)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(value)

    def u8(self) -> int:
        self._need(1)
        self.pos += 1
        return self.buf[self.pos - 1]

    def stamp(self) -> Stamp:
        self._align(4)
        self._need(8)
        sec, nanosec = _STAMP.unpack_from(self.buf, self.pos)
        self.pos += 8
        return Stamp(int(sec), int(nanosec))

    def string(self) -> str:
        n = self.u32()
        self._need(n)
        text = bytes(self.buf[self.pos: self.pos + max(n - 1, 0)]).decode("utf-8", "replace")
        self.pos += n
        return text

    def octets(self) -> np.ndarray:
        n = self.u32()
        self._need(n)
        view = np.frombuffer(self.buf, np.uint8, n, self.pos)
        self.pos += n
        return view


def parse_image(buf: bytes) -> ImageView:
    """The Image in ``buf`` (serialized sensor_msgs/msg/Image); its ``data`` is a view into ``buf``."""
    r = _Reader(buf)
    stamp, frame_id = r.stamp(), r.string()
    height, width, encoding = r.u32(), r.u32(), r.string()
    r.u8()  # is_bigendian: no 8-bit encoding decode_image reads depends on it
    step = r.u32()
    return ImageView(stamp, frame_id, height, width, encoding, step, r.octets())


def parse_compressed_image(buf: bytes) -> CompressedImageView:
    """The CompressedImage in ``buf`` (serialized sensor_msgs/msg/CompressedImage), ``data`` a view."""
    r = _Reader(buf)
    stamp, frame_id = r.stamp(), r.string()
    fmt = r.string()
    return CompressedImageView(stamp, frame_id, fmt, r.octets())


# Small messages for the labeler's first pass (ros_ssl.bag.streams.read_streams): the few fields it uses,
# as plain tuples. The caller checks the bag's definition first (humble's or kilted's layout: the fields
# read here come before kilted's added Range.variance, so both read alike); anything unexpected in the
# bytes is a MessageError, and the caller then deserialises the message in full.
_RANGE = struct.Struct("<4f")  # field_of_view, min_range, max_range, range
_POSE = struct.Struct("<7d")  # position x, y, z; orientation x, y, z, w


def _after_string(buf: bytes, pos: int) -> int:
    """Offset after the CDR string whose 4-aligned length field is at ``pos`` or after."""
    pos += -(pos - _HEADER) % 4
    (n,) = _U32.unpack_from(buf, pos)
    end = pos + 4 + int(n)
    if end > len(buf):
        raise MessageError(f"serialized message is truncated: {len(buf)} bytes, a string ends at {end}")
    return end


def _check(buf: bytes) -> None:
    if len(buf) < _HEADER + 12 or buf[:2] not in _CDR_LE:
        raise MessageError(f"serialized message starts with {bytes(buf[:4])!r}, not little-endian CDR")


def header_stamp(buf: bytes) -> int:
    """Header stamp (ns) of any serialized message that starts with a std_msgs/Header."""
    _check(buf)
    sec, nanosec = _STAMP.unpack_from(buf, _HEADER)
    return int(sec) * 1_000_000_000 + int(nanosec)


def range_fields(buf: bytes) -> tuple[int, float, float, float]:
    """(header stamp ns, min_range, max_range, range) of a serialized sensor_msgs/msg/Range."""
    try:
        stamp = header_stamp(buf)
        pos = _after_string(buf, _HEADER + 8) + 1  # frame_id, radiation_type
        pos += -(pos - _HEADER) % 4
        _fov, lo, hi, value = _RANGE.unpack_from(buf, pos)
    except struct.error as err:
        raise MessageError(f"serialized Range is truncated ({err})") from err
    return stamp, lo, hi, value


def odometry_fields(buf: bytes) -> tuple[int, tuple[float, ...]]:
    """(header stamp ns, (x, y, z, qx, qy, qz, qw)) of a serialized nav_msgs/msg/Odometry's pose."""
    try:
        stamp = header_stamp(buf)
        pos = _after_string(buf, _after_string(buf, _HEADER + 8))  # frame_id, child_frame_id
        pos += -(pos - _HEADER) % 8
        pose: tuple[float, ...] = _POSE.unpack_from(buf, pos)
    except struct.error as err:
        raise MessageError(f"serialized Odometry is truncated ({err})") from err
    return stamp, pose
