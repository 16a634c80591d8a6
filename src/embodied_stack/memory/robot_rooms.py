"""The robot's rooms from its own map and what it saw: one function for the eval, the demo and ROS.

:func:`build_room_map` takes the grids a depth mapper accumulated (``space``, ``walls``,
``free``: e.g. :meth:`embodied_stack.perception.mapping.FloorPlanMapper.grids`) and the
objects the robot fused (anything with ``center``, ``labels`` and ``confidence``, e.g.
perception tracks), segments the map into rooms (:class:`~embodied_stack.memory.rooms.RoomMap`)
and types each room from the objects inside it, the whole site's objects and the room's shape
(:class:`~embodied_stack.memory.room_types.RoomTyper`). It lives in the memory layer so that the
evaluation (:mod:`embodied_stack.eval.robot_map`) and the ROS sensing node call the same code
without the memory importing perception (objects are read by duck typing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from embodied_stack.memory.errors import SpatialContextError
from embodied_stack.memory.room_types import RoomObject, RoomTyper
from embodied_stack.memory.rooms import RoomMap


def room_objects(tracks: Iterable[Any]) -> list[RoomObject]:
    """Fused objects (``center`` (3,), ``labels`` {label: p}, ``confidence``) as the typer reads them."""
    out = []
    for t in tracks:
        try:
            xy = (float(t.center[0]), float(t.center[1]))
            out.append(RoomObject(xy, dict(t.labels), float(t.confidence)))
        except (AttributeError, TypeError, IndexError) as err:
            raise SpatialContextError(f"room object {t!r}: needs center, labels and confidence ({err})") from err
    return out


def build_room_map(space: np.ndarray, walls: np.ndarray, free: np.ndarray, resolution_m: float,
                   origin_xy: np.ndarray | Sequence[float], objects: Sequence[RoomObject], *,
                   robot_radius_m: float, embed: Callable[[list[str]], np.ndarray] | None = None,
                   typer: RoomTyper | None = None) -> tuple[RoomMap, dict[str, Any]]:
    """Segment the map into rooms and type them from ``objects``: (room map, a report of its rooms).

    Args:
        space, walls, free: (H, W) boolean grids of the robot's map (see module docstring).
        resolution_m, origin_xy: cell size and the map-frame position of cell (0, 0).
        objects: what the robot saw (:func:`room_objects`).
        robot_radius_m: the robot's radius (navigable cells keep this clearance).
        embed: the memory's text embedder (room types from label embeddings as well as votes).
        typer: a ready :class:`RoomTyper` (reused across calls); built from ``embed`` when None.
    """
    room_map = RoomMap(space, walls, free, resolution_m, np.asarray(origin_xy, dtype=np.float64),
                       robot_radius_m=robot_radius_m)
    where = room_map.room_of(np.array([o.xy for o in objects]).reshape(-1, 2)) if objects else []
    by_room: dict[str, list[RoomObject]] = {r: [] for r in room_map.room_ids}
    for obj, room in zip(objects, where, strict=True):
        if room is not None:
            by_room[room].append(obj)
    types = (typer or RoomTyper(embed)).type_rooms(by_room, room_map.room_shapes())
    room_map.set_types({r: (t.type, t.confidence) for r, t in types.items()})
    areas = room_map.room_areas_m2()
    info = {"rooms": [{"id": r, "type": types[r].type if r in types else "", "name": types[r].name if r in types else "",
                       "confidence": types[r].confidence if r in types else 0.0,
                       "objects": len(by_room[r]), "area_m2": round(areas.get(r, 0.0), 2)} for r in room_map.room_ids]}
    return room_map, info
