"""Scenes in the ``embodied-stack.scene/1`` format (FORMATS.md): rooms, doors, objects.

Loading is strict: a malformed file raises :class:`SceneFormatError` naming the file, the field
(a JSON path such as ``objects[3].size``) and what was expected. Unknown extra fields are
allowed (FORMATS.md: new optional fields are fine). A clockwise room polygon is reoriented
counter-clockwise with a logged warning; a self-intersecting one is an error.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.errors import FormatError
from embodied_stack.sim.errors import SceneFormatError

SCENE_FORMAT = "embodied-stack.scene/1"
DOOR_HEIGHT_M = 2.0
STOREY_GAP_M = 2.0
"""Rooms whose floors differ by this much or more are on different storeys (FORMATS.md)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Room:
    """A room: a simple counter-clockwise polygon in the floor plane (metres, ``map``)."""

    id: str
    category: str
    polygon: tuple[tuple[float, float], ...]
    floor_z: float = 0.0
    ceiling_z: float = 2.6

    @property
    def polygon_array(self) -> np.ndarray:
        return np.asarray(self.polygon, dtype=np.float64)

    def area_m2(self) -> float:
        return abs(polygon_signed_area(self.polygon_array))

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Which of the (N, 2) points lie inside the polygon (even-odd rule)."""
        return points_in_polygon(np.atleast_2d(np.asarray(xy, dtype=np.float64)), self.polygon_array)


@dataclass(frozen=True)
class Door:
    """An opening ``width`` metres wide, centred on ``center``, in the wall between two rooms."""

    rooms: tuple[str, str]
    center: tuple[float, float]
    width: float
    height: float = DOOR_HEIGHT_M


@dataclass(frozen=True)
class SceneObject:
    """An oriented box: ``size`` along its own axes before rotating by ``yaw`` about +z."""

    id: str
    category: str
    room: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float = 0.0
    color: tuple[float, float, float] = (0.6, 0.6, 0.6)
    description: str = ""

    def footprint(self) -> np.ndarray:
        """The box's four floor-plane corners (4, 2), counter-clockwise."""
        hx, hy = self.size[0] / 2.0, self.size[1] / 2.0
        local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + np.array(self.center[:2])


@dataclass
class Scene:
    """A whole scene. Lookups by id are dictionaries built once."""

    name: str
    rooms: list[Room]
    doors: list[Door] = field(default_factory=list)
    objects: list[SceneObject] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self) -> None:
        self._rooms = {r.id: r for r in self.rooms}
        self._objects = {o.id: o for o in self.objects}

    def room_by_id(self, room_id: str) -> Room:
        return self._rooms[room_id]

    def object_by_id(self, object_id: str) -> SceneObject:
        return self._objects[object_id]

    def objects_of_category(self, category: str) -> list[SceneObject]:
        return [o for o in self.objects if o.category == category]

    @property
    def categories(self) -> list[str]:
        """Sorted distinct object categories."""
        return sorted({o.category for o in self.objects})

    def bounds_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """(min_xy, max_xy) over all room polygons."""
        pts = np.concatenate([r.polygon_array for r in self.rooms])
        return pts.min(axis=0), pts.max(axis=0)

    def room_at(self, xy: np.ndarray) -> list[str | None]:
        """The id of the room containing each (N, 2) point, or None."""
        pts = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        out: list[str | None] = [None] * len(pts)
        for room in self.rooms:
            inside = room.contains(pts)
            for i in np.flatnonzero(inside):
                if out[i] is None:
                    out[i] = room.id
        return out

    def storey_floors(self) -> list[float]:
        """The floor heights of the scene's storeys, lowest first: rooms whose ``floor_z`` differ
        by less than :data:`STOREY_GAP_M` (a step between rooms) are on the same storey."""
        floors: list[float] = []
        for z in sorted({r.floor_z for r in self.rooms}):
            if not floors or z - floors[-1] >= STOREY_GAP_M:
                floors.append(z)
        return floors

    def storey_of_room(self, room_id: str) -> int:
        """Index (0 lowest) of the storey a room is on."""
        z = self.room_by_id(room_id).floor_z
        return max(i for i, f in enumerate(self.storey_floors()) if f <= z + 1e-9)

    def storey(self, index: int) -> Scene:
        """One storey as a single-floor scene (its rooms, the doors between them, their objects):
        the embedded simulator and the navigable map work on one floor plan at a time. A
        single-storey scene is returned as it is."""
        floors = self.storey_floors()
        if not 0 <= index < len(floors):
            raise IndexError(f"scene {self.name!r} has {len(floors)} storey(s); no storey {index}")
        if len(floors) == 1:
            return self
        rooms = [r for r in self.rooms if self.storey_of_room(r.id) == index]
        ids = {r.id for r in rooms}
        return Scene(name=f"{self.name}@{index}", rooms=rooms, doors=[d for d in self.doors if set(d.rooms) <= ids],
                     objects=[o for o in self.objects if o.room in ids], source=self.source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SCENE_FORMAT,
            "name": self.name,
            "rooms": [
                {"id": r.id, "category": r.category, "polygon": [list(p) for p in r.polygon],
                 "floor_z": r.floor_z, "ceiling_z": r.ceiling_z}
                for r in self.rooms
            ],
            "doors": [
                {"rooms": list(d.rooms), "center": list(d.center), "width": d.width}
                for d in self.doors
            ],
            "objects": [
                {"id": o.id, "category": o.category, "room": o.room, "center": list(o.center),
                 "size": list(o.size), "yaw": o.yaw, "color": list(o.color),
                 **({"description": o.description} if o.description else {})}
                for o in self.objects
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "<scene>") -> Scene:
        return _parse_scene(data, path)


CHANGE_ACTIONS = ("move", "remove", "add")


def apply_changes(scene: Scene, changes: Any) -> Scene:
    """The scene after some changes (objects moved, removed or added between survey passes).

    Each change is a mapping: ``{"action": "move", "object": id, "room": room id, "center":
    [x, y, z], "yaw": radians (optional)}``, ``{"action": "remove", "object": id}`` or
    ``{"action": "add", "object": {...a scene/1 object...}}``. Rooms and doors never change.

    Raises:
        KeyError: an unknown object or room id; ValueError: a malformed change or a duplicate id.
    """
    objects = {o.id: o for o in scene.objects}
    for i, change in enumerate(changes):
        action = change.get("action") if isinstance(change, dict) else None
        if action not in CHANGE_ACTIONS:
            raise ValueError(f"change {i}: action must be one of {CHANGE_ACTIONS}, got {action!r}")
        if action == "add":
            obj = _parse_object(_Fields("<change>"), change.get("object"), f"changes[{i}].object",
                                {r.id for r in scene.rooms})
            if obj.id in objects:
                raise ValueError(f"change {i}: object id {obj.id!r} already exists")
            scene.room_by_id(obj.room)
            objects[obj.id] = obj
            continue
        oid = change.get("object")
        if oid not in objects:
            raise KeyError(f"change {i}: no object {oid!r} in scene {scene.name!r}")
        if action == "remove":
            del objects[oid]
            continue
        room = change.get("room", objects[oid].room)
        scene.room_by_id(room)
        center = change.get("center")
        if not (isinstance(center, list) and len(center) == 3 and all(isinstance(v, (int, float)) for v in center)):
            raise ValueError(f"change {i}: move needs a center of 3 numbers, got {center!r}")
        old = objects[oid]
        objects[oid] = SceneObject(oid, old.category, room, tuple(float(v) for v in center),  # type: ignore[arg-type]
                                   old.size, float(change.get("yaw", old.yaw)), old.color, old.description)
    return Scene(name=scene.name, rooms=scene.rooms, doors=scene.doors, objects=list(objects.values()),
                 source=scene.source)


def load_scene(path: str | Path) -> Scene:
    """Read and validate a scene/1 JSON file."""
    path = Path(path)
    scene = _parse_scene(read_json(path, SceneFormatError), str(path))
    scene.source = str(path)
    return scene


def read_json(path: Path, error: type[FormatError]) -> Any:
    """Parse a UTF-8 JSON file, raising ``error`` naming the file when it cannot."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise error("file not found", path=str(path)) from err
    except UnicodeDecodeError as err:
        raise error("not UTF-8 text", path=str(path)) from err
    except OSError as err:
        raise error(f"cannot read ({err.strerror})", path=str(path)) from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"not valid JSON ({err.msg} at line {err.lineno})", path=str(path)) from err


def save_scene(scene: Scene, path: str | Path) -> None:
    """Write a scene/1 JSON file (atomically: a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(scene.to_dict(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def polygon_signed_area(poly: np.ndarray) -> float:
    """Shoelace area, positive for counter-clockwise polygons."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def points_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points (N, 2) and edges."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly[:, 0][None, :], poly[:, 1][None, :]
    x1, y1 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return np.count_nonzero(crosses & (x < x_at), axis=1) % 2 == 1


def _segments_intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return (d1 * d2 < 0) and (d3 * d4 < 0)


def _is_simple(poly: np.ndarray) -> bool:
    n = len(poly)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            if _segments_intersect(poly[i], poly[(i + 1) % n], poly[j], poly[(j + 1) % n]):
                return False
    return True


class _Fields:
    """Typed field access that names the file and the JSON path on error (raising ``error``,
    so the episode and query loaders share it)."""

    def __init__(self, path: str, error: type[FormatError] = SceneFormatError) -> None:
        self.path = path
        self.error = error

    def fail(self, where: str, expected: str, got: Any) -> FormatError:
        shown = json.dumps(got)[:80] if _jsonable(got) else repr(got)[:80]
        return self.error(f"expected {expected}, got {shown}", path=self.path, field=where)

    def get(self, obj: dict[str, Any], key: str, where: str, default: Any = ...) -> Any:
        if key not in obj:
            if default is ...:
                raise self.error("is required", path=self.path, field=f"{where}.{key}".lstrip("."))
            return default
        return obj[key]

    def string(self, value: Any, where: str, *, nonempty: bool = True) -> str:
        if not isinstance(value, str) or (nonempty and not value.strip()):
            raise self.fail(where, "a non-empty string" if nonempty else "a string", value)
        return value

    def number(self, value: Any, where: str, *, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(where, "a finite number", value)
        if positive and value <= 0:
            raise self.fail(where, "a number > 0", value)
        return float(value)

    def vector(self, value: Any, n: int, where: str, *, positive: bool = False) -> tuple[float, ...]:
        if not isinstance(value, list) or len(value) != n:
            raise self.fail(where, f"a list of {n} numbers", value)
        return tuple(self.number(v, f"{where}[{i}]", positive=positive) for i, v in enumerate(value))

    def array(self, obj: dict[str, Any], key: str, where: str) -> list[Any]:
        value = self.get(obj, key, where)
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}".lstrip("."), "a list", value)
        return value

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "a JSON object", value)
        return value


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _parse_scene(data: Any, path: str) -> Scene:
    f = _Fields(path)
    data = f.obj(data, "(top level)")
    fmt = f.get(data, "format", "")
    if fmt != SCENE_FORMAT:
        raise f.fail("format", f"'{SCENE_FORMAT}'", fmt)
    name = f.string(f.get(data, "name", ""), "name")
    rooms = [_parse_room(f, r, f"rooms[{i}]") for i, r in enumerate(f.array(data, "rooms", ""))]
    if not rooms:
        raise f.fail("rooms", "at least one room", [])
    room_ids = [r.id for r in rooms]
    _unique(f, room_ids, "rooms", "id")
    known = set(room_ids)
    doors = []
    for i, d in enumerate(f.array(data, "doors", "") if "doors" in data else []):
        where = f"doors[{i}]"
        d = f.obj(d, where)
        pair = f.get(d, "rooms", where)
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise f.fail(f"{where}.rooms", "a list of two room ids", pair)
        for p in pair:
            if p not in known:
                raise f.fail(f"{where}.rooms", f"ids of rooms in this scene ({', '.join(sorted(known))})", p)
        center = f.vector(f.get(d, "center", where), 2, f"{where}.center")
        width = f.number(f.get(d, "width", where), f"{where}.width", positive=True)
        doors.append(Door((pair[0], pair[1]), (center[0], center[1]), width))
    objects = []
    for i, o in enumerate(f.array(data, "objects", "") if "objects" in data else []):
        objects.append(_parse_object(f, o, f"objects[{i}]", known))
    _unique(f, [o.id for o in objects], "objects", "id")
    return Scene(name=name, rooms=rooms, doors=doors, objects=objects)


def _unique(f: _Fields, ids: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise f.fail(f"{where}[{i}].{key}", "an id unique in the scene", value)
        seen.add(value)


def _parse_room(f: _Fields, r: Any, where: str) -> Room:
    r = f.obj(r, where)
    room_id = f.string(f.get(r, "id", where), f"{where}.id")
    category = f.string(f.get(r, "category", where), f"{where}.category").strip().lower()
    raw = f.get(r, "polygon", where)
    if not isinstance(raw, list) or len(raw) < 3:
        raise f.fail(f"{where}.polygon", "a list of at least 3 [x, y] points", raw)
    poly = np.array([f.vector(p, 2, f"{where}.polygon[{j}]") for j, p in enumerate(raw)])
    area = polygon_signed_area(poly)
    if abs(area) < 1e-6:
        raise f.fail(f"{where}.polygon", "a polygon with non-zero area", raw)
    if not _is_simple(poly):
        raise f.fail(f"{where}.polygon", "a simple (non-self-intersecting) polygon", raw)
    if area < 0:
        logger.warning("%s: %s.polygon is clockwise; reoriented counter-clockwise", f.path, where)
        poly = poly[::-1]
    floor_z = f.number(f.get(r, "floor_z", where, 0.0), f"{where}.floor_z")
    ceiling_z = f.number(f.get(r, "ceiling_z", where, floor_z + 2.6), f"{where}.ceiling_z")
    if ceiling_z <= floor_z:
        raise f.fail(f"{where}.ceiling_z", f"a height above floor_z ({floor_z})", ceiling_z)
    return Room(room_id, category, tuple((float(x), float(y)) for x, y in poly), floor_z, ceiling_z)


def _parse_object(f: _Fields, o: Any, where: str, rooms: set[str]) -> SceneObject:
    o = f.obj(o, where)
    obj_id = f.string(f.get(o, "id", where), f"{where}.id")
    category = f.string(f.get(o, "category", where), f"{where}.category").strip().lower()
    room = f.string(f.get(o, "room", where), f"{where}.room")
    if room not in rooms:
        raise f.fail(f"{where}.room", f"the id of a room in this scene ({', '.join(sorted(rooms))})", room)
    center = f.vector(f.get(o, "center", where), 3, f"{where}.center")
    size = f.vector(f.get(o, "size", where), 3, f"{where}.size", positive=True)
    yaw = f.number(f.get(o, "yaw", where, 0.0), f"{where}.yaw")
    color = f.vector(f.get(o, "color", where, [0.6, 0.6, 0.6]), 3, f"{where}.color")
    if not all(0.0 <= c <= 1.0 for c in color):
        raise f.fail(f"{where}.color", "linear RGB values in [0, 1]", list(color))
    description = f.get(o, "description", where, "")
    if not isinstance(description, str):
        raise f.fail(f"{where}.description", "a string", description)
    return SceneObject(obj_id, category, room, center, size, yaw, color, description)  # type: ignore[arg-type]
