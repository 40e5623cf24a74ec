"""Random worlds: a walled arena with boxes, cylinders and other prisms, floors and lights that vary.

A world is a plain JSON-serialisable dict (the format every stage shares, recorded on /sim/world):
``{"seed", "bounds": [xmin, ymin, xmax, ymax], "obstacles": [...], "floor": {...}, "light": {...},
"start_pose": [x, y, yaw]}``. Obstacles are vertical prisms: ``{"kind": "polygon", "points": [[x, y],
...] (convex, CCW), ...}`` or ``{"kind": "circle", "center": [x, y], "radius": r, ...}``, each with
``height``, ``rgba`` and ``texture`` (a pattern name or None). ``floor``: ``{"rgba", "texture"
("plain" or a pattern), "scale" (metres per texture tile)}``; ``light``: ``{"direction", "color",
"ambient", "diffuse", "specular"}`` as pybullet's renderer takes them. The same seed gives the same dict.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

import numpy as np

TEXTURES = ("checker", "stripes", "noise", "bricks", "dots")
FLOOR_TEXTURES = ("plain", "checker", "noise", "tiles", "wood")
WALL_THICKNESS = 0.05
# Gap kept free between obstacles, and between obstacles and walls: a Thymio (~0.11 m wide) plus margin.
PASSAGE = 0.30
START_CLEARANCE = 0.35


def generate_world(seed: int, n_obstacles: tuple[int, int] = (7, 14)) -> dict[str, Any]:
    """A random arena (3-4 m square) for ``seed``; obstacles keep at least PASSAGE metres apart."""
    rng = np.random.default_rng([int(seed), 0x5EED])
    half = float(rng.uniform(1.5, 2.0))
    wall_rgba, wall_tex = _colour(rng, light=True), _pick(rng, (None, "bricks", "stripes", "noise"))
    wall_height = float(rng.uniform(0.25, 0.45))
    obstacles = [_wall(x0, y0, x1, y1, wall_height, wall_rgba, wall_tex) for x0, y0, x1, y1 in (
        (-half - WALL_THICKNESS, -half - WALL_THICKNESS, half + WALL_THICKNESS, -half),  # south
        (-half - WALL_THICKNESS, half, half + WALL_THICKNESS, half + WALL_THICKNESS),  # north
        (-half - WALL_THICKNESS, -half, -half, half),  # west
        (half, -half, half + WALL_THICKNESS, half),  # east
    )]
    start = [float(rng.uniform(-0.3, 0.3) * half), float(rng.uniform(-0.3, 0.3) * half),
             float(rng.uniform(-math.pi, math.pi))]
    placed: list[tuple[float, float, float]] = []  # centre x, y and bounding radius
    target = int(rng.integers(n_obstacles[0], n_obstacles[1] + 1))
    for _ in range(target * 40):
        if len(placed) == target:
            break
        ob, (cx, cy, r) = _random_obstacle(rng, half)
        if not _fits(cx, cy, r, half, placed, start):
            continue
        placed.append((cx, cy, r))
        obstacles.append(ob)
    world = {
        "seed": int(seed),
        "bounds": [-half, -half, half, half],
        "obstacles": obstacles,
        "floor": {"rgba": _colour(rng, light=bool(rng.random() < 0.5), alpha=1.0),
                  "texture": _pick(rng, FLOOR_TEXTURES), "scale": float(rng.uniform(0.1, 0.4))},
        "light": _light(rng),
        "start_pose": start,  # free: every bounding circle keeps START_CLEARANCE from it
    }
    return world


def _random_obstacle(rng: np.random.Generator,
                     half: float) -> tuple[dict[str, Any], tuple[float, float, float]]:
    kind = _pick(rng, ("box", "box", "cylinder", "cylinder", "triangle", "pentagon", "hexagon", "wall"))
    span = half - WALL_THICKNESS
    cx, cy = (float(v) for v in rng.uniform(-span, span, 2))
    style = {"height": float(rng.uniform(0.12, 0.45)), "rgba": _colour(rng),
             "texture": _pick(rng, (None, *TEXTURES))}
    yaw = float(rng.uniform(0, 2 * math.pi))
    if kind == "cylinder":
        r = float(rng.uniform(0.04, 0.20))
        return {"kind": "circle", "center": [cx, cy], "radius": r, **style}, (cx, cy, r)
    if kind in ("box", "wall"):
        sx = float(rng.uniform(0.08, 0.40)) if kind == "box" else float(rng.uniform(0.5, 1.0))
        sy = float(rng.uniform(0.08, 0.40)) if kind == "box" else float(rng.uniform(0.04, 0.08))
        local = np.array([[-sx, -sy], [sx, -sy], [sx, sy], [-sx, sy]]) / 2
    else:
        k = {"triangle": 3, "pentagon": 5, "hexagon": 6}[kind]
        ang = np.arange(k) * 2 * math.pi / k
        local = float(rng.uniform(0.06, 0.20)) * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    c, s = math.cos(yaw), math.sin(yaw)
    pts = local @ np.array([[c, s], [-s, c]]) + [cx, cy]  # rotation keeps the CCW order
    r = float(np.hypot(*(pts - [cx, cy]).T).max())
    return {"kind": "polygon", "points": np.round(pts, 6).tolist(), **style}, (cx, cy, r)


def _fits(cx: float, cy: float, r: float, half: float, placed: list[tuple[float, float, float]],
          start: list[float]) -> bool:
    if max(abs(cx), abs(cy)) + r + PASSAGE > half:
        return False
    if math.hypot(cx - start[0], cy - start[1]) < r + START_CLEARANCE:
        return False
    return all(math.hypot(cx - x, cy - y) >= r + q + PASSAGE for x, y, q in placed)


def _wall(x0: float, y0: float, x1: float, y1: float, height: float, rgba: list[float],
          texture: str | None) -> dict[str, Any]:
    return {"kind": "polygon", "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "height": height,
            "rgba": rgba, "texture": texture}


def _colour(rng: np.random.Generator, light: bool = False, alpha: float = 1.0) -> list[float]:
    h = float(rng.random())
    s = float(rng.uniform(0.0, 0.3) if light else rng.uniform(0.3, 0.95))
    v = float(rng.uniform(0.7, 0.95) if light else rng.uniform(0.3, 0.95))
    return [round(c, 4) for c in colorsys.hsv_to_rgb(h, s, v)] + [alpha]


def _light(rng: np.random.Generator) -> dict[str, Any]:
    az, el = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.5, 1.4))
    warm = float(rng.uniform(-0.15, 0.15))
    return {"direction": [math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)],
            "color": [round(1.0 + warm, 3), 1.0, round(1.0 - warm, 3)],
            "ambient": float(rng.uniform(0.35, 0.7)), "diffuse": float(rng.uniform(0.3, 0.6)),
            "specular": float(rng.uniform(0.0, 0.3))}


def _pick(rng: np.random.Generator, options: tuple[Any, ...]) -> Any:
    return options[int(rng.integers(len(options)))]
