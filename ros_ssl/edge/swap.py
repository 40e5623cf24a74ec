"""Hot model swap without ROS: watch ``MODELS/current``, load the new package beside the running one, swap.

The contract with the learner (``MODELS/<model-id>/`` immutable packages, ``MODELS/current`` a symlink
or a pointer file naming one of them, replaced atomically) is in the README. The detector calls
``ModelSwapper.take()`` at the start of every frame: it returns the model to run that frame and
applies a finished load there, so the swap happens between two frames and no frame waits for a
load. Loading, verifying (checksums, model SHA-256, I/O contract, same output geometry) and warming
up happen in a background thread; a package that fails any of them leaves the running model in place.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.edge.runtime import EdgeModel
from ros_ssl.errors import ModelPackageError, RosSslError

CURRENT = "current"
WARMUP_RUNS = 3


@dataclass(frozen=True)
class ActiveModel:
    """A loaded model and what identifies it on ``/detector/model``."""

    model: EdgeModel
    model_id: str
    path: Path

    @property
    def sha256(self) -> str:
        return self.model.metadata.files[self.model.variant].sha256


def read_current(models_dir: Path) -> tuple[str, Path] | None:
    """(model id, package path) that ``models_dir/current`` names, or None while there is none.

    ``current`` is a symlink to ``<model-id>`` or a file holding ``<model-id>``; relative names resolve
    inside ``models_dir``.
    """
    pointer = models_dir / CURRENT
    try:
        target = os.readlink(pointer) if pointer.is_symlink() else pointer.read_text().strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    if not target:
        return None
    path = Path(target) if os.path.isabs(target) else models_dir / target
    return path.name, path


def package_id(path: Path) -> str:
    """The id of a package given by path: its directory name (as in ``MODELS/<model-id>``)."""
    return path.resolve().name


class PointerWatcher:
    """Reports ``models_dir/current`` each time it names another model id than last reported."""

    def __init__(self, models_dir: str | Path, seen: str = "") -> None:
        self.models_dir = Path(models_dir)
        self.seen = seen

    def check(self) -> tuple[str, Path] | None:
        found = read_current(self.models_dir)
        if found is None or found[0] == self.seen:
            return None
        self.seen = found[0]
        return found


def warm_up(model: EdgeModel) -> None:
    """Run a few frames of the training camera's size, so the first real frame pays no first-run cost."""
    spec = model.metadata.input
    h, w = (spec.source_height, spec.source_width) if spec.source_width else (spec.height, spec.width)
    frame = np.zeros((h, w, 3), np.uint8)
    for _ in range(WARMUP_RUNS):
        out = model.predict(frame)
        if not np.isfinite(out).all():
            raise ModelPackageError(f"model {model.file} gives non-finite outputs on a blank frame")


class ModelSwapper:
    """The running model plus at most one model loading beside it; thread-safe, swaps in ``take()``.

    ``load(path)`` builds and verifies an :class:`EdgeModel` (the caller's loader: variant, providers,
    threads). ``on_status(status, error)`` is called after each swap (error "") and each refused package
    (error: one line saying which and why), from the frame thread or the loader thread.
    """

    def __init__(self, active: ActiveModel, load: Callable[[Path], EdgeModel],
                 on_status: Callable[[dict[str, Any], str], None] | None = None) -> None:
        self.active = active
        self._load = load
        self._on_status = on_status or (lambda _status, _error: None)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending: ActiveModel | None = None
        self._requested_at = 0.0
        # (frames in, predictions out) at the first frame boundary after a request: taken in the frame
        # thread, so a frame in flight when the request came is counted before the swap window, not in it
        self._mark: tuple[int, int] | None = None
        self.frames_in = self.predictions_out = 0
        self.swaps = self.failures = 0
        self.swap_ms = self.switch_ms = 0.0
        self.frames_dropped_during_swap = 0
        self.last_error = ""

    @property
    def busy(self) -> bool:
        """True while a model is loading or loaded but not swapped in yet."""
        with self._lock:
            return self._thread is not None or self._pending is not None

    def request(self, path: Path, model_id: str) -> bool:
        """Start loading ``path`` in the background; False (nothing started) while another one loads."""
        with self._lock:
            if self._thread is not None or self._pending is not None:
                return False
            self._requested_at = time.perf_counter()
            self._mark = None
            self._thread = threading.Thread(target=self._run, args=(Path(path), model_id),
                                            name="model-loader", daemon=True)
            self._thread.start()
            return True

    def take(self) -> EdgeModel:
        """The model for this frame; a loaded model becomes active here, between two frames."""
        if self._mark is not None and self._pending is None:  # the frame path: no lock
            return self.active.model
        t0 = time.perf_counter()
        with self._lock:
            if self._mark is None:
                self._mark = (self.frames_in, self.predictions_out)
            new, self._pending = self._pending, None
            if new is not None:
                self.active = new
                frames, predictions = self.frames_in - self._mark[0], self.predictions_out - self._mark[1]
                self.frames_dropped_during_swap = frames - predictions
                self.swaps += 1
                self.switch_ms = (time.perf_counter() - t0) * 1e3
                self.swap_ms = (time.perf_counter() - self._requested_at) * 1e3
        if new is not None:
            self._on_status(self.status(), "")
        return self.active.model

    def frame_in(self) -> None:
        """Count a frame handed to the detector (call once per frame, after ``take()``)."""
        self.frames_in += 1

    def prediction_out(self) -> None:
        """Count a published prediction."""
        self.predictions_out += 1

    def join(self, timeout: float | None = None) -> None:
        """Wait for a load under way (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """What ``/detector/model`` publishes (JSON object)."""
        a = self.active
        return {"model_id": a.model_id, "path": str(a.path), "sha256": a.sha256, "variant": a.model.variant,
                "swaps": self.swaps, "swap_ms": round(self.swap_ms, 3), "switch_ms": round(self.switch_ms, 3),
                "frames_dropped_during_swap": self.frames_dropped_during_swap,
                "frames_in": self.frames_in, "predictions_out": self.predictions_out,
                "failures": self.failures, "last_error": self.last_error}

    def _run(self, path: Path, model_id: str) -> None:
        try:
            model = self._load(path)
            check_compatible(self.active.model, model)
            warm_up(model)
        except (RosSslError, OSError, RuntimeError) as err:
            with self._lock:
                self._thread = None
                self.failures += 1
                self.last_error = (f"model {model_id} ({path}) not loaded, keeping {self.active.model_id}: "
                                   f"{err}")
            self._on_status(self.status(), self.last_error)
            return
        with self._lock:
            self._thread = None
            self._pending = ActiveModel(model, model_id, path)


def check_compatible(running: EdgeModel, new: EdgeModel) -> None:
    """A new model must predict the same cells: the geometry is latched downstream (controller, ranges)."""
    old_geometry, new_geometry = running.metadata.output.geometry, new.metadata.output.geometry
    if new_geometry != old_geometry or new.output_shape != running.output_shape:
        raise ModelPackageError(f"model {new.package.path} predicts {new_geometry.kind.value} "
                                f"{new.output_shape}, the running model {old_geometry.kind.value} "
                                f"{running.output_shape} with other cells; restart the detector to change "
                                f"geometry")
