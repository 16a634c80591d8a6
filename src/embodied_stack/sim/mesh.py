"""A scene/1 file as one labelled triangle mesh in ``map`` (metres, z up), for ray casting.

What is in it: walls (FORMATS.md: along room polygon edges, door openings cut out 2.0 m high with
the lintel above kept, :data:`~embodied_stack.sim.navmap.WALL_THICKNESS_M` thick and capped at the
ends like the navigable map's walls, both built on :func:`~embodied_stack.sim.walls.wall_segments`),
floors and ceilings (room polygons, ear-clipped), a ground plane under everything (so no ray
escapes through a gap between rooms), and the objects' oriented boxes.

Every triangle carries its kind, instance (index into ``scene.objects``, -1 for structure),
category (index into the scene's sorted object categories, -1 for structure), linear-RGB colour
and the planar *face* it belongs to (a box side, a whole floor): triangles of one face share
every label and one plane, which lets the renderer fill the inside of a face analytically.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from embodied_stack.sim.navmap import WALL_THICKNESS_M
from embodied_stack.sim.scene import Scene
from embodied_stack.sim.walls import wall_segments

KIND_OBJECT, KIND_WALL, KIND_FLOOR, KIND_CEILING, KIND_GROUND = 0, 1, 2, 3, 4

WALL_RGB = (0.62, 0.60, 0.55)
CEILING_RGB = (0.78, 0.78, 0.76)
GROUND_RGB = (0.08, 0.08, 0.08)
# Linear-RGB floor colours by room category: tiles, wood, carpet, so rooms are told apart.
FLOOR_RGB: dict[str, tuple[float, float, float]] = {
    "kitchen": (0.55, 0.55, 0.50),
    "bathroom": (0.60, 0.66, 0.70),
    "laundry": (0.52, 0.56, 0.58),
    "bedroom": (0.40, 0.24, 0.12),
    "living room": (0.36, 0.22, 0.11),
    "dining room": (0.45, 0.29, 0.15),
    "hallway": (0.30, 0.27, 0.23),
    "corridor": (0.30, 0.27, 0.23),
    "office": (0.22, 0.26, 0.32),
    "open office": (0.22, 0.26, 0.32),
    "meeting room": (0.25, 0.20, 0.28),
    "gym": (0.18, 0.18, 0.19),
    "balcony": (0.48, 0.44, 0.38),
}
_DEFAULT_FLOOR_RGB = (0.42, 0.36, 0.30)

# Box corners as bits (x, y, z) and its 12 outward-wound triangles, two per side.
_BOX_CORNERS = np.array([[(i >> 0) & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.float64) - 0.5
_BOX_TRIS = np.array([
    [0, 2, 1], [1, 2, 3],  # z-
    [4, 5, 6], [5, 7, 6],  # z+
    [0, 1, 4], [1, 5, 4],  # y-
    [2, 6, 3], [3, 6, 7],  # y+
    [0, 4, 2], [2, 4, 6],  # x-
    [1, 3, 5], [3, 7, 5],  # x+
])
_BOX_FACES = np.repeat(np.arange(6), 2)


@dataclass(frozen=True)
class SceneMesh:
    """A scene as one labelled triangle mesh in ``map`` (metres, z up).

    Per triangle: ``instance_ids`` (index into ``scene.objects``, -1 for structure),
    ``category_ids`` (index into ``categories``, -1 for structure), ``colors`` (linear RGB),
    ``kinds`` (``KIND_*``) and ``face_ids`` (planar face, ``0 .. n_faces - 1``). Triangles are
    wound so their normals point out of boxes, up from floors and down from ceilings.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    instance_ids: np.ndarray
    category_ids: np.ndarray
    colors: np.ndarray
    kinds: np.ndarray
    face_ids: np.ndarray
    categories: tuple[str, ...]

    @property
    def n_faces(self) -> int:
        return int(self.face_ids.max()) + 1 if len(self.face_ids) else 0

    @property
    def normals(self) -> np.ndarray:
        """Unit face normals (T, 3) from the triangle winding."""
        v = self.vertices.astype(np.float64)[self.triangles]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)

    def face_planes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per face: unit normal (F, 3) and offset (F,) with ``normal . x = offset`` on the face."""
        _, first = np.unique(self.face_ids, return_index=True)
        normals = self.normals[first]
        offsets = np.einsum("ij,ij->i", normals, self.vertices[self.triangles[first, 0]].astype(np.float64))
        return normals, offsets


class _MeshBuilder:
    """Collects labelled parts; ``add`` takes vertices (V, 3), local triangles (K, 3) and the
    local face index of each triangle (K,)."""

    def __init__(self) -> None:
        self.verts: list[np.ndarray] = []
        self.tris: list[np.ndarray] = []
        self.faces: list[np.ndarray] = []
        self.labels: list[tuple[int, int, int, tuple[float, float, float]]] = []
        self.counts: list[int] = []
        self.n_verts = 0
        self.n_faces = 0

    def add(self, verts: np.ndarray, tris: np.ndarray, faces: np.ndarray, *, kind: int,
            color: tuple[float, float, float], instance: int = -1, category: int = -1) -> None:
        self.verts.append(np.asarray(verts, dtype=np.float64))
        self.tris.append(np.asarray(tris, dtype=np.int64) + self.n_verts)
        self.faces.append(np.asarray(faces, dtype=np.int64) + self.n_faces)
        self.labels.append((kind, instance, category, color))
        self.counts.append(len(tris))
        self.n_verts += len(verts)
        self.n_faces += int(np.max(faces)) + 1

    def build(self, categories: tuple[str, ...]) -> SceneMesh:
        counts = np.array(self.counts)
        kinds, inst, cat, cols = zip(*self.labels, strict=True)
        return SceneMesh(
            vertices=np.concatenate(self.verts).astype(np.float32),
            triangles=np.concatenate(self.tris).astype(np.uint32),
            instance_ids=np.repeat(np.array(inst, dtype=np.int32), counts),
            category_ids=np.repeat(np.array(cat, dtype=np.int32), counts),
            colors=np.repeat(np.array(cols, dtype=np.float32), counts, axis=0),
            kinds=np.repeat(np.array(kinds, dtype=np.int8), counts),
            face_ids=np.concatenate(self.faces).astype(np.int32),
            categories=categories,
        )


def box_vertices(center: np.ndarray, size: np.ndarray, yaw: float) -> np.ndarray:
    """The 8 corners (8, 3) of a box of full ``size`` rotated by ``yaw`` about +z at ``center``."""
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return (_BOX_CORNERS * np.asarray(size, dtype=np.float64)) @ rot.T + np.asarray(center, dtype=np.float64)


def triangulate_polygon(poly: np.ndarray) -> np.ndarray:
    """Ear-clipping triangulation of a simple counter-clockwise polygon (N, 2) -> (N-2, 3) indices.

    Each candidate ear is checked against all remaining vertices at once (vectorised), so the cost
    is O(N^2) numpy calls for an N-gon; room polygons have a handful of vertices. Collinear
    vertices are dropped as degenerate ears. Triangles come out counter-clockwise.
    """
    pts = np.asarray(poly, dtype=np.float64)
    idx = list(range(len(pts)))
    out: list[tuple[int, int, int]] = []
    while len(idx) > 3:
        n = len(idx)
        for k in range(n):
            a, b, c = idx[k - 1], idx[k], idx[(k + 1) % n]
            cross = _cross2(pts[a], pts[b], pts[c])
            if abs(cross) <= 1e-12:
                idx.pop(k)
                break
            if cross < 0:
                continue
            others = np.array([i for i in idx if i not in (a, b, c)], dtype=np.int64)
            if len(others) and _points_in_triangle(pts[others], pts[a], pts[b], pts[c]).any():
                continue
            out.append((a, b, c))
            idx.pop(k)
            break
        else:
            raise ValueError(f"polygon is not simple and counter-clockwise: {pts.tolist()}")
    if len(idx) == 3 and abs(_cross2(*(pts[i] for i in idx))) > 1e-12:
        out.append((idx[0], idx[1], idx[2]))
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def _cross2(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


def _points_in_triangle(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closed point-in-triangle test for (N, 2) points against a counter-clockwise triangle."""
    def side(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (v[0] - u[0]) * (p[:, 1] - u[1]) - (v[1] - u[1]) * (p[:, 0] - u[0])

    return (side(a, b) >= 0) & (side(b, c) >= 0) & (side(c, a) >= 0)


def floor_color(category: str) -> tuple[float, float, float]:
    """Linear-RGB floor colour of a room category (a stable tint of the default when unknown)."""
    if category in FLOOR_RGB:
        return FLOOR_RGB[category]
    jitter = (zlib.crc32(category.encode()) % 1000) / 1000.0 - 0.5
    r, g, b = (float(np.clip(c * (1.0 + 0.3 * jitter), 0.0, 1.0)) for c in _DEFAULT_FLOOR_RGB)
    return (r, g, b)


def build_scene_mesh(scene: Scene) -> SceneMesh:
    """The labelled triangle mesh of a scene (see the module docstring for what is in it)."""
    categories = tuple(scene.categories)
    cat_index = {c: i for i, c in enumerate(categories)}
    mb = _MeshBuilder()
    for room in scene.rooms:
        poly = room.polygon_array
        tris = triangulate_polygon(poly)
        one_face = np.zeros(len(tris), dtype=np.int64)
        mb.add(np.column_stack([poly, np.full(len(poly), room.floor_z)]), tris, one_face,
               kind=KIND_FLOOR, color=floor_color(room.category))
        mb.add(np.column_stack([poly, np.full(len(poly), room.ceiling_z)]), tris[:, ::-1], one_face,
               kind=KIND_CEILING, color=CEILING_RGB)
    half = WALL_THICKNESS_M / 2.0
    for seg in wall_segments(scene, include_openings=True):
        bottom = seg.floor_z + seg.door_height_m if seg.opening else seg.floor_z
        if seg.ceiling_z - bottom <= 1e-3:
            continue
        a, b = np.asarray(seg.start), np.asarray(seg.end)
        mid = (a + b) / 2.0
        center = np.array([mid[0], mid[1], (bottom + seg.ceiling_z) / 2.0])
        size = np.array([seg.length_m + 2.0 * half, WALL_THICKNESS_M, seg.ceiling_z - bottom])
        yaw = math.atan2(b[1] - a[1], b[0] - a[0])
        mb.add(box_vertices(center, size, yaw), _BOX_TRIS, _BOX_FACES, kind=KIND_WALL, color=WALL_RGB)
    lo, hi = scene.bounds_xy()
    ground_z = min(r.floor_z for r in scene.rooms) - 0.01
    ground = np.array([[lo[0] - 5, lo[1] - 5, ground_z], [hi[0] + 5, lo[1] - 5, ground_z],
                       [hi[0] + 5, hi[1] + 5, ground_z], [lo[0] - 5, hi[1] + 5, ground_z]])
    mb.add(ground, np.array([[0, 1, 2], [0, 2, 3]]), np.zeros(2, dtype=np.int64), kind=KIND_GROUND,
           color=GROUND_RGB)
    for i, obj in enumerate(scene.objects):
        mb.add(box_vertices(np.array(obj.center), np.array(obj.size), obj.yaw), _BOX_TRIS, _BOX_FACES,
               kind=KIND_OBJECT, color=obj.color, instance=i, category=cat_index[obj.category])
    return mb.build(categories)
