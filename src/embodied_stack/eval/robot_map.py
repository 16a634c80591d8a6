"""The memory's spatial context at the end of a survey: the robot's own rooms, or an oracle's.

By default (no oracle) the context is a :class:`~embodied_stack.memory.rooms.RoomMap` of the
floor plan the robot mapped (:class:`~embodied_stack.perception.mapping.FloorPlanMapper`),
its rooms typed from the objects the robot fused there
(:class:`~embodied_stack.memory.room_types.RoomTyper`). The ``rooms`` oracle swaps in the
scene file's room polygons and types, the ``map`` oracle the simulator's true navigable map;
with both it is the simulator's :class:`~embodied_stack.sim.navmap.NavMap`, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from embodied_stack.eval.oracles import Oracles
from embodied_stack.memory.room_types import RoomObject, RoomTyper
from embodied_stack.memory.rooms import RoomMap
from embodied_stack.memory.spatial import Room, RoomPolygons, SpatialContext
from embodied_stack.perception.mapping import FloorPlanMapper
from embodied_stack.perception.tracks import Track


class MixedContext:
    """Rooms from one context, navigability from another (for single-oracle ablations)."""

    def __init__(self, rooms: SpatialContext, navigation: SpatialContext) -> None:
        self.rooms = rooms
        self.navigation = navigation

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        return self.rooms.room_of(xy)

    def room_category(self, room_id: str) -> str:
        return self.rooms.room_category(room_id)

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        return self.navigation.nearest_navigable(xy)


def room_objects(tracks: Sequence[Track]) -> list[RoomObject]:
    """What the robot saw, as the room typer reads it."""
    return [RoomObject((float(t.center[0]), float(t.center[1])), t.labels, float(t.confidence)) for t in tracks]


def robot_rooms(mapper: FloorPlanMapper, tracks: Sequence[Track], *, robot_radius_m: float,
                embed: Callable[[list[str]], np.ndarray] | None) -> tuple[RoomMap, dict[str, Any]]:
    """Segment the robot's map into rooms and type them from the fused tracks."""
    space, walls, free = mapper.grids()
    room_map = RoomMap(space, walls, free, mapper.resolution_m, mapper.origin_xy, robot_radius_m=robot_radius_m)
    objects = room_objects(tracks)
    where = room_map.room_of(np.array([o.xy for o in objects]).reshape(-1, 2)) if objects else []
    by_room: dict[str, list[RoomObject]] = {r: [] for r in room_map.room_ids}
    for obj, room in zip(objects, where, strict=True):
        if room is not None:
            by_room[room].append(obj)
    types = RoomTyper(embed).type_rooms(by_room)
    room_map.set_types({r: (t.type, t.confidence) for r, t in types.items()})
    areas = room_map.room_areas_m2()
    info = {"rooms": [{"id": r, "type": types[r].type if r in types else "", "name": types[r].name if r in types else "",
                       "confidence": types[r].confidence if r in types else 0.0,
                       "objects": len(by_room[r]), "area_m2": round(areas.get(r, 0.0), 2)} for r in room_map.room_ids]}
    return room_map, info


def survey_context(sim: Any, mapper: FloorPlanMapper, tracks: Sequence[Track], oracles: Oracles, *,
                   robot_radius_m: float, embed: Callable[[list[str]], np.ndarray] | None
                   ) -> tuple[SpatialContext, RoomMap | None, dict[str, Any]]:
    """(context for the memory, the robot's RoomMap when it made one, a report of its rooms)."""
    if oracles.rooms and oracles.map:
        return sim.navmap, None, {"source": "simulator navmap (rooms and map oracles)"}
    room_map, info = robot_rooms(mapper, tracks, robot_radius_m=robot_radius_m, embed=embed)
    if oracles.rooms:
        scene_rooms = RoomPolygons([Room(r.id, r.category, r.polygon_array) for r in sim.scene.rooms])
        return MixedContext(scene_rooms, room_map), room_map, {"source": "scene rooms (oracle), robot map", **info}
    if oracles.map:
        return MixedContext(room_map, sim.navmap), room_map, {"source": "robot rooms, simulator navmap (oracle)",
                                                               **info}
    return room_map, room_map, {"source": "robot map", **info}
