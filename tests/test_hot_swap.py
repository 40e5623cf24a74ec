"""Hot model swap without ROS: the ``current`` pointer, load + verify + warm-up beside the running model,
the swap between two frames, and a broken or incompatible package leaving the running model in place."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_ssl.config.geometry import LabelGeometry
from ros_ssl.edge import EdgeModel
from ros_ssl.edge.preprocess import FrameInput, to_input
from ros_ssl.edge.swap import ActiveModel, ModelSwapper, PointerWatcher, package_id, read_current
from ros_ssl.export.onnx_export import package_model
from ros_ssl.models import IMAGENET_MEAN, IMAGENET_STD, Detector, build_encoder

HW = (48, 64)
GEOMETRY = LabelGeometry.sensor_distance(["left", "center", "right"], [0.0, 0.05, 0.1])


def export(out: Path, seed: int, geometry: LabelGeometry = GEOMETRY) -> Path:
    """An untrained paper CNN (seeded: each seed predicts differently) as a model package."""
    torch.manual_seed(seed)
    det = Detector(build_encoder("paper_cnn", HW), geometry.shape).eval()
    package_model(det, out, image_hw=HW, mean=IMAGENET_MEAN, std=IMAGENET_STD, geometry=geometry,
                  run={"dir": "test", "model": "paper_cnn", "epoch": seed, "val_auc": None}, data=None,
                  auc=None, source_hw=(240, 320), latency_repeats=1)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MODELS/ with packages a, b (same geometry), wide (another geometry) and broken (a damaged a)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    export(root / "a", 0)
    export(root / "b", 1)
    export(root / "wide", 2, LabelGeometry.sensor_distance(["left", "right"], [0.0, 0.05, 0.1]))
    shutil.copytree(root / "a", root / "broken")
    with open(root / "broken" / "model.onnx", "r+b") as f:  # one flipped byte: the checksum must catch it
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    return root


def load(path: Path) -> EdgeModel:
    return EdgeModel(path, providers=["cpu"])


def point(models: Path, model_id: str, symlink: bool = True) -> None:
    """Replace MODELS/current atomically, as the learner does."""
    tmp = models / ".current.tmp"
    if symlink:
        os.symlink(model_id, tmp)
    else:
        tmp.write_text(model_id + "\n")
    os.replace(tmp, models / "current")


def frame(i: int = 0) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8)


def test_current_is_a_symlink_or_a_pointer_file(models: Path, tmp_path: Path) -> None:
    assert read_current(tmp_path) is None
    point(models, "a")
    assert read_current(models) == ("a", models / "a")
    point(models, "b", symlink=False)
    assert read_current(models) == ("b", models / "b")
    watcher = PointerWatcher(models, seen="b")
    assert watcher.check() is None  # unchanged
    point(models, "a")
    assert watcher.check() == ("a", models / "a") and watcher.check() is None
    assert package_id(models / "a") == "a"


def test_frame_input_matches_to_input_bit_for_bit(models: Path) -> None:
    spec = load(models / "a").metadata.input
    prepare = FrameInput(spec)
    for i in range(3):
        rgb = frame(i)
        assert np.array_equal(prepare(rgb), to_input([rgb], spec))


def gated(release: threading.Event) -> Callable[[Path], EdgeModel]:
    """A loader that finishes only once ``release`` is set: the test decides when a load is done."""
    def gated_load(path: Path) -> EdgeModel:
        assert release.wait(30)
        return load(path)
    return gated_load


def test_swap_happens_between_frames_and_no_frame_goes_without_prediction(models: Path) -> None:
    a, b = load(models / "a"), load(models / "b")
    events: list[tuple[dict, str]] = []
    release = threading.Event()
    swapper = ModelSwapper(ActiveModel(a, "a", models / "a"), gated(release),
                           lambda s, e: events.append((s, e)))
    expected_b = b.predict(frame(5))
    stop = threading.Event()
    used: list[str] = []

    def frames() -> None:  # the detector's frame loop at ~100 Hz
        i = 0
        while not stop.is_set():
            model = swapper.take()
            swapper.frame_in()
            model.predict(frame(i % 4))
            swapper.prediction_out()
            used.append("a" if model is a else "b")
            i += 1
            time.sleep(0.01)

    thread = threading.Thread(target=frames)
    thread.start()
    try:
        time.sleep(0.2)
        assert swapper.request(models / "b", "b")
        assert not swapper.request(models / "a", "a")  # one load at a time
        release.set()
        end = time.monotonic() + 30
        while swapper.swaps == 0 and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert swapper.swaps == 1 and swapper.active.model_id == "b"
    switch = used.index("b")
    assert used[:switch] == ["a"] * switch and set(used[switch:]) == {"b"}  # one switch, between frames
    status = swapper.status()
    assert status["frames_dropped_during_swap"] == 0 and status["frames_in"] == status["predictions_out"]
    assert status["sha256"] == b.metadata.files["fp32"].sha256 and status["model_id"] == "b"
    assert 0 < status["switch_ms"] <= status["swap_ms"]
    assert events == [(events[0][0], "")] and json.loads(json.dumps(events[0][0])) == events[0][0]
    np.testing.assert_allclose(swapper.take().predict(frame(5)), expected_b, rtol=1e-5, atol=1e-6)


def test_dropped_frames_count_only_frames_started_in_the_swap_window(models: Path) -> None:
    """A request that lands while a frame is in flight (the detector is between frame_in and
    prediction_out) must not count that frame's prediction against the window; a frame skipped inside
    the window (bad message, NaN output) counts as dropped; frames skipped before the request do not."""
    a = load(models / "a")
    release = threading.Event()
    swapper = ModelSwapper(ActiveModel(a, "a", models / "a"), gated(release))
    swapper.take()
    swapper.frame_in()  # skipped before any request: not the swap's doing
    swapper.take()
    swapper.frame_in()
    assert swapper.request(models / "b", "b")  # arrives mid-frame
    swapper.prediction_out()
    release.set()
    swapper.join(30)
    swapper.take()
    assert swapper.swaps == 1 and swapper.frames_dropped_during_swap == 0

    release.clear()
    b = swapper.active.model
    assert swapper.request(models / "a", "a")
    for skipped in (False, True):  # one frame predicted, one skipped, both while "a" loads
        assert swapper.take() is b
        swapper.frame_in()
        if not skipped:
            swapper.prediction_out()
    release.set()
    swapper.join(30)
    assert swapper.take() is not b
    assert swapper.swaps == 2 and swapper.active.model_id == "a" and swapper.frames_dropped_during_swap == 1


@pytest.mark.parametrize(("bad", "reason"), [("broken", "SHA-256"), ("wide", "restart the detector"),
                                             ("missing", "not found")])
def test_a_bad_package_keeps_the_running_model(models: Path, bad: str, reason: str) -> None:
    a = load(models / "a")
    events: list[str] = []
    swapper = ModelSwapper(ActiveModel(a, "a", models / "a"), load, lambda s, e: events.append(e))
    assert swapper.request(models / bad, bad)
    swapper.join(30)
    assert swapper.take() is a and swapper.swaps == 0 and swapper.failures == 1
    assert len(events) == 1 and events[0] == swapper.last_error
    assert events[0].startswith(f"model {bad} (") and "keeping a" in events[0] and reason in events[0]
    assert "\n" not in events[0]
    assert swapper.request(models / "b", "b")  # the next good package still swaps in
    swapper.join(30)
    assert swapper.take() is not a and swapper.active.model_id == "b"
