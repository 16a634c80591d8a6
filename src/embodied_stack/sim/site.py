"""Large procedural sites: a big home, an office floor and a two-storey house.

Small scenes (generate.py) have 4-10 rooms of distinct categories; at 35-70 objects a zone of the
memory's forest is nearly one object and a hierarchy has little to do. A *site* has many rooms,
categories repeated (three bedrooms, five meeting rooms), laid out along a double-loaded
corridor: a row of rooms on each side of one long corridor; each room has a door to the
corridor, and neighbours in a row that are usually open-plan may share a wide door.

A two-storey house has rooms on two floors (``floor_z`` 0 and :data:`STOREY_M`, FORMATS.md);
the corridors of both floors end at a ``staircase`` object at the same (x, y), the connector the
robot takes between floors. The embedded simulator renders one floor at a time
(:meth:`~embodied_stack.sim.scene.Scene.storey`).

Everything is drawn from one seeded ``numpy.random.Generator``; the same arguments give the same
site, byte for byte once saved. Reachability is checked per floor as for small scenes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embodied_stack.sim.furnish import RoomFurnisher, door_keep_clear, to_scene_objects
from embodied_stack.sim.layout import (
    _OPEN_PLAN,
    DOOR_END_MARGIN_M,
    Rect,
    RoomSpec,
    rect_room,
    shared_edge,
    snap,
)
from embodied_stack.sim.scene import Door, Room, Scene, SceneObject
from embodied_stack.sim.walls import wall_segments

SITE_KINDS = ("large_home", "office_floor", "two_storey")
STOREY_M = 3.0
"""Height of one storey: the upper floor's ``floor_z``."""
CORRIDOR_WIDTH_M = (1.6, 2.0)

# Room programmes: (category, count) per floor. Counts are fixed so sizes stay in the issue's
# ranges (a large home 150-300 objects, an office floor 300-600).
_PROGRAMMES: dict[str, list[list[tuple[str, int]]]] = {
    "large_home": [[("entryway", 1), ("living room", 2), ("kitchen", 1), ("dining room", 2), ("study", 3),
                    ("laundry room", 1), ("pantry", 1), ("home gym", 1), ("bathroom", 4), ("bedroom", 4),
                    ("guest bedroom", 2), ("kids room", 3)]],
    "office_floor": [[("reception", 1), ("open office", 6), ("meeting room", 6), ("manager office", 5),
                      ("break room", 2), ("printer room", 2), ("restroom", 2), ("storage room", 2),
                      ("server room", 1), ("lounge", 2)]],
    "two_storey": [[("entryway", 1), ("living room", 1), ("kitchen", 1), ("dining room", 1), ("study", 1),
                    ("bathroom", 1), ("laundry room", 1), ("pantry", 1)],
                   [("bedroom", 2), ("kids room", 2), ("guest bedroom", 1), ("bathroom", 2), ("home gym", 1)]],
}
_CORRIDOR = {"large_home": "hallway", "office_floor": "corridor", "two_storey": "hallway"}
_PLACE = {"large_home": "home", "office_floor": "office", "two_storey": "home"}
STAIRS_SIZE_M = (1.2, 1.0, 0.015)
"""A staircase foot: lower than any obstacle the navigable map or the explorer counts."""


@dataclass(frozen=True)
class _Planned:
    id: str
    spec: RoomSpec
    rect: Rect


def generate_site(seed: int, kind: str, *, name: str | None = None, vocabulary: object | None = None,
                  success_distance_m: float = 1.0, agent_radius_m: float = 0.18) -> Scene:
    """A furnished large site of ``kind`` (one of :data:`SITE_KINDS`)."""
    from embodied_stack.sim.generate import Vocabulary, drop_unreachable, load_vocabulary

    if kind not in SITE_KINDS:
        raise ValueError(f"site kind must be one of {', '.join(SITE_KINDS)}, got {kind!r}")
    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary()
    place = _PLACE[kind]
    specs = vocab.rooms[place]
    rng = np.random.default_rng(seed)
    ceiling = round(float(rng.uniform(*vocab.ceiling_m[place])), 2)
    counters: dict[str, int] = {}
    rooms: list[Room] = []
    doors: list[Door] = []
    objects: list[SceneObject] = []
    object_counters: dict[str, int] = {}
    length: float | None = None
    stairs_xy: tuple[float, float] | None = None
    for storey, programme in enumerate(_PROGRAMMES[kind]):
        wanted = [specs[c] for c, n in programme for _ in range(n)]
        planned, corridor, length = _plan_floor(wanted, specs[_CORRIDOR[kind]], counters, rng, length)
        floor_z = storey * STOREY_M
        floor_rooms = [rect_room(p.id, p.spec.category, p.rect, floor_z + ceiling) for p in planned + corridor]
        floor_rooms = [Room(r.id, r.category, r.polygon, floor_z, floor_z + ceiling) for r in floor_rooms]
        floor_doors = _floor_doors(planned, corridor, rng)
        bare = Scene(name="floor", rooms=floor_rooms, doors=floor_doors)
        by_id = {r.id: r for r in floor_rooms}
        zones = [door_keep_clear(d, by_id) for d in floor_doors]
        if len(_PROGRAMMES[kind]) > 1:
            stairs_xy, stairs_zone = _stairs_spot(corridor[-1].rect)
            zones.append(stairs_zone)
        walls = wall_segments(bare, dedupe=False)
        for room in floor_rooms:
            furnisher = RoomFurnisher(room, [w for w in walls if w.room_id == room.id], zones, rng)
            objects += to_scene_objects(room, furnisher.furnish(vocab.objects), object_counters)
        if stairs_xy is not None:
            objects.append(_stairs(corridor[-1].id, stairs_xy, floor_z, object_counters))
        rooms += floor_rooms
        doors += floor_doors
    scene = Scene(name=name or f"{kind}_{seed:04d}", rooms=rooms, doors=doors, objects=objects)
    storeys = [scene.storey(k) for k in range(len(scene.storey_floors()))]
    keep: set[str] = set()
    for part in storeys:
        checked = drop_unreachable(part, vocab, success_distance_m, agent_radius_m, keep={"staircase"})
        keep |= {o.id for o in checked.objects}
    return Scene(name=scene.name, rooms=rooms, doors=doors, objects=[o for o in objects if o.id in keep])


def _plan_floor(wanted: list[RoomSpec], corridor_spec: RoomSpec, counters: dict[str, int],
                rng: np.random.Generator, length: float | None) -> tuple[list[_Planned], list[_Planned], float]:
    """Two rows of rooms on either side of a corridor; ``length`` fixes the floor's length (an
    upper floor over a lower one). Room widths follow their drawn areas, scaled to the length."""
    order = [wanted[i] for i in rng.permutation(len(wanted))]
    areas = [float(rng.uniform(*s.area_m2)) for s in order]
    rows: list[list[int]] = [[], []]
    sums = [0.0, 0.0]
    for i in sorted(range(len(order)), key=lambda i: -areas[i]):
        r = int(np.argmin(sums))
        rows[r].append(i)
        sums[r] += areas[i]
    rows = [[row[j] for j in rng.permutation(len(row))] for row in rows]
    depths = [snap(max(max(order[i].min_side_m for i in row), math.sqrt(float(np.mean([areas[i] for i in row])))))
              for row in rows]
    widths = [[max(order[i].min_side_m, areas[i] / depths[r]) for i in row] for r, row in enumerate(rows)]
    if length is None:
        length = snap(max(sum(w) for w in widths))
    planned: list[_Planned] = []
    corridor_w = snap(float(rng.uniform(*CORRIDOR_WIDTH_M)))
    y = 0.0
    corridor: list[_Planned] = []
    for r, row in enumerate(rows):
        scale = length / sum(widths[r])
        x = 0.0
        for j, i in enumerate(row):
            x_next = length if j == len(row) - 1 else snap(x + widths[r][j] * scale)
            planned.append(_Planned(_next_id(order[i].category, counters), order[i], (x, y, x_next, round(y + depths[r], 3))))
            x = x_next
        y = round(y + depths[r], 3)
        if r == 0:
            corridor.append(_Planned(_next_id(corridor_spec.category, counters), corridor_spec,
                                     (0.0, y, length, round(y + corridor_w, 3))))
            y = round(y + corridor_w, 3)
    return planned, corridor, length


def _next_id(category: str, counters: dict[str, int]) -> str:
    counters[category] = counters.get(category, 0) + 1
    return f"{category.replace(' ', '_')}_{counters[category]}"


def _floor_doors(planned: list[_Planned], corridor: list[_Planned], rng: np.random.Generator) -> list[Door]:
    """Every room to the corridor; open-plan neighbours in a row through a wide door."""
    doors = []
    for room in planned:
        best = None
        for seg_room in corridor:
            seg = shared_edge(room.rect, seg_room.rect)
            if seg is not None:
                length = float(np.linalg.norm(seg[1] - seg[0]))
                if best is None or length > best[0]:
                    best = (length, seg_room, seg)
        if best is None:
            raise ValueError(f"room {room.id} does not border the corridor")
        doors.append(_door(room, best[1], best[2], rng, wide=False))
    for i, a in enumerate(planned):
        for b in planned[i + 1:]:
            if frozenset((a.spec.category, b.spec.category)) in _OPEN_PLAN:
                seg = shared_edge(a.rect, b.rect)
                if seg is not None and float(np.linalg.norm(seg[1] - seg[0])) >= 2.0:
                    doors.append(_door(a, b, seg, rng, wide=True))
    return doors


def _door(a: _Planned, b: _Planned, seg: tuple[np.ndarray, np.ndarray], rng: np.random.Generator, *, wide: bool) -> Door:
    p, q = seg
    length = float(np.linalg.norm(q - p))
    room_max = length - 2 * DOOR_END_MARGIN_M
    width = snap(rng.uniform(1.4, min(2.4, room_max))) if wide and room_max >= 1.4 else snap(rng.uniform(0.8, 1.0))
    width = min(width, snap(room_max - 0.025))
    lo, hi = DOOR_END_MARGIN_M + width / 2, length - DOOR_END_MARGIN_M - width / 2
    t = snap(rng.uniform(lo, hi)) if hi > lo else length / 2
    c = p + (q - p) / length * t
    return Door((a.id, b.id), (round(float(c[0]), 3), round(float(c[1]), 3)), width)


def _stairs_spot(rect: Rect) -> tuple[tuple[float, float], np.ndarray]:
    """Where the staircase stands: the far end of the last corridor segment (its keep-clear quad
    with a passage around it, so no furniture blocks it)."""
    x0, y0, x1, y1 = rect
    cx, cy = round(x1 - STAIRS_SIZE_M[0] / 2 - 0.3, 3), round((y0 + y1) / 2, 3)
    hx, hy = STAIRS_SIZE_M[0] / 2 + 0.5, (y1 - y0) / 2
    zone = np.array([[cx - hx, cy - hy], [cx + hx, cy - hy], [cx + hx, cy + hy], [cx - hx, cy + hy]])
    return (cx, cy), zone


def _stairs(room_id: str, xy: tuple[float, float], floor_z: float, counters: dict[str, int]) -> SceneObject:
    """The staircase's foot on this floor: a low box the robot can stand on (the simulator has no
    slopes; the survey moves the robot between floors here)."""
    counters["staircase"] = counters.get("staircase", 0) + 1
    up = "leading up" if floor_z == 0.0 else "leading down"
    return SceneObject(id=f"staircase_{counters['staircase']}", category="staircase", room=room_id,
                       center=(xy[0], xy[1], round(floor_z + STAIRS_SIZE_M[2] / 2, 3)), size=STAIRS_SIZE_M, yaw=0.0,
                       color=(0.45, 0.3, 0.18), description=f"a wooden staircase {up} in the hallway")
