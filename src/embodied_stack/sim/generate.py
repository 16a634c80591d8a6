"""Procedural scenes: plausible furnished homes and offices in the ``embodied-stack.scene/1`` format.

``generate_scene(seed, kind, rooms)`` picks 4-10 rooms of distinct categories (the vocabulary's
required ones plus optional ones by weight), lays them out (layout.py), joins them with doors into
one connected plan, furnishes each room from the object vocabulary (furnish.py; room priors, size
ranges, colours) and then checks the result on the navigable map: every room must be reachable
from the main navigable component and every object must have a navigable point within the
success distance of its box; objects that fail are dropped (with what stands on them) and the
check repeats. Everything is drawn from one ``numpy.random.Generator`` seeded with ``seed``, so
the same arguments give the same scene, byte for byte once saved.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.errors import FormatError
from embodied_stack.sim.furnish import (
    ObjectSpec,
    Placed,
    RoomFurnisher,
    door_keep_clear,
    to_scene_objects,
)
from embodied_stack.sim.geometry import polygon_distance
from embodied_stack.sim.layout import RoomSpec, choose_rooms, connect_rooms, plan_rooms, rect_room
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, SceneObject
from embodied_stack.sim.walls import wall_segments

logger = logging.getLogger(__name__)

VOCABULARY_FORMAT = "embodied-stack.vocabulary/1"
KINDS = ("home", "office")
MIN_ROOMS, MAX_ROOMS = 4, 10
MIN_POCKET_M2 = 0.25
"""Cut-off free regions smaller than this (m2) are left alone (a niche behind furniture)."""


@dataclass(frozen=True)
class Vocabulary:
    """Room categories per kind of place, object categories and ceiling heights."""

    rooms: dict[str, dict[str, RoomSpec]]
    objects: dict[str, ObjectSpec]
    ceiling_m: dict[str, tuple[float, float]]


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Read the object/room vocabulary (default: the packaged ``sim/data/vocabulary.json``)."""
    if path is None:
        return _default_vocabulary()
    return _parse_vocabulary(Path(path).read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def _default_vocabulary() -> Vocabulary:
    ref = resources.files("embodied_stack.sim").joinpath("data/vocabulary.json")
    return _parse_vocabulary(ref.read_text(encoding="utf-8"), str(ref))


def _parse_vocabulary(text: str, where: str) -> Vocabulary:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FormatError(f"not valid JSON ({err.msg} at line {err.lineno})", path=where) from err
    if not isinstance(data, dict) or data.get("format") != VOCABULARY_FORMAT:
        raise FormatError(f"expected format '{VOCABULARY_FORMAT}'", path=where, field="format")
    try:
        rooms = {
            kind: {cat: _room_spec(cat, spec) for cat, spec in cats.items()} for kind, cats in data["rooms"].items()
        }
        objects = {cat: _object_spec(cat, spec) for cat, spec in data["objects"].items()}
        ceiling = {k: (float(v[0]), float(v[1])) for k, v in data["ceiling_m"].items()}
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise FormatError(f"malformed vocabulary entry ({err!r})", path=where) from err
    known = {c for cats in rooms.values() for c in cats}
    for cat, spec in objects.items():
        if spec.placement not in ("wall", "corner", "open", "on", "wall_high", "companion"):
            raise FormatError(f"unknown placement {spec.placement!r}", path=where, field=f"objects.{cat}.placement")
        for room in spec.rooms:
            if room not in known:
                raise FormatError(f"unknown room category {room!r}", path=where, field=f"objects.{cat}.rooms")
        if spec.companion is not None and spec.companion not in objects:
            raise FormatError(f"unknown companion {spec.companion!r}", path=where, field=f"objects.{cat}.companions")
    return Vocabulary(rooms, objects, ceiling)


def _room_spec(category: str, d: dict[str, Any]) -> RoomSpec:
    return RoomSpec(
        category=category,
        area_m2=(float(d["area"][0]), float(d["area"][1])),
        min_side_m=float(d["min_side"]),
        required=bool(d.get("required", False)),
        weight=float(d.get("weight", 1.0)),
        hub=bool(d.get("hub", False)),
        private=bool(d.get("private", False)),
        corridor=bool(d.get("corridor", False)),
    )


def _object_spec(category: str, d: dict[str, Any]) -> ObjectSpec:
    comp = d.get("companions") or {}
    size = tuple((float(lo), float(hi)) for lo, hi in d["size"])
    if len(size) != 3 or any(lo <= 0 or hi < lo for lo, hi in size):
        raise ValueError(f"{category}: size must be 3 [min, max] ranges with 0 < min <= max, got {d['size']}")
    return ObjectSpec(
        category=category,
        size=size,  # type: ignore[arg-type]
        placement=str(d["placement"]),
        rooms={str(k): float(v) for k, v in d["rooms"].items()},
        count=(int(d.get("count", [1, 1])[0]), int(d.get("count", [1, 1])[1])),
        counts={str(k): (int(v[0]), int(v[1])) for k, v in d.get("counts", {}).items()},
        colors=tuple((str(c[0]), (float(c[1]), float(c[2]), float(c[3]))) for c in d["colors"]),
        on=tuple(d.get("on", ())),
        elevation=(float(d.get("elevation", [0, 0])[0]), float(d.get("elevation", [0, 0])[1])),
        companion=comp.get("category"),
        companion_count=(int(comp.get("count", [0, 0])[0]), int(comp.get("count", [0, 0])[1])),
        companion_sides=tuple(comp.get("sides", ["around"])),
        open_rooms=tuple(d.get("open_rooms", ())),
    )


def generate_scene(
    seed: int,
    kind: str = "home",
    rooms: int | None = None,
    *,
    name: str | None = None,
    vocabulary: Vocabulary | None = None,
    success_distance_m: float = 1.0,
    agent_radius_m: float = 0.18,
) -> Scene:
    """A furnished ``kind`` ("home" or "office") with ``rooms`` rooms (default: drawn, 5-8). Large
    sites: :func:`embodied_stack.sim.site.generate_site`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    vocab = vocabulary or load_vocabulary()
    rng = np.random.default_rng(seed)
    count = int(rng.integers(5, 9)) if rooms is None else rooms
    if not MIN_ROOMS <= count <= min(MAX_ROOMS, len(vocab.rooms[kind])):
        raise ValueError(f"rooms must be between {MIN_ROOMS} and {min(MAX_ROOMS, len(vocab.rooms[kind]))}, got {count}")
    specs = choose_rooms(vocab.rooms[kind], count, rng)
    rects = plan_rooms(specs, rng)
    ids = {s.category: f"{s.category.replace(' ', '_')}_1" for s in specs}
    ceiling = round(float(rng.uniform(*vocab.ceiling_m[kind])), 2)
    room_list = [rect_room(ids[s.category], s.category, rects[s.category], ceiling) for s in specs]
    doors = connect_rooms(specs, rects, ids, rng)
    bare = Scene(name=name or f"{kind}_{seed:04d}", rooms=room_list, doors=doors)
    by_id = {r.id: r for r in room_list}
    zones = [door_keep_clear(d, by_id) for d in doors]
    walls = wall_segments(bare, dedupe=False)
    counters: dict[str, int] = {}
    placed: dict[str, list[Placed]] = {}
    for room in room_list:
        furnisher = RoomFurnisher(room, [w for w in walls if w.room_id == room.id], zones, rng)
        placed[room.id] = furnisher.furnish(vocab.objects)
    objects = [o for room in room_list for o in to_scene_objects(room, placed[room.id], counters)]
    scene = Scene(name=bare.name, rooms=room_list, doors=doors, objects=objects)
    return drop_unreachable(scene, vocab, success_distance_m, agent_radius_m)


def drop_unreachable(scene: Scene, vocab: Vocabulary, success_distance_m: float, agent_radius_m: float,
                     keep: frozenset[str] | set[str] = frozenset()) -> Scene:
    """Make the scene pass the navigation checks by removing furniture.

    First, while free space is split, remove the least important object (lowest room prior,
    then smallest) that borders both the main component and a cut-off region; then remove
    objects without a navigable point within the success distance. What stood on a removed
    object goes with it. Raises ValueError when a room stays unreachable.
    """
    for _ in range(len(scene.objects) + 1):
        navmap = NavMap.from_scene(scene, agent_radius_m=agent_radius_m)
        bad = _blockers(scene, navmap, vocab, keep)
        if not bad:
            bad = set(unreachable_objects(scene, navmap, success_distance_m))
        if not bad:
            _check_rooms(scene, navmap)
            return scene
        bad |= _stacked_on(scene, bad)
        bad -= {o.id for o in scene.objects if o.category in keep}
        if not bad:
            raise ValueError(f"scene {scene.name!r}: only kept objects ({sorted(keep)}) block the navigation checks")
        logger.debug("%s: dropping %s", scene.name, sorted(bad))
        scene = Scene(name=scene.name, rooms=scene.rooms, doors=scene.doors,
                      objects=[o for o in scene.objects if o.id not in bad])
    raise ValueError(f"scene {scene.name!r} could not be made fully reachable")


def unreachable_objects(scene: Scene, navmap: NavMap, success_distance_m: float = 1.0) -> list[str]:
    """Ids of objects whose box is farther than ``success_distance_m`` (planar) from every cell
    of the main navigable component."""
    cells = navmap.grid_to_world(np.argwhere(navmap.largest_component_mask()))
    out = []
    for obj in scene.objects:
        fp = obj.footprint()
        lo, hi = fp.min(axis=0) - success_distance_m, fp.max(axis=0) + success_distance_m
        near = cells[((cells >= lo) & (cells <= hi)).all(axis=1)]
        if len(near) == 0 or polygon_distance(near, fp).min() > success_distance_m:
            out.append(obj.id)
    return out


def _blockers(scene: Scene, navmap: NavMap, vocab: Vocabulary, keep: frozenset[str] | set[str] = frozenset()) -> set[str]:
    """For each cut-off free region of at least :data:`MIN_POCKET_M2`, the least important
    floor object bordering both it and the main component."""
    labels = navmap.components()
    main = labels[navmap.largest_component_mask()][0] if navmap.largest_component_mask().any() else 0
    sizes = np.bincount(labels.ravel())
    reach = navmap.agent_radius_m + 2.5 * navmap.resolution_m
    main_xy = navmap.grid_to_world(np.argwhere(labels == main))
    rooms = {r.id: r.category for r in scene.rooms}
    out: set[str] = set()
    for label in np.flatnonzero(sizes * navmap.resolution_m**2 >= MIN_POCKET_M2):
        if label in (0, main):
            continue
        pocket = navmap.grid_to_world(np.argwhere(labels == label))
        candidates = [o for o in scene.objects if o.category not in keep
                      and o.center[2] - o.size[2] / 2 < 1.0 and _near(pocket, o, reach) and _near(main_xy, o, reach)]
        if candidates:
            prior = {o.id: vocab.objects[o.category].rooms.get(rooms[o.room], 0.0) if o.category in vocab.objects else 0.0
                     for o in candidates}
            out.add(min(candidates, key=lambda o: (prior[o.id], o.size[0] * o.size[1], o.id)).id)
    return out


def _near(cells_xy: np.ndarray, obj: SceneObject, reach: float) -> bool:
    fp = obj.footprint()
    box = ((cells_xy >= fp.min(axis=0) - reach) & (cells_xy <= fp.max(axis=0) + reach)).all(axis=1)
    return bool(box.any()) and float(polygon_distance(cells_xy[box], fp).min()) <= reach


def _check_rooms(scene: Scene, navmap: NavMap) -> None:
    main = navmap.grid_to_world(np.argwhere(navmap.largest_component_mask()))
    for room in scene.rooms:
        if not room.contains(main).any():
            raise ValueError(f"room {room.id!r} of scene {scene.name!r} is not reachable from the main component")


def _stacked_on(scene: Scene, removed: set[str]) -> set[str]:
    """Objects standing on removed ones (their footprint centre over it, bottom at its top)."""
    out: set[str] = set()
    by_id = {o.id: o for o in scene.objects}
    for obj in scene.objects:
        for rid in removed:
            host = by_id[rid]
            top = host.center[2] + host.size[2] / 2
            if obj.id != rid and abs(obj.center[2] - obj.size[2] / 2 - top) < 1e-3:
                if polygon_distance(np.array([obj.center[:2]]), host.footprint())[0] == 0.0:
                    out.add(obj.id)
    return out
