"""Streaming labelling (frames decoded and appended in chunks) and half-size JPEG decoding (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simplejpeg

import ros_ssl.label.pipeline as pipeline
from ros_ssl.bag import BagWriter
from ros_ssl.bag import messages as M
from ros_ssl.bag.streams import CameraFrame
from ros_ssl.config import load_profile
from ros_ssl.data import load_dataset
from ros_ssl.data.store import DatasetWriter
from ros_ssl.errors import BagError
from ros_ssl.label import label_bag
from ros_ssl.label.pipeline import label_bag_into
from ros_ssl.msgs.decode_quality import decode_quality, scene
from ros_ssl.msgs.images import decode_image, decode_resized, encode_compressed, halves_well, resize_rgb

MS = 1_000_000
T0 = 1_700_000_000_000_000_000
PROFILE = load_profile("sim")
SIZE = (PROFILE.image.width, PROFILE.image.height)


def jpeg_msg(rgb: np.ndarray, quality: int = 90) -> M.CompressedImage:
    return M.CompressedImage(header=M.header(1, "cam"), format="jpeg",
                             data=encode_compressed(rgb, "jpeg", quality))


def write_bag(path: Path, frames: int = 40) -> Path:
    """Odometry from 0.5 s on (frames 0-4 have no pose), 320x240 JPEGs at 10 Hz, frame 12 corrupt."""
    image = scene(0)
    with BagWriter(path) as w:
        for k in range(int(frames / 10 * 50) + 1):
            t = T0 + 500 * MS + k * 20 * MS
            x = 0.002 * k
            w.write("/odom", t, M.odometry_msg(t, "odom", "base_link", x, 0.0, 0.0, v=0.1))
            if k % 2 == 0:
                for s in PROFILE.proximity.sensors:
                    gap = (0.3 - x - s.x) / np.cos(s.yaw)
                    value = gap if gap < 0.12 else np.inf
                    w.write(s.topic, t, M.range_msg(t, "proximity_" + s.name, value, 0.12))
        for k in range(frames):
            t = T0 + k * 100 * MS
            msg = M.compressed_msg(t, "camera_link", np.roll(image, 9 * k, axis=1))
            if k == 12:
                msg = M.CompressedImage(header=M.header(t, "camera_link"), format="jpeg",
                                        data=np.frombuffer(b"\xff\xd8\xffnot a jpeg", np.uint8))
            w.write(PROFILE.camera.topic, t, msg)
    return path


class Sink:
    """A ShardSink that records what it is given."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []
        self.report: Mapping[str, Any] | None = None
        self.aborted = False

    def append(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.chunks.append({k: np.array(v) for k, v in arrays.items()})

    def commit(self, report: Mapping[str, Any] | None = None) -> bool:
        self.report = report
        return True

    def abort(self) -> None:
        self.aborted = True


def test_chunked_labelling_equals_whole_bag_array_by_array(tmp_path, monkeypatch):
    bag = write_bag(tmp_path / "bag")
    whole, meta = label_bag(bag, PROFILE)  # 34 frames kept: one chunk
    assert meta["frames"] == 34 < pipeline.CHUNK_FRAMES
    assert meta["report"]["frames_skipped"]["undecodable"] == 1
    monkeypatch.setattr(pipeline, "CHUNK_FRAMES", 7)
    chunked, meta7 = label_bag(bag, PROFILE)
    assert json.dumps(meta7) == json.dumps(meta)
    writer = DatasetWriter(tmp_path / "ds", PROFILE.label_geometry(), SIZE[::-1], PROFILE)
    into, added = label_bag_into(bag, PROFILE, writer.open_shard)
    assert added and json.dumps(into) == json.dumps(meta)
    ds = load_dataset(tmp_path / "ds")
    assert ds.recordings[0]["report"] == meta["report"] and ds.recordings[0]["id"] == meta["id"]
    for name, array in whole.items():
        assert chunked[name].dtype == array.dtype and np.array_equal(chunked[name], array), name
        stored = np.asarray(ds.frames[:]) if name == "frames" else getattr(ds, name)
        assert np.array_equal(stored, array), name
    _, again = label_bag_into(bag, PROFILE, writer.open_shard)
    assert again is False  # the recording was there: not added twice


def test_streaming_appends_chunks_never_the_whole_bag(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_FRAMES", 7)
    sink = Sink()
    meta, _ = label_bag_into(write_bag(tmp_path / "bag"), PROFILE, lambda head: sink)
    assert [len(c["frames"]) for c in sink.chunks] == [7, 7, 7, 7, 6]
    assert all(len(v) == len(c["frames"]) for c in sink.chunks for v in c.values())
    assert sink.report == meta["report"] and not sink.aborted


def test_a_bag_that_changes_between_reads_aborts_its_shard(tmp_path, monkeypatch):
    bag = write_bag(tmp_path / "bag")
    real = pipeline.iter_frames

    def short(path: Path, topic: str, size: tuple[int, int] | None = None) -> Iterator[CameraFrame]:
        return (f for f in real(path, topic, size) if f.number < 30)

    monkeypatch.setattr(pipeline, "iter_frames", short)
    sink = Sink()
    with pytest.raises(BagError, match="ended after 30 of 40 camera messages"):
        label_bag_into(bag, PROFILE, lambda head: sink)
    assert sink.aborted and sink.report is None


def test_half_size_decode_is_no_worse_than_full_decode_plus_area_resize():
    """Against the area-resized uncompressed image: better at usual camera qualities, equal at 50."""
    for quality, margin in ((50, 0.1), (75, 0.0), (90, 0.0), (95, 0.0)):
        r = decode_quality(quality, seeds=3, size=SIZE)
        assert r["psnr_new"] >= r["psnr_full"] - margin, quality
        assert r["ssim_new"] >= r["ssim_full"] - 0.001 / 3, quality  # summed over 3 scenes: within 0.001


def test_only_4_2_0_jpegs_big_enough_are_decoded_at_half_size(monkeypatch):
    assert halves_well(320, 240, "420", 80, 64)
    assert halves_well(641, 481, "420", 160, 120)
    assert not halves_well(320, 240, "444", 80, 64) and not halves_well(320, 240, "422", 80, 64)
    assert not halves_well(200, 160, "420", 80, 64)  # half size would be under 1.5x the output
    calls: list[tuple[int, int]] = []
    real = simplejpeg.decode_jpeg

    def spy(raw: bytes, **kw: Any) -> np.ndarray:
        calls.append((kw.get("min_width", 0), kw.get("min_height", 0)))
        return real(raw, **kw)

    monkeypatch.setattr(simplejpeg, "decode_jpeg", spy)
    img = scene(1)
    decode_resized(jpeg_msg(img), *SIZE)
    assert calls == [(160, 120)]
    yuv444 = np.frombuffer(simplejpeg.encode_jpeg(img, 90, "RGB", "444"), np.uint8)
    for msg in (M.CompressedImage(header=M.header(1, "c"), format="jpeg", data=yuv444),  # 4:4:4: full size
                M.compressed_msg(1, "c", img, "png"), M.image_msg(1, "c", img, "bgr8"),
                jpeg_msg(img[:100, :150])):
        assert np.array_equal(decode_resized(msg, *SIZE), resize_rgb(decode_image(msg), *SIZE))
    assert calls[-1] == (0, 0)
