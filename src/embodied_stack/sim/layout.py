"""Floor plans for procedural scenes: rectangular rooms and the doors that join them.

Two layouts: a *treemap* (recursive partition of a rectangle into rooms of sampled areas) and
*rows* (2-3 stacked rows of rooms; a hallway or corridor, when present, runs between the first
two rows). Doors form a spanning tree of the room adjacency graph (every room
reachable) that prefers hub rooms (living room, hallway, reception, ...) plus a few extra doors;
pairs that are usually open-plan (kitchen and living room, ...) may get a wide opening.
All coordinates are snapped to 5 cm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embodied_stack.sim.scene import Door, Room

SNAP_M = 0.05
DOOR_WIDTH_M = (0.8, 1.0)
DOOR_END_MARGIN_M = 0.3
_EPS = 1e-6
_OPEN_PLAN = {
    frozenset(p) for p in (
        ("kitchen", "living room"), ("kitchen", "dining room"), ("living room", "dining room"),
        ("living room", "entryway"), ("hallway", "entryway"), ("open office", "reception"),
        ("open office", "lounge"), ("break room", "lounge"), ("reception", "lounge"),
    )
}


@dataclass(frozen=True)
class RoomSpec:
    """A room category's generation parameters (from the vocabulary file)."""

    category: str
    area_m2: tuple[float, float]
    min_side_m: float
    required: bool = False
    weight: float = 1.0
    hub: bool = False
    private: bool = False
    corridor: bool = False


Rect = tuple[float, float, float, float]
"""Axis-aligned rectangle (x0, y0, x1, y1), metres."""


def snap(value: float) -> float:
    return round(round(value / SNAP_M) * SNAP_M, 3)


def choose_rooms(specs: dict[str, RoomSpec], count: int, rng: np.random.Generator) -> list[RoomSpec]:
    """The required room categories plus optional ones drawn by weight, without repeats."""
    required = [s for s in specs.values() if s.required]
    optional = [s for s in specs.values() if not s.required]
    extra = count - len(required)
    if extra < 0 or extra > len(optional):
        raise ValueError(f"rooms must be between {len(required)} and {len(specs)} for this kind, got {count}")
    weights = np.array([s.weight for s in optional], dtype=np.float64)
    picks = rng.choice(len(optional), size=extra, replace=False, p=weights / weights.sum()) if extra else []
    return required + [optional[i] for i in sorted(int(p) for p in picks)]


def plan_rooms(specs: list[RoomSpec], rng: np.random.Generator, *, max_attempts: int = 200) -> dict[str, Rect]:
    """Rectangles for the rooms (category -> rect): a treemap or stacked rows (always rows when a
    corridor room is present); retried until every room meets its minimum side and is at most
    3.2 times longer than wide."""
    for _ in range(max_attempts):
        areas = {s.category: float(rng.uniform(*s.area_m2)) for s in specs}
        corridor = next((s for s in specs if s.corridor), None)
        if corridor is None and rng.uniform() < 0.5:
            rects: dict[str, Rect] | None = _treemap_plan(specs, areas, rng)
        else:
            rects = _rows_plan(specs, corridor, areas, rng)
        if rects is not None and _sides_ok(specs, rects):
            return rects
    raise ValueError(f"no floor plan for rooms {[s.category for s in specs]} after {max_attempts} attempts")


def _sides_ok(specs: list[RoomSpec], rects: dict[str, Rect]) -> bool:
    for s in specs:
        x0, y0, x1, y1 = rects[s.category]
        short, long = sorted((x1 - x0, y1 - y0))
        if short + _EPS < s.min_side_m or (not s.corridor and long > 3.2 * short):
            return False
    return True


def _treemap_plan(specs: list[RoomSpec], areas: dict[str, float], rng: np.random.Generator) -> dict[str, Rect]:
    order = [specs[i].category for i in rng.permutation(len(specs))]
    total = sum(areas.values())
    aspect = float(rng.uniform(1.0, 1.6))
    width = snap(math.sqrt(total * aspect))
    height = snap(total / width)
    out: dict[str, Rect] = {}
    _split(order, areas, (0.0, 0.0, width, height), out)
    return out


def _split(order: list[str], areas: dict[str, float], rect: Rect, out: dict[str, Rect]) -> None:
    """Cut ``rect`` across its longer side into two groups of consecutive rooms, choosing the cut
    whose parts are the least elongated per room they hold (a part of m rooms is judged as if cut
    into m strips), and recurse."""
    if len(order) == 1:
        out[order[0]] = rect
        return
    sizes = np.array([areas[c] for c in order])
    fracs = np.cumsum(sizes)[:-1] / sizes.sum()
    x0, y0, x1, y1 = rect
    vertical = x1 - x0 >= y1 - y0
    span = (x1 - x0) if vertical else (y1 - y0)
    other = (y1 - y0) if vertical else (x1 - x0)
    counts = np.stack([np.arange(1, len(order)), len(order) - np.arange(1, len(order))])
    parts = np.stack([fracs * span, (1 - fracs) * span])
    long, short = np.maximum(parts, other), np.maximum(np.minimum(parts, other), 1e-9)
    elongation = np.maximum(long / (counts * short), counts * short / long).max(axis=0)
    k = int(np.argmin(elongation))
    if vertical:
        xs = snap(x0 + fracs[k] * span)
        a, b = (x0, y0, xs, y1), (xs, y0, x1, y1)
    else:
        ys = snap(y0 + fracs[k] * span)
        a, b = (x0, y0, x1, ys), (x0, ys, x1, y1)
    _split(order[: k + 1], areas, a, out)
    _split(order[k + 1 :], areas, b, out)


def _rows_plan(
    specs: list[RoomSpec], corridor: RoomSpec | None, areas: dict[str, float], rng: np.random.Generator
) -> dict[str, Rect] | None:
    """Rooms in 2-3 stacked rows of a common length, widths from their areas (at least their
    minimum side); a corridor, when present, runs between the first two rows."""
    others = [s for s in specs if s is not corridor]
    n_rows = 2 if len(others) <= 6 else 3
    rows: list[list[RoomSpec]] = [[] for _ in range(n_rows)]
    sums = [0.0] * n_rows
    for s in sorted(others, key=lambda s: (-areas[s.category], s.category)):
        low = [i for i in range(n_rows) if sums[i] == min(sums)]
        r = low[int(rng.integers(0, len(low)))]
        rows[r].append(s)
        sums[r] += areas[s.category]
    if any(not row for row in rows):
        return None
    rows = [[row[i] for i in rng.permutation(len(row))] for row in rows]
    depths = []
    widths = []
    for row in rows:
        need = max(s.min_side_m for s in row)
        depth = snap(max(need, math.sqrt(float(np.mean([areas[s.category] for s in row]))) * rng.uniform(0.85, 1.1)))
        depths.append(depth)
        widths.append([max(s.min_side_m, areas[s.category] / depth) for s in row])
    length = max(sum(w) for w in widths)
    out: dict[str, Rect] = {}
    y = 0.0
    for r, row in enumerate(rows):
        scale = length / sum(widths[r])
        x = 0.0
        for i, s in enumerate(row):
            x_next = snap(length) if i == len(row) - 1 else snap(x + widths[r][i] * scale)
            out[s.category] = (x, y, x_next, round(y + depths[r], 3))
            x = x_next
        y = round(y + depths[r], 3)
        if r == 0 and corridor is not None:
            cw = snap(max(corridor.min_side_m, rng.uniform(1.3, 1.6) if corridor.area_m2[1] < 10 else rng.uniform(1.6, 2.0)))
            out[corridor.category] = (0.0, y, snap(length), round(y + cw, 3))
            y = round(y + cw, 3)
    return out


def shared_edge(a: Rect, b: Rect) -> tuple[np.ndarray, np.ndarray] | None:
    """The segment two touching rectangles share (positive length), or None."""
    for axis in (0, 1):
        other = 1 - axis
        for pa, pb in ((a[axis + 2], b[axis]), (b[axis + 2], a[axis])):
            if abs(pa - pb) < _EPS:
                lo, hi = max(a[other], b[other]), min(a[other + 2], b[other + 2])
                if hi - lo > _EPS:
                    p, q = np.zeros(2), np.zeros(2)
                    p[axis] = q[axis] = pa
                    p[other], q[other] = lo, hi
                    return p, q
    return None


def connect_rooms(
    specs: list[RoomSpec], rects: dict[str, Rect], ids: dict[str, str], rng: np.random.Generator
) -> list[Door]:
    """Doors: a spanning tree of the adjacency graph (hubs first) plus a few extras."""
    by_cat = {s.category: s for s in specs}
    cats = [s.category for s in specs]
    edges = []
    for i, a in enumerate(cats):
        for b in cats[i + 1 :]:
            seg = shared_edge(rects[a], rects[b])
            if seg is not None and np.linalg.norm(seg[1] - seg[0]) >= DOOR_WIDTH_M[0] + 2 * DOOR_END_MARGIN_M:
                sa, sb = by_cat[a], by_cat[b]
                cost = float(rng.uniform()) + (0.0 if sa.hub or sb.hub else 1.0) + (1.5 if sa.private and sb.private else 0.0)
                edges.append((cost, a, b, seg))
    edges.sort(key=lambda e: e[0])
    parent = {c: c for c in cats}

    def root(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    doors = []
    for _cost, a, b, seg in edges:
        ra, rb = root(a), root(b)
        public = not (by_cat[a].private or by_cat[b].private)
        if ra != rb:
            parent[ra] = rb
        elif not (public and rng.uniform() < 0.3):
            continue
        doors.append(_make_door(a, b, seg, ids, rng))
    if len({root(c) for c in cats}) != 1:
        raise ValueError("the rooms do not form one connected plan")
    return doors


def _make_door(a: str, b: str, seg: tuple[np.ndarray, np.ndarray], ids: dict[str, str], rng: np.random.Generator) -> Door:
    p, q = seg
    length = float(np.linalg.norm(q - p))
    room_max = length - 2 * DOOR_END_MARGIN_M
    if frozenset((a, b)) in _OPEN_PLAN and room_max >= 1.4 and rng.uniform() < 0.6:
        width = snap(rng.uniform(1.4, min(2.8, room_max)))
    else:
        width = snap(rng.uniform(*DOOR_WIDTH_M))
    width = min(width, snap(room_max - SNAP_M / 2))
    lo, hi = DOOR_END_MARGIN_M + width / 2, length - DOOR_END_MARGIN_M - width / 2
    t = snap(rng.uniform(lo, hi)) if hi > lo else length / 2
    t = min(max(t, lo), hi) if hi > lo else t
    c = p + (q - p) / length * t
    return Door((ids[a], ids[b]), (round(float(c[0]), 3), round(float(c[1]), 3)), width)


def rect_room(room_id: str, category: str, rect: Rect, ceiling_z: float) -> Room:
    x0, y0, x1, y1 = rect
    return Room(room_id, category, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.0, ceiling_z)
