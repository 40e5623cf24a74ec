import math
from types import SimpleNamespace

import numpy as np
import pytest

from ros_ssl.bag import messages as M
from ros_ssl.errors import MessageError
from ros_ssl.msgs import decode_image, encode_compressed, range_reading, scan_readings
from ros_ssl.msgs.images import encode_raw, resize_rgb
from ros_ssl.msgs.poses import compose, odometry_pose, quaternion_from_yaw, wrap_angle, yaw_from_quaternion


def _rgb(h=6, w=7):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "bgra8", "rgba8"])
def test_raw_encodings_round_trip(encoding):
    rgb = _rgb()
    assert np.array_equal(decode_image(M.image_msg(1, "cam", rgb, encoding)), rgb)


def test_mono8_round_trip_is_grey():
    rgb = _rgb()
    out = decode_image(M.image_msg(1, "cam", rgb, "mono8"))
    assert out.shape == rgb.shape
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_row_padding_is_respected():
    rgb = _rgb(4, 5)
    h, w, enc, step, data = encode_raw(rgb, "rgb8")
    padded = np.zeros((h, step + 3), np.uint8)
    padded[:, :step] = data.reshape(h, step)
    msg = SimpleNamespace(height=h, width=w, encoding=enc, step=step + 3, data=padded.reshape(-1))
    assert np.array_equal(decode_image(msg), rgb)


def test_png_is_lossless_and_jpeg_close():
    rgb = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (24, 1, 3))
    assert np.array_equal(decode_image(M.compressed_msg(1, "cam", rgb, "png")), rgb)
    jpeg = decode_image(M.compressed_msg(1, "cam", rgb, "jpeg", quality=95))
    assert np.abs(jpeg.astype(int) - rgb).mean() < 3


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        (SimpleNamespace(height=2, width=2, encoding="yuv422", step=4, data=b"\0" * 8),
         "unsupported image encoding"),
        (SimpleNamespace(height=4, width=4, encoding="rgb8", step=12, data=b"\0" * 10), "does not fit"),
        (SimpleNamespace(format="jpeg", data=b"not a jpeg"), "could not be decoded"),
        (SimpleNamespace(format="jpeg", data=b""), "has no data"),
        (SimpleNamespace(foo=1), "not an image message"),
    ],
)
def test_bad_images_raise_clear_errors(msg, match):
    with pytest.raises(MessageError, match=match):
        decode_image(msg)


def test_encode_rejects_non_rgb():
    with pytest.raises(MessageError, match="H x W x 3 uint8"):
        encode_compressed(np.zeros((4, 4), np.float32))


def test_resize_to_training_resolution():
    assert resize_rgb(_rgb(240, 320), 80, 64).shape == (64, 80, 3)


def test_range_rep117():
    mk = lambda v: M.range_msg(1, "s", v, max_range=0.12, min_range=0.01)  # noqa: E731
    assert range_reading(mk(0.05)) == pytest.approx(0.05)
    assert range_reading(mk(math.inf)) == math.inf
    assert range_reading(mk(0.12)) == math.inf  # pre-REP-117 drivers report max_range for "nothing"
    assert range_reading(mk(-math.inf)) == -math.inf
    assert range_reading(mk(0.005)) == -math.inf  # below min_range: too close
    assert math.isnan(range_reading(mk(math.nan)))
    assert math.isnan(range_reading(mk(-0.3)))


def test_range_without_variance_field():
    humble = SimpleNamespace(range=0.07, min_range=0.0, max_range=0.12)  # no 'variance' attribute
    assert range_reading(humble) == pytest.approx(0.07)


def test_scan_beams():
    scan = M.scan_msg(1, "s", [0.05, math.inf, 0.2, math.nan], angle_min=-1, angle_increment=0.5,
                      range_max=0.12)
    out = scan_readings(scan, [0, 1, 2, 3, 9])
    assert out[0] == pytest.approx(0.05) and out[1] == math.inf and out[2] == math.inf
    assert math.isnan(out[3]) and math.isnan(out[4])  # beam 9 does not exist


def test_odometry_and_pose_maths():
    msg = M.odometry_msg(1, "odom", "base_link", 1.0, -2.0, 2.5)
    x, y, yaw = odometry_pose(msg)
    assert (x, y) == (1.0, -2.0) and yaw == pytest.approx(2.5)
    assert yaw_from_quaternion(*quaternion_from_yaw(-3.0)) == pytest.approx(-3.0)
    x, y, t = compose((1.0, 0.0, math.pi / 2), (1.0, 0.0, math.pi / 2))
    assert (x, y, t) == pytest.approx((1.0, 1.0, -math.pi))
    assert wrap_angle(3 * math.pi) == pytest.approx(-math.pi)
    assert np.allclose(wrap_angle(np.array([0.0, 2 * math.pi + 0.1])), [0.0, 0.1])
