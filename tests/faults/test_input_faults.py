"""Faulty inputs to ``ros-ssl label`` (and the other commands' --out and config files), built as real bags
and files, run through the real CLI: each asserts what happens, the exit code and the one line a user reads.

Corrupt frames, duplicated messages, stamps going backwards, NaN/inf readings, odometry resets and
gaps, values that pass the type check and would do harm, YAML alias bombs, unwritable outputs.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml

from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.config import load_profile
from ros_ssl.data import load_dataset
from ros_ssl.errors import ConfigError
from ros_ssl.label import label_bag
from ros_ssl.msgs.images import DecodeFailure, UndecodableImage, decode_image, encode_compressed

MS = 1_000_000
T0 = 1_700_000_000_000_000_000
PROFILE = load_profile("sim")
FRAMES = 30  # 10 Hz camera for 3 s; odometry 50 Hz from T0
BOMB = ('a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'
        'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n'
        'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n'
        'i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n')


def textured(k: int) -> np.ndarray:
    """A 48 x 64 frame with enough detail that its JPEG has a real entropy-coded scan."""
    rng = np.random.default_rng(k)
    return cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (5, 5), 1.5)


def libjpeg_warns(data: bytes) -> bool:
    """True if OpenCV returns pixels for ``data`` but libjpeg warned on stderr: the frames kept as
    garbage before decoding became strict (independent of the decoder under test)."""
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return img is not None and b"Corrupt JPEG" in err.read()


def bit_flipped(data: bytes, seed: int) -> bytes:
    """``data`` with one bit flipped in the entropy-coded scan, chosen so that libjpeg warns but decodes."""
    rng = np.random.default_rng(seed)
    start = data.rindex(b"\xff\xda") + 20
    for _ in range(1000):
        out = bytearray(data)
        out[int(rng.integers(start, len(data) - 2))] ^= 1 << int(rng.integers(8))
        if libjpeg_warns(bytes(out)):
            return bytes(out)
    raise AssertionError("no bit flip that libjpeg warns about")


def damaged_png(rgb: np.ndarray) -> bytes:
    """A PNG whose IDAT chunk's CRC no longer matches (one bit flipped in its stored CRC)."""
    data = bytearray(encode_compressed(rgb, "png").tobytes())
    i = data.index(b"IDAT") - 4
    length = int.from_bytes(data[i:i + 4], "big")
    data[i + 8 + length] ^= 1
    return bytes(data)


def compressed(t: int, data: bytes, fmt: str = "jpeg") -> object:
    return M.CompressedImage(header=M.header(t, "camera_link"), format=fmt,
                             data=np.frombuffer(data, np.uint8))


def write_bag(path: Path, *, frame: Callable[[int, int], object] | None = None,
              odom_x: Callable[[int], float] = lambda k: 0.1 * k * 0.02, odom_every: int = 1,
              reading: Callable[[int, float], float] | None = None,
              camera_ns: Callable[[int], int] | None = None, twice: bool = False) -> Path:
    """A straight drive towards a wall at x = 0.4 m, every sim-profile topic present.

    Hooks replace one thing: the camera message of frame k, the odometry x of sample k (and only every
    ``odom_every``-th sample is written), a Range reading, the header stamp of frame k; ``twice`` writes
    every message twice (a bag recorded by two recorders at once).
    """
    with BagWriter(path) as w:
        def put(topic: str, t: int, msg: object) -> None:
            for _ in range(2 if twice else 1):
                w.write(topic, t, msg)

        for k in range(3 * 50 + 1):
            t = T0 + k * 20 * MS
            x = 0.1 * k * 0.02
            if k % odom_every == 0:
                put("/odom", t, M.odometry_msg(t, "odom", "base_link", odom_x(k), 0.0, 0.0, v=0.1))
            if k % 2 == 0:
                for s in PROFILE.proximity.sensors:
                    gap = (0.4 - x - s.x) / np.cos(s.yaw)
                    value = gap if gap < 0.12 else np.inf
                    put(s.topic, t, M.range_msg(t, "proximity_" + s.name,
                                                value if reading is None else reading(k, value), 0.12))
            if k % 5 == 0 and k // 5 < FRAMES:
                i = k // 5
                stamp = camera_ns(i) if camera_ns is not None else t
                good = M.compressed_msg(stamp, "camera_link", textured(i))
                put(PROFILE.camera.topic, t, frame(i, stamp) if frame is not None else good)
    return path


def cli(*args: str | Path, user: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ros_ssl", *map(str, args)], capture_output=True, text=True,
                          timeout=300, check=False, user=user)


def label(bag: Path, out: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    return cli("label", bag, "--out", out, "--no-progress", *extra)


def one_error_line(res: subprocess.CompletedProcess[str], *parts: str) -> str:
    """The single ``ros-ssl: error:`` line of a failed run (exit 2, no traceback), holding every part."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ros-ssl: error: "), res.stderr
    assert "Traceback" not in res.stderr and len(lines[0]) < 400, lines[0][:400]
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


# --- strict decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "reason"), [
    (lambda: bit_flipped(encode_compressed(textured(0)).tobytes(), 0), DecodeFailure.CORRUPT),
    (lambda: encode_compressed(textured(0)).tobytes()[:400], DecodeFailure.TRUNCATED),
    (lambda: damaged_png(textured(0)), DecodeFailure.CORRUPT),
    (lambda: encode_compressed(textured(0), "png").tobytes()[:-20], DecodeFailure.TRUNCATED),
    (lambda: b"GIF89a not what the format says", DecodeFailure.WRONG_FORMAT),
    (lambda: b"", DecodeFailure.EMPTY),
])
def test_damaged_compressed_frames_are_refused_with_a_reason(data: Callable[[], bytes],
                                                             reason: DecodeFailure):
    with pytest.raises(UndecodableImage) as err:
        decode_image(SimpleNamespace(format="jpeg", data=data()))
    assert err.value.reason is reason


def test_raw_image_that_does_not_fit_its_data_is_a_size_mismatch():
    msg = SimpleNamespace(height=4, width=4, encoding="rgb8", step=12, data=b"\0" * 10)
    with pytest.raises(UndecodableImage, match="does not fit") as err:
        decode_image(msg)
    assert err.value.reason is DecodeFailure.SIZE_MISMATCH


def test_strict_decoding_keeps_the_pixels_of_good_frames():
    rgb = textured(3)
    jpeg = encode_compressed(rgb, quality=95)
    reference = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(decode_image(SimpleNamespace(format="jpeg", data=jpeg)), reference)
    png = encode_compressed(rgb, "png")
    assert np.array_equal(decode_image(SimpleNamespace(format="png", data=png)), rgb)


@pytest.mark.slow
def test_label_counts_corrupt_frames_per_reason_and_keeps_none_of_them(tmp_path):
    """Before: bit-flipped JPEGs were decoded as garbage and stored ("skipped: none")."""
    def frame(i: int, t: int) -> object:
        good = encode_compressed(textured(i)).tobytes()
        if i in (3, 4, 5, 6):
            return compressed(t, bit_flipped(good, i))
        if i in (7, 8):
            return compressed(t, good[: len(good) // 2])
        if i == 9:
            return compressed(t, damaged_png(textured(i)), "png")
        return compressed(t, good)

    bag = write_bag(tmp_path / "bag", frame=frame)
    res = label(bag, tmp_path / "ds")
    assert res.returncode == 0, res.stderr
    assert "undecodable 7 (truncated 2, corrupt 5)" in res.stdout, res.stdout
    ds = load_dataset(tmp_path / "ds")
    assert len(ds) == FRAMES - 7
    assert ds.recordings[0]["report"]["undecodable"] == {"truncated": 2, "corrupt": 5}


# --- duplicates, stamps going backwards, NaN/inf readings, resets -----------------------------------------


@pytest.mark.slow
def test_every_message_recorded_twice_is_stored_once(tmp_path):
    once = write_bag(tmp_path / "once")
    twice = write_bag(tmp_path / "twice", twice=True)
    res = label(twice, tmp_path / "ds2")
    assert res.returncode == 0, res.stderr
    messages = 151 + 76 * 5 + FRAMES
    assert f"{messages} duplicate messages dropped" in res.stdout and f"duplicate {FRAMES}" in res.stdout
    assert label(once, tmp_path / "ds1").returncode == 0
    a, b = load_dataset(tmp_path / "ds1"), load_dataset(tmp_path / "ds2")
    assert len(b) == len(a) == FRAMES
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert b.recordings[0]["report"]["duplicates"]["/odom"] == 151


def test_stamps_going_backwards_are_counted_in_the_label_summary(tmp_path):
    from ros_ssl.cli.label_cmd import summary_line

    swap = {10: 11, 11: 10}
    bag = write_bag(tmp_path / "bag", camera_ns=lambda i: T0 + swap.get(i, i) * 100 * MS,
                    odom_x=lambda k: 0.1 * k * 0.02)
    _, meta = label_bag(bag, PROFILE)
    line = summary_line(meta["id"], meta["report"])
    assert "stamps going backwards: camera 1" in line
    assert meta["report"]["frames_out_of_order"] == 1


def test_nan_and_inf_readings_are_dropped_or_read_per_rep117(tmp_path):
    def reading(k: int, value: float) -> float:
        return float("nan") if k % 10 == 0 else (float("inf") if k < 20 else value)

    _, meta = label_bag(write_bag(tmp_path / "bag", reading=reading), PROFILE)
    counts = meta["report"]["readings"]["center"]
    assert counts["readings_invalid"] == 16 and counts["readings"] == 76
    assert meta["report"]["frames_with_labels"] > 0


def test_odometry_reset_cuts_the_trajectory_and_is_reported(tmp_path):
    from ros_ssl.cli.label_cmd import summary_line

    bag = write_bag(tmp_path / "bag", odom_x=lambda k: 0.1 * k * 0.02 if k < 75 else 0.1 * (k - 75) * 0.02)
    _, meta = label_bag(bag, PROFILE)
    assert meta["report"]["odometry"]["odom_resets"] == 1
    assert "odometry cut at resets 1" in summary_line(meta["id"], meta["report"])


# --- warnings that name the profile field -----------------------------------------------------------------


@pytest.mark.slow
def test_sparse_odometry_warns_naming_max_odom_gap(tmp_path):
    bag = write_bag(tmp_path / "bag", odom_every=50)  # 1 Hz odometry, profile max gap 0.5 s
    res = label(bag, tmp_path / "ds")
    assert res.returncode == 0, res.stderr
    warning = [line for line in res.stderr.splitlines() if line.startswith("ros-ssl: warning: ")]
    assert len(warning) == 1, res.stderr
    assert ("of frames fall in odometry gaps longer than labels.max_odom_gap_s=0.5 s (median odometry "
            "interval 1 s); raise labels.max_odom_gap_s") in warning[0]
    assert "odom_gap 27" in res.stdout


def test_short_window_warns_naming_window_s(tmp_path):
    data = PROFILE.to_dict()
    data["labels"]["window_s"] = 0.2
    from ros_ssl.config.profile import profile_from_dict

    _, meta = label_bag(write_bag(tmp_path / "bag"), profile_from_dict(data))
    warnings = meta["report"]["warnings"]
    assert any("labels.window_s=0.2 s leaves most cells unknown" in w and "raise labels.window_s" in w
               for w in warnings), warnings


# --- bounded values and bounded YAML ----------------------------------------------------------------------


@pytest.mark.parametrize(("labels", "message"), [
    ({"distance_step": 1e-7}, "profile field labels.distance_step is 1e-07; expected >= 0.001 (1 mm)"),
    ({"tol_x": 1e300}, "profile field labels.tol_x is 1e+300; expected > 0 and <= 1 m"),
    ({"window_s": 1e9}, "profile field labels.window_s is 1000000000.0; expected > 0 and <= 3600 s"),
    ({"max_odom_gap_s": 0}, "profile field labels.max_odom_gap_s is 0"),
    ({"distance_step": 0.001, "distance_stop": 100.0},
     ("profile field labels.distance_step is 0.001; expected a step giving at most 65536 cells "
      "(5 sensors x 100001 distances)")),
])
def test_harmful_profile_values_are_refused(labels: dict[str, float], message: str):
    from ros_ssl.config.profile import profile_from_dict

    data = PROFILE.to_dict()
    data["labels"].update(labels)
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        profile_from_dict(data)


@pytest.mark.parametrize(("override", "message"), [
    ({"epochs": 10**9}, "recipe field epochs is 1000000000; expected >= 1 and <= 10000"),
    ({"batch_size": 10**7}, "recipe field batch_size is 10000000; expected >= 1 and <= 65536"),
    ({"lr": 1e6}, "recipe field lr is 1000000.0; expected a positive number <= 10"),
])
def test_harmful_recipe_values_are_refused(override: dict[str, float], message: str):
    from ros_ssl.train.recipe import load_recipe

    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
        load_recipe(None, override)


def test_tiny_distance_step_fails_at_once_in_one_short_line(tmp_path):
    """Before: a 38 MB manifest and a 65 MB error line."""
    data = PROFILE.to_dict()
    data["labels"]["distance_step"] = 1e-7
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(data))
    res = label(tmp_path / "missing.bag", tmp_path / "ds", "--config", config)
    one_error_line(res, "labels.distance_step is 1e-07")
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
@pytest.mark.parametrize("option", ["--config", "--recipe"])
def test_yaml_alias_bomb_exits_2_fast(tmp_path, option: str):
    """Before: 26 s, 2.7 GB and a MemoryError traceback (or a 13.6 MB "one-line" error)."""
    from ros_ssl.train.recipe import load_recipe

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    start = time.process_time()  # CPU time: a loaded machine's scheduler pauses do not count
    with pytest.raises(ConfigError, match="alias bomb"):
        load_profile(bomb) if option == "--config" else load_recipe(bomb)
    assert time.process_time() - start < 1
    if option == "--config":
        res = label(tmp_path / "missing.bag", tmp_path / "ds", "--config", bomb)
    else:  # train imports torch first, so only the answer is checked here, not its time
        res = cli("train", tmp_path / "missing_dataset", "--out", tmp_path / "run", "--recipe", bomb)
    one_error_line(res, str(bomb), "alias bomb")


# --- outputs that cannot be written -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_out_fails_before_any_bag_is_read(tmp_path):
    """Before: a raw PermissionError traceback after all the labelling work."""
    bag = write_bag(tmp_path / "bag")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        for out in (read_only, read_only / "ds"):
            one_error_line(label(bag, out), f"output {out} is not writable", "Permission denied")
        assert list(read_only.iterdir()) == []
    finally:
        read_only.chmod(0o755)


def test_unwritable_out_is_refused_before_any_bag_is_read(tmp_path, monkeypatch, capsys):
    """The same through the CLI entry point in this process, for runs as root: the write probe is refused
    the way a read-only folder refuses it, and the bag (which does not exist) is never opened."""
    from ros_ssl.cli import main as cli_main

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(sys, "argv", ["ros-ssl", "label", str(tmp_path / "missing.bag"), "--out",
                                      str(tmp_path / "ds"), "--no-progress"])
    with pytest.raises(SystemExit) as exit_:
        cli_main.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"ros-ssl: error: output {tmp_path / 'ds'} is not writable: "
                                       f"{tmp_path}: Permission denied\n")


@pytest.mark.parametrize("command", [
    ("label", "missing.bag"), ("simulate", "--duration", "1"),
    pytest.param(("train", "missing_dataset"), marks=pytest.mark.slow),  # imports torch first
    pytest.param(("export", "missing_run"), marks=pytest.mark.slow),
])
def test_out_under_a_file_fails_at_once_for_every_command(tmp_path, command: tuple[str, ...]):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "out"
    res = cli(*command, "--out", out)
    one_error_line(res, f"output {out} cannot be created: {blocker} is not a directory")


def test_known_os_refusals_print_one_line(monkeypatch, capsys):
    from ros_ssl.cli import main as cli_main

    def full_disk() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/ds/frames.bin")

    monkeypatch.setattr(cli_main, "app", full_disk)
    with pytest.raises(SystemExit) as exit_:
        cli_main.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "ros-ssl: error: /data/ds/frames.bin: No space left on device\n"
