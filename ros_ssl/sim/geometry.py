"""Exact 2-D ray casting against a world of vertical prisms (convex CCW polygons and circles).

Every obstacle is taller than the sensors, so a planar ray cast *is* the ground truth of what a
proximity sensor sees. Everything is vectorised over rays x edges; rays are processed in chunks, and
each chunk only meets the obstacles whose bounding box its rays can reach, so long trajectories with
short rays (the labeler's case) stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_ssl.errors import ConfigError

# Rays per chunk: bounds the (rays x edges) temporaries to a few MB.
CHUNK = 4096
_EPS = 1e-12


@dataclass(frozen=True)
class Shapes:
    """A world's obstacles as flat arrays, ready for vectorised ray casting."""

    a: np.ndarray  # (E, 2) edge start points, polygons one after the other, CCW
    e: np.ndarray  # (E, 2) edge vectors (end - start)
    poly_of_edge: np.ndarray  # (E,) polygon index of each edge
    poly_box: np.ndarray  # (P, 4) xmin, ymin, xmax, ymax
    centers: np.ndarray  # (C, 2)
    radii: np.ndarray  # (C,)

    @property
    def n_polygons(self) -> int:
        return len(self.poly_box)


def shapes_of(world: dict[str, Any] | Shapes) -> Shapes:
    """Flatten a world description (see ros_ssl.sim.world) into edge and circle arrays."""
    if isinstance(world, Shapes):
        return world
    a_list: list[np.ndarray] = []
    e_list: list[np.ndarray] = []
    idx: list[np.ndarray] = []
    boxes: list[list[float]] = []
    centers: list[Any] = []  # as written in the world description; checked by np.asarray below
    radii: list[float] = []
    for i, ob in enumerate(world.get("obstacles", [])):
        kind = ob.get("kind")
        if kind == "polygon":
            pts = np.asarray(ob["points"], np.float64)
            if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
                raise ConfigError(f"world obstacle {i} has points of shape {pts.shape}; expected (K>=3, 2)")
            if _signed_area(pts) <= 0:
                raise ConfigError(f"world obstacle {i} polygon is not counter-clockwise")
            edges = np.roll(pts, -1, axis=0) - pts
            turns = edges[:, 0] * np.roll(edges[:, 1], -1) - edges[:, 1] * np.roll(edges[:, 0], -1)
            if turns.min() < -1e-9:
                raise ConfigError(f"world obstacle {i} polygon is not convex")
            a_list.append(pts)
            e_list.append(edges)
            idx.append(np.full(len(pts), len(boxes)))
            boxes.append([*pts.min(axis=0), *pts.max(axis=0)])
        elif kind == "circle":
            if not float(ob["radius"]) > 0:
                raise ConfigError(f"world obstacle {i} circle has radius {ob['radius']!r}; expected > 0")
            centers.append(ob["center"])
            radii.append(float(ob["radius"]))
        else:
            raise ConfigError(f"world obstacle {i} has kind {kind!r}; expected 'polygon' or 'circle'")
    return Shapes(
        a=np.concatenate(a_list) if a_list else np.zeros((0, 2)),
        e=np.concatenate(e_list) if e_list else np.zeros((0, 2)),
        poly_of_edge=np.concatenate(idx) if idx else np.zeros(0, np.int64),
        poly_box=np.asarray(boxes, np.float64).reshape(-1, 4),
        centers=np.asarray(centers, np.float64).reshape(-1, 2),
        radii=np.asarray(radii, np.float64),
    )


def raycast(world: dict[str, Any] | Shapes, origins: np.ndarray, angles: np.ndarray,
            max_range: float) -> np.ndarray:
    """Distance from each origin along its angle to the first obstacle surface, as (N,) float64.

    ``inf`` where nothing lies within ``max_range``; ``0.0`` where the origin is inside (or on the
    boundary of) an obstacle, like a sensor pressed against or through a surface.
    """
    shapes = shapes_of(world)
    origins = np.asarray(origins, np.float64).reshape(-1, 2)
    angles = np.asarray(angles, np.float64).reshape(-1)
    if len(origins) != len(angles):
        raise ValueError(f"raycast got {len(origins)} origins but {len(angles)} angles")
    out = np.full(len(origins), np.inf)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    for lo in range(0, len(origins), CHUNK):
        sl = slice(lo, lo + CHUNK)
        out[sl] = _cast_chunk(shapes, origins[sl], dirs[sl], max_range)
    out[out > max_range] = np.inf
    return out


def inside(world: dict[str, Any] | Shapes, points: np.ndarray) -> np.ndarray:
    """(N,) bool: which points lie inside (or on the boundary of) any obstacle."""
    shapes = shapes_of(world)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros(len(pts), bool)
    for lo in range(0, len(pts), CHUNK):
        p = pts[lo:lo + CHUNK]
        box = np.concatenate([p.min(axis=0), p.max(axis=0)]) if len(p) else np.zeros(4)
        edges, starts = _edges_near(shapes, box)
        hit = np.zeros(len(p), bool)
        if len(edges):
            ax, ay = shapes.a[edges, 0] - p[:, :1], shapes.a[edges, 1] - p[:, 1:]
            side = ax * shapes.e[edges, 1] - ay * shapes.e[edges, 0]  # >= 0: left of (or on) the edge
            hit |= np.minimum.reduceat(side, starts, axis=1).max(axis=1) >= -_EPS
        circles = _circles_near(shapes, box)
        if len(circles):
            cx, cy, r = shapes.centers[circles, 0], shapes.centers[circles, 1], shapes.radii[circles]
            hit |= ((p[:, :1] - cx) ** 2 + (p[:, 1:] - cy) ** 2 <= r * r).any(axis=1)
        out[lo:lo + CHUNK] = hit
    return out


def clearance(world: dict[str, Any] | Shapes, points: np.ndarray, max_dist: float = np.inf) -> np.ndarray:
    """(N,) distance from each point to the nearest obstacle surface: 0 inside, inf beyond ``max_dist``.

    The simulator's collision check (a circular footprint is free where clearance > radius) and the
    world generator's spacing rule.
    """
    shapes = shapes_of(world)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.full(len(pts), np.inf)
    for lo in range(0, len(pts), CHUNK):
        p = pts[lo:lo + CHUNK]
        if len(p) == 0:
            continue
        box = np.concatenate([p.min(axis=0) - max_dist, p.max(axis=0) + max_dist])
        best = np.full(len(p), np.inf)
        edges, starts = _edges_near(shapes, box)
        if len(edges):
            ax, ay = p[:, :1] - shapes.a[edges, 0], p[:, 1:] - shapes.a[edges, 1]  # point - edge start
            ex, ey = shapes.e[edges, 0], shapes.e[edges, 1]
            s = np.clip((ax * ex + ay * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            best = np.hypot(ax - s * ex, ay - s * ey).min(axis=1)
            side = ex * ay - ey * ax  # >= 0: left of (or on) the edge, i.e. inside a CCW polygon
            best[np.minimum.reduceat(side, starts, axis=1).max(axis=1) >= -_EPS] = 0.0
        circles = _circles_near(shapes, box)
        if len(circles):
            c, r = shapes.centers[circles], shapes.radii[circles]
            d = np.hypot(p[:, :1] - c[:, 0], p[:, 1:] - c[:, 1]) - r
            best = np.minimum(best, np.maximum(d, 0.0).min(axis=1))
        best[best > max_dist] = np.inf
        out[lo:lo + CHUNK] = best
    return out


def _cast_chunk(shapes: Shapes, o: np.ndarray, d: np.ndarray, max_range: float) -> np.ndarray:
    best = np.full(len(o), np.inf)
    if len(o) == 0:
        return best
    if np.isfinite(max_range):
        ends = o + d * max_range
        box = np.concatenate([np.minimum(o, ends).min(axis=0), np.maximum(o, ends).max(axis=0)])
    else:
        box = np.array([-np.inf, -np.inf, np.inf, np.inf])
    ox, oy, dx, dy = o[:, :1], o[:, 1:], d[:, :1], d[:, 1:]  # (N, 1) each
    edges, starts = _edges_near(shapes, box)
    if len(edges):
        ax, ay = shapes.a[edges, 0] - ox, shapes.a[edges, 1] - oy  # (N, E') edge start - origin
        ex, ey = shapes.e[edges, 0], shapes.e[edges, 1]
        den = dx * ey - dy * ex  # d x e
        t_num = ax * ey - ay * ex  # >= 0 for every edge of a polygon <=> origin inside it
        u_num = ax * dy - ay * dx
        with np.errstate(divide="ignore", invalid="ignore"):
            t = t_num / den
            u = u_num / den
        ok = (np.abs(den) > _EPS) & (t >= 0) & (u >= -_EPS) & (u <= 1 + _EPS)
        best = np.where(ok, t, np.inf).min(axis=1)
        within = np.minimum.reduceat(t_num, starts, axis=1).max(axis=1) >= -_EPS
        best[within] = 0.0
    circles = _circles_near(shapes, box)
    if len(circles):
        cx, cy, r = shapes.centers[circles, 0], shapes.centers[circles, 1], shapes.radii[circles]
        px, py = ox - cx, oy - cy  # (N, C') origin - centre
        b = px * dx + py * dy
        c = px * px + py * py - r * r
        disc = b * b - c
        with np.errstate(invalid="ignore"):
            t = -b - np.sqrt(disc)
        t = np.where((disc >= 0) & (t >= 0), t, np.inf)
        t[c <= 0] = 0.0
        best = np.minimum(best, t.min(axis=1))
    return best


def _circles_near(shapes: Shapes, box: np.ndarray) -> np.ndarray:
    c, r = shapes.centers, shapes.radii
    return np.flatnonzero((c[:, 0] - r <= box[2]) & (c[:, 0] + r >= box[0]) & (c[:, 1] - r <= box[3])
                          & (c[:, 1] + r >= box[1]))


def _edges_near(shapes: Shapes, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge indices of the polygons whose bounding box meets ``box``, with per-polygon start offsets."""
    pb = shapes.poly_box
    keep = np.flatnonzero((pb[:, 0] <= box[2]) & (pb[:, 2] >= box[0])
                          & (pb[:, 1] <= box[3]) & (pb[:, 3] >= box[1]))
    if len(keep) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sel = np.isin(shapes.poly_of_edge, keep)
    edges = np.flatnonzero(sel)
    polys = shapes.poly_of_edge[edges]
    starts = np.flatnonzero(np.r_[True, polys[1:] != polys[:-1]])
    return edges, starts


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
