"""Camera frames rendered and encoded off the main process: TinyRenderer is the simulator's bottleneck.

Frames depend only on the pose, so the recorder drives ahead and hands poses to worker processes,
each holding its own Scene of the same world; ``workers=1`` renders inline with no processes.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator, Sequence
from multiprocessing.context import BaseContext
from multiprocessing.pool import Pool
from typing import Any

import numpy as np

from ros_ssl.config.profile import CameraConfig
from ros_ssl.msgs.images import encode_compressed
from ros_ssl.sim.scene import Scene

# (data, render seconds, encode seconds); data = encoded bytes (compressed) or the RGB array (raw).
Rendered = tuple[np.ndarray, float, float]

_worker: dict[str, Scene] = {}  # the worker process's scene


class FrameRenderer:
    """Render + encode camera frames for poses, in order, with ``workers`` processes (1 = inline)."""

    def __init__(self, world: dict[str, Any], camera: CameraConfig, workers: int = 1) -> None:
        self.camera, self.workers = camera, max(1, int(workers))
        self._scene: Scene | None = None
        self._pool: Pool | None = None
        if self.workers == 1:
            self._scene = Scene(world, camera)
        else:
            self._pool = _context().Pool(self.workers, initializer=_init, initargs=(world, camera))

    def submit(self, poses: Sequence[Sequence[float]]) -> Iterator[Rendered]:
        """Start rendering ``poses``; iterate the result (in order) when the frames are needed."""
        jobs = [(float(x), float(y), float(yaw)) for x, y, yaw in poses]
        if self._scene is not None:
            return iter([_render(self._scene, pose) for pose in jobs])
        if self._pool is None:
            raise RuntimeError("FrameRenderer is closed")
        return self._pool.imap(_work, jobs, chunksize=max(1, len(jobs) // (2 * self.workers)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        if self._scene is not None:
            self._scene.close()
            self._scene = None

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._pool is not None:
            self._pool.terminate()
        self.close()


def _context() -> BaseContext:
    """fork where available: no re-import of the caller's __main__ (spawn needs a main guard there).

    Create the renderer before any pybullet client in this process, so no worker inherits one.
    """
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _init(world: dict[str, Any], camera: CameraConfig) -> None:
    _worker["scene"] = Scene(world, camera)  # its client is released when the worker process exits


def _work(pose: tuple[float, float, float]) -> Rendered:
    return _render(_worker["scene"], pose)


def _render(scene: Scene, pose: tuple[float, float, float]) -> Rendered:
    t0 = time.perf_counter()
    rgb = scene.render(pose)
    t1 = time.perf_counter()
    data = rgb if scene.camera.type == "raw" else encode_compressed(rgb, scene.camera.encoding)
    return data, t1 - t0, time.perf_counter() - t1
