"""The pybullet side of a world: headless scene, camera rendering (TinyRenderer) and ray tests.

One ``Scene`` owns one DIRECT client. Rendering is a pure function of the pose, so several
scenes of the same world (one per worker process) render identical frames.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ros_ssl.config.profile import CameraConfig
from ros_ssl.errors import RosSslError
from ros_ssl.sim.textures import make_texture

TEXTURE_TILE_M = 0.2  # one texture tile per 0.2 m of surface, so patterns keep their size on any shape
FLOOR_MARGIN_M = 1.0  # floor beyond the walls, so no background shows at the corners


def import_pybullet() -> Any:
    """pybullet (the ``[sim]`` extra), imported on first use and without its build banner on stderr."""
    if "pybullet" in sys.modules:
        return sys.modules["pybullet"]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import pybullet
    except ImportError as err:
        raise RosSslError("the simulator needs pybullet: install the [sim] extra "
                          "(pip install 'ros_ssl[sim]')") from err
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return pybullet


class Scene:
    """A world's obstacles and floor in a pybullet DIRECT client; close it (or use ``with``)."""

    def __init__(self, world: dict[str, Any], camera: CameraConfig) -> None:
        p = import_pybullet()
        self._p, self.world, self.camera = p, world, camera
        self._tmp = tempfile.TemporaryDirectory(prefix="ros_ssl_sim_")
        self._cid: int | None = p.connect(p.DIRECT)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        # fov_deg is horizontal; pybullet wants the vertical field of view.
        vfov = 2 * math.degrees(math.atan(math.tan(math.radians(camera.fov_deg) / 2) * camera.height
                                          / camera.width))
        self._projection = p.computeProjectionMatrixFOV(vfov, camera.width / camera.height, 0.01, 12.0)
        light = world.get("light", {})
        self._light = {"lightDirection": light.get("direction", [0.3, 0.2, 1.0]),
                       "lightColor": light.get("color", [1.0, 1.0, 1.0]),
                       "lightAmbientCoeff": light.get("ambient", 0.5),
                       "lightDiffuseCoeff": light.get("diffuse", 0.5),
                       "lightSpecularCoeff": light.get("specular", 0.1)}

    def close(self) -> None:
        if self._cid is not None:
            self._p.disconnect(physicsClientId=self._cid)
            self._cid = None
        self._tmp.cleanup()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, pose: Sequence[float]) -> np.ndarray:
        """H x W x 3 uint8 RGB from the camera of a robot at world ``pose`` (x, y, yaw)."""
        p, cam = self._p, self.camera
        x, y, yaw = (float(v) for v in pose)
        cp, sp = math.cos(cam.pitch), math.sin(cam.pitch)
        fwd = np.array([math.cos(yaw) * cp, math.sin(yaw) * cp, -sp])  # pitch > 0 looks down (REP 103)
        up = np.array([math.cos(yaw) * sp, math.sin(yaw) * sp, cp])
        eye = np.array([x + cam.x * math.cos(yaw), y + cam.x * math.sin(yaw), cam.z])
        view = p.computeViewMatrix(eye.tolist(), (eye + fwd).tolist(), up.tolist())
        _, _, rgba, _, _ = p.getCameraImage(cam.width, cam.height, view, self._projection,
                                            renderer=p.ER_TINY_RENDERER, flags=p.ER_NO_SEGMENTATION_MASK,
                                            physicsClientId=self._cid, **self._light)
        return np.ascontiguousarray(np.asarray(rgba, np.uint8).reshape(cam.height, cam.width, 4)[:, :, :3])

    def ray_test(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(N,) hit fraction of each 3-D segment start -> end, inf where it hits nothing."""
        hits = self._p.rayTestBatch(np.asarray(starts).tolist(), np.asarray(ends).tolist(),
                                    physicsClientId=self._cid)
        return np.array([h[2] if h[0] >= 0 else np.inf for h in hits])

    # -- building ---------------------------------------------------------------------------------
    def _build(self) -> None:
        p, cid = self._p, self._cid
        seed = int(self.world.get("seed", 0))
        for i, ob in enumerate(self.world["obstacles"]):
            h = float(ob.get("height", 0.3))
            if ob["kind"] == "circle":
                r = float(ob["radius"])
                centre = np.asarray(ob["center"], np.float64)
                col = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=h, physicsClientId=cid)
                ang = np.linspace(0, 2 * math.pi, 25)[:-1]
                vis = self._prism_visual(np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1), h, smooth=True)
            else:
                pts = np.asarray(ob["points"], np.float64)
                centre = pts.mean(axis=0)
                local = pts - centre
                verts = [[px, py, z] for z in (-h / 2, h / 2) for px, py in local]
                col = p.createCollisionShape(p.GEOM_MESH, vertices=verts, physicsClientId=cid)  # convex hull
                vis = self._prism_visual(local, h, smooth=False)
            body = p.createMultiBody(0, col, vis, basePosition=[centre[0], centre[1], h / 2],
                                     physicsClientId=cid)
            self._paint(body, ob.get("rgba", [0.7, 0.7, 0.7, 1.0]), ob.get("texture"), (seed, i))
        self._build_floor(seed)

    def _build_floor(self, seed: int) -> None:
        p, cid = self._p, self._cid
        floor = self.world.get("floor", {})
        x0, y0, x1, y1 = self.world["bounds"]
        m = FLOOR_MARGIN_M
        scale = float(floor.get("scale", 0.25))
        verts = [[x0 - m, y0 - m, 0.0], [x1 + m, y0 - m, 0.0], [x1 + m, y1 + m, 0.0], [x0 - m, y1 + m, 0.0]]
        vis = p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=[0, 1, 2, 0, 2, 3],
                                  uvs=[[v[0] / scale, v[1] / scale] for v in verts], normals=[[0, 0, 1]] * 4,
                                  physicsClientId=cid)
        body = p.createMultiBody(0, -1, vis, physicsClientId=cid)  # visual only: rays run above it
        texture = floor.get("texture")
        self._paint(body, floor.get("rgba", [0.6, 0.6, 0.6, 1.0]), None if texture == "plain" else texture,
                    (seed, 10_000))

    def _prism_visual(self, ring: np.ndarray, h: float, smooth: bool) -> int:
        """Mesh of a vertical prism over the CCW ``ring`` (local frame): sides and top, UVs in metres."""
        verts: list[list[float]] = []
        normals: list[list[float]] = []
        uvs: list[list[float]] = []
        idx: list[int] = []
        k, run, t = len(ring), 0.0, TEXTURE_TILE_M
        for i in range(k):
            a, b = ring[i], ring[(i + 1) % k]
            length = float(np.hypot(*(b - a)))
            flat = [(b - a)[1] / length, -(b - a)[0] / length, 0.0]  # outward for a CCW ring
            na = [*(a / np.hypot(*a)), 0.0] if smooth else flat
            nb = [*(b / np.hypot(*b)), 0.0] if smooth else flat
            n0 = len(verts)
            verts += [[a[0], a[1], -h / 2], [b[0], b[1], -h / 2], [b[0], b[1], h / 2], [a[0], a[1], h / 2]]
            normals += [na, nb, nb, na]
            uvs += [[run / t, 0.0], [(run + length) / t, 0.0], [(run + length) / t, h / t], [run / t, h / t]]
            idx += [n0, n0 + 1, n0 + 2, n0, n0 + 2, n0 + 3]
            run += length
        top = len(verts)
        for q in ring:
            verts.append([q[0], q[1], h / 2])
            normals.append([0.0, 0.0, 1.0])
            uvs.append([q[0] / t, q[1] / t])
        for i in range(1, k - 1):
            idx += [top, top + i, top + i + 1]
        return int(self._p.createVisualShape(self._p.GEOM_MESH, vertices=verts, indices=idx, uvs=uvs,
                                             normals=normals, physicsClientId=self._cid))

    def _paint(self, body: int, rgba: Sequence[float], texture: str | None, seed: tuple[int, int]) -> None:
        p, cid = self._p, self._cid
        if not texture:
            p.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=cid)
            return
        path = make_texture(texture, rgba, seed, Path(self._tmp.name) / f"{seed[1]}.png")
        tex = p.loadTexture(str(path), physicsClientId=cid)
        # TinyRenderer multiplies texture by colour; the colour is already in the texture.
        p.changeVisualShape(body, -1, rgbaColor=[1, 1, 1, 1], textureUniqueId=tex, physicsClientId=cid)
