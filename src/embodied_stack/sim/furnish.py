"""Furnishing procedural rooms: object categories from the vocabulary placed without overlaps.

Placements (vocabulary ``placement``): ``wall`` (back against a solid wall piece, facing into the
room), ``corner`` (against two walls), ``open`` (free-standing, with a robot-sized passage all
around), ``on`` (on top of a host object), ``wall_high`` (hung on a wall above the floor) and
``companion`` (chairs placed around their host table or desk). Footprints are oriented boxes
checked with the separating-axis test; floor objects stay out of a keep-clear zone in front of
and behind every door. Reachability is checked afterwards on the navigable map (generate.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from embodied_stack.sim.scene import Door, Room, SceneObject, points_in_polygon
from embodied_stack.sim.walls import WallSegment

WALL_GAP_M = 0.06
PASSAGE_M = 0.5
TIGHT_PASSAGE_M = 0.42
DOOR_CLEAR_DEPTH_M = 0.9
DOOR_CLEAR_SIDE_M = 0.2
MAX_FLOOR_COVER = 0.4
_TRIES = 40
_ORDER = {"wall": 0, "corner": 1, "open": 2, "on": 3, "wall_high": 4}


@dataclass(frozen=True)
class ObjectSpec:
    """One object category of the vocabulary (see ``data/vocabulary.json``)."""

    category: str
    size: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    placement: str
    rooms: dict[str, float]
    count: tuple[int, int] = (1, 1)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    colors: tuple[tuple[str, tuple[float, float, float]], ...] = (("grey", (0.3, 0.3, 0.3)),)
    on: tuple[str, ...] = ()
    elevation: tuple[float, float] = (0.0, 0.0)
    companion: str | None = None
    companion_count: tuple[int, int] = (0, 0)
    companion_sides: tuple[str, ...] = ("around",)
    open_rooms: tuple[str, ...] = ()


@dataclass
class Placed:
    """An object placed in a room (before ids are assigned)."""

    category: str
    center: np.ndarray
    size: np.ndarray
    yaw: float
    color: tuple[float, float, float]
    color_name: str
    kind: str
    host: int | None = None

    def footprint(self) -> np.ndarray:
        """Floor-plane corners (4, 2)."""
        return self.envelope()

    def envelope(self, front: float = 0.0, back: float = 0.0) -> np.ndarray:
        """Footprint extended by ``front`` along +y and ``back`` along -y of the box's own axes."""
        hx, hy = self.size[0] / 2, self.size[1] / 2
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        local = np.array([[-hx, -hy - back], [hx, -hy - back], [hx, hy + front], [-hx, hy + front]])
        return local @ np.array([[c, s], [-s, c]]) + self.center[:2]

    @property
    def z_range(self) -> tuple[float, float]:
        return float(self.center[2] - self.size[2] / 2), float(self.center[2] + self.size[2] / 2)


def boxes_overlap(a: np.ndarray, b: np.ndarray, margin: float = 0.0) -> bool:
    """Separating-axis test of two convex quads (4, 2): True unless some edge normal separates
    them by more than ``margin`` metres."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        pa, pb = a @ normals.T, b @ normals.T
        gap = np.maximum(pb.min(axis=0) - pa.max(axis=0), pa.min(axis=0) - pb.max(axis=0))
        if (gap > margin).any():
            return False
    return True


def door_keep_clear(door: Door, rooms: dict[str, Room]) -> np.ndarray:
    """Quad in front of and behind a door that floor furniture must leave free."""
    room = rooms[door.rooms[0]]
    poly = room.polygon_array
    c = np.array(door.center)
    best, direction = math.inf, np.array([1.0, 0.0])
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        d = b - a
        t = np.clip((c - a) @ d / (d @ d), 0, 1)
        dist = float(np.linalg.norm(a + t * d - c))
        if dist < best:
            best, direction = dist, d / np.linalg.norm(d)
    normal = np.array([-direction[1], direction[0]])
    hw = door.width / 2 + DOOR_CLEAR_SIDE_M
    corners = [(-hw, -DOOR_CLEAR_DEPTH_M), (hw, -DOOR_CLEAR_DEPTH_M), (hw, DOOR_CLEAR_DEPTH_M), (-hw, DOOR_CLEAR_DEPTH_M)]
    return np.array([c + u * direction + v * normal for u, v in corners])


class RoomFurnisher:
    """Places the vocabulary's objects in one room, deterministically for a given generator."""

    def __init__(self, room: Room, walls: list[WallSegment], keep_clear: list[np.ndarray], rng: np.random.Generator) -> None:
        self.room = room
        self.poly = room.polygon_array
        self.walls = [w for w in walls if w.length_m > 0.3]
        self.keep_clear = keep_clear
        self.rng = rng
        self.placed: list[Placed] = []
        self.floor_area = 0.0
        self.passage_m = PASSAGE_M

    def furnish(self, specs: dict[str, ObjectSpec]) -> list[Placed]:
        wanted: list[ObjectSpec] = []
        for spec in specs.values():
            p = spec.rooms.get(self.room.category, 0.0)
            if p > 0 and self.rng.uniform() < p:
                lo, hi = spec.counts.get(self.room.category, spec.count)
                wanted.extend([spec] * int(self.rng.integers(lo, hi + 1)))
        wanted.sort(key=lambda s: (s.rooms[self.room.category] < 1.0, _ORDER[self._placement(s)], -s.size[0][1] * s.size[1][1]))
        for spec in wanted:
            for attempt in range(_TRIES):
                self.passage_m = PASSAGE_M if attempt < _TRIES // 2 else TIGHT_PASSAGE_M
                if self._try(spec, specs):
                    break
        return self.placed

    def _placement(self, spec: ObjectSpec) -> str:
        return "open" if self.room.category in spec.open_rooms else spec.placement

    def _sample(self, spec: ObjectSpec) -> tuple[np.ndarray, tuple[str, tuple[float, float, float]]]:
        size = np.array([round(float(self.rng.uniform(lo, hi)), 2) for lo, hi in spec.size])
        name, rgb = spec.colors[int(self.rng.integers(0, len(spec.colors)))]
        jitter = np.clip(np.array(rgb) + self.rng.uniform(-0.03, 0.03, 3), 0.0, 1.0)
        return size, (name, tuple(round(float(v), 3) for v in jitter))  # type: ignore[return-value]

    def _try(self, spec: ObjectSpec, specs: dict[str, ObjectSpec]) -> bool:
        size, (cname, rgb) = self._sample(spec)
        placement = self._placement(spec)
        if placement == "on":
            return self._try_on(spec, size, cname, rgb)
        if placement in ("wall", "wall_high"):
            pose = self._on_wall(size)
        elif placement == "corner":
            pose = self._in_corner(size)
        else:
            pose = self._in_open(size, *self._envelope(spec, specs))
        if pose is None:
            return False
        xy, yaw = pose
        z0 = float(self.rng.uniform(*spec.elevation)) if placement == "wall_high" else 0.0
        size[2] = min(size[2], self.room.ceiling_z - self.room.floor_z - z0 - 0.05)
        kind = "high" if placement == "wall_high" else "floor"
        obj = Placed(spec.category, np.array([xy[0], xy[1], self.room.floor_z + z0 + size[2] / 2]), size, yaw, rgb, cname, kind)
        envelope = self._envelope(spec, specs) if placement == "open" else (0.0, 0.0)
        if not self._fits(obj, open_space=placement == "open", envelope=envelope):
            return False
        if kind == "floor" and self.floor_area + size[0] * size[1] > MAX_FLOOR_COVER * self.room.area_m2():
            return False
        self.placed.append(obj)
        if kind == "floor":
            self.floor_area += size[0] * size[1]
        if spec.companion and spec.companion in specs:
            self._companions(len(self.placed) - 1, spec, specs[spec.companion], placement == "open")
        return True

    def _envelope(self, spec: ObjectSpec, specs: dict[str, ObjectSpec]) -> tuple[float, float]:
        """How far chairs reach out from the host's front (+y) and back (-y) sides, metres."""
        comp = specs.get(spec.companion or "")
        if comp is None:
            return 0.0, 0.0
        reach = comp.size[1][1] + 0.05
        sides = spec.companion_sides
        return (reach if {"front", "around"} & set(sides) else 0.0, reach if {"back", "around"} & set(sides) else 0.0)

    def _fits(self, obj: Placed, *, open_space: bool, envelope: tuple[float, float] = (0.0, 0.0)) -> bool:
        """Inside the room, clear of other objects (with a passage around free-standing ones and
        their chairs) and of the doors' keep-clear zones."""
        fp = obj.envelope(*envelope)
        if not points_in_polygon(fp, self.poly).all():
            return False
        if open_space and _min_edge_distance(fp, self.poly) < self.passage_m:
            return False
        z0, z1 = obj.z_range
        floor_level = obj.kind == "floor"
        if floor_level and any(boxes_overlap(obj.footprint(), zone) for zone in self.keep_clear):
            return False
        for other in self.placed:
            o0, o1 = other.z_range
            if o1 <= z0 or o0 >= z1:
                continue
            margin = self.passage_m if open_space and other.kind == "floor" else 0.02
            if boxes_overlap(fp, other.footprint(), margin):
                return False
        return True

    def _on_wall(self, size: np.ndarray) -> tuple[np.ndarray, float] | None:
        lengths = np.array([w.length_m for w in self.walls])
        usable = lengths - size[0] - 2 * WALL_GAP_M
        if not (usable > 0).any():
            return None
        weights = np.where(usable > 0, usable, 0.0)
        seg = self.walls[int(self.rng.choice(len(self.walls), p=weights / weights.sum()))]
        a, b = np.array(seg.start), np.array(seg.end)
        d = (b - a) / seg.length_m
        t = self.rng.uniform(WALL_GAP_M + size[0] / 2, seg.length_m - WALL_GAP_M - size[0] / 2)
        normal = np.array([-d[1], d[0]])
        return a + t * d + normal * (size[1] / 2 + WALL_GAP_M), math.atan2(d[1], d[0])

    def _in_corner(self, size: np.ndarray) -> tuple[np.ndarray, float] | None:
        n = len(self.poly)
        i = int(self.rng.integers(0, n))
        v, prev, nxt = self.poly[i], self.poly[i - 1], self.poly[(i + 1) % n]
        d_in, d_out = (v - prev) / np.linalg.norm(v - prev), (nxt - v) / np.linalg.norm(nxt - v)
        if d_in[0] * d_out[1] - d_in[1] * d_out[0] <= 0:
            return None
        if self.rng.uniform() < 0.5:
            d, along = d_out, 1.0
        else:
            d, along = d_in, -1.0
        normal = np.array([-d[1], d[0]])
        xy = v + along * d * (size[0] / 2 + WALL_GAP_M) + normal * (size[1] / 2 + WALL_GAP_M)
        return xy, math.atan2(d[1], d[0])

    def _in_open(self, size: np.ndarray, front: float, back: float) -> tuple[np.ndarray, float] | None:
        """A yaw (mostly along the room's longer side) and a centre drawn where the box plus its
        chair envelope and a passage fit inside the room's bounding box."""
        extent = self.poly.max(axis=0) - self.poly.min(axis=0)
        along = 0.0 if extent[0] >= extent[1] else math.pi / 2
        u = self.rng.uniform()
        if u < 0.7:
            yaw = along
        elif u < 0.9:
            yaw = along + math.pi / 2
        else:
            yaw = float(self.rng.uniform(-math.pi, math.pi))
        c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
        hx, hy = size[0] / 2, size[1] / 2 + (front + back) / 2
        half = np.array([c * hx + s * hy, s * hx + c * hy]) + self.passage_m
        lo, hi = self.poly.min(axis=0) + half, self.poly.max(axis=0) - half
        if (hi < lo).any():
            return None
        shift = (front - back) / 2 * np.array([-math.sin(yaw), math.cos(yaw)])
        return self.rng.uniform(lo, hi) - shift, round(math.atan2(math.sin(yaw), math.cos(yaw)), 4)

    def _try_on(self, spec: ObjectSpec, size: np.ndarray, cname: str, rgb: tuple[float, float, float]) -> bool:
        hosts = [i for i, p in enumerate(self.placed) if p.category in spec.on]
        if not hosts:
            return False
        hi = hosts[int(self.rng.integers(0, len(hosts)))]
        host = self.placed[hi]
        room_x, room_y = host.size[0] - size[0] - 0.04, host.size[1] - size[1] - 0.04
        if room_x < 0 or room_y < 0:
            return False
        local = np.array([self.rng.uniform(-room_x / 2, room_x / 2), self.rng.uniform(-room_y / 2, room_y / 2)])
        c, s = math.cos(host.yaw), math.sin(host.yaw)
        xy = host.center[:2] + np.array([[c, -s], [s, c]]) @ local
        top = host.z_range[1]
        obj = Placed(spec.category, np.array([xy[0], xy[1], top + size[2] / 2]), size, host.yaw, rgb, cname, "on", host=hi)
        for other in self.placed:
            if other.host == hi and boxes_overlap(obj.footprint(), other.footprint(), 0.02):
                return False
        self.placed.append(obj)
        return True

    def _companions(self, host_index: int, spec: ObjectSpec, comp: ObjectSpec, open_host: bool) -> None:
        host = self.placed[host_index]
        size, (cname, rgb) = self._sample(comp)
        n = int(self.rng.integers(spec.companion_count[0], spec.companion_count[1] + 1))
        w, d = host.size[0], host.size[1]
        off = d / 2 + size[1] / 2 + 0.05
        per_side = max(1, int(w // 0.6))
        slots: list[tuple[float, float, float]] = []
        sides = spec.companion_sides if open_host or "front" in spec.companion_sides else ("front",)
        for side in sides:
            if side in ("front", "around"):
                slots += [(-w / 2 + (k + 0.5) * w / per_side, off, 0.0) for k in range(per_side)]
            if side in ("back", "around"):
                slots += [(-w / 2 + (k + 0.5) * w / per_side, -off, 0.0) for k in range(per_side)]
        order = self.rng.permutation(len(slots))[:n] if n <= len(slots) else range(len(slots))
        c, s = math.cos(host.yaw), math.sin(host.yaw)
        for k in sorted(int(i) for i in order):
            x, y, turn = slots[k]
            xy = host.center[:2] + np.array([c * x - s * y, s * x + c * y])
            chair = Placed(comp.category, np.array([xy[0], xy[1], self.room.floor_z + size[2] / 2]), size.copy(),
                           round(math.atan2(math.sin(host.yaw + turn), math.cos(host.yaw + turn)), 4), rgb, cname, "floor")
            if self._fits(chair, open_space=False):
                self.placed.append(chair)


def _min_edge_distance(fp: np.ndarray, poly: np.ndarray) -> float:
    """Smallest distance from a quad's corners to the polygon's edges (metres)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    d = b - a
    t = np.clip(np.einsum("pkd,kd->pk", fp[:, None, :] - a[None], d) / np.einsum("kd,kd->k", d, d), 0, 1)
    closest = a[None] + t[..., None] * d[None]
    return float(np.linalg.norm(fp[:, None, :] - closest, axis=2).min())


def to_scene_objects(room: Room, placed: list[Placed], counters: dict[str, int]) -> list[SceneObject]:
    """Give placed objects ids (``<category>_<n>``, numbered across the scene) and descriptions."""
    out = []
    for p in placed:
        counters[p.category] = counters.get(p.category, 0) + 1
        oid = f"{p.category.replace(' ', '_')}_{counters[p.category]}"
        where = f"on the {placed[p.host].category}" if p.host is not None else f"in the {room.category}"
        article = "an" if p.color_name[0] in "aeiou" else "a"
        out.append(SceneObject(
            id=oid, category=p.category, room=room.id,
            center=tuple(round(float(v), 3) for v in p.center),  # type: ignore[arg-type]
            size=tuple(round(float(v), 3) for v in p.size),  # type: ignore[arg-type]
            yaw=round(float(p.yaw), 4), color=p.color,
            description=f"{article} {p.color_name} {p.category} {where}",
        ))
    return out
