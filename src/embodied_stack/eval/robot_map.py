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
from embodied_stack.memory.robot_rooms import build_room_map, room_objects
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


def robot_rooms(mapper: FloorPlanMapper, tracks: Sequence[Track], *, robot_radius_m: float,
                embed: Callable[[list[str]], np.ndarray] | None) -> tuple[RoomMap, dict[str, Any]]:
    """Segment the robot's map into rooms and type them from the fused tracks
    (:func:`embodied_stack.memory.robot_rooms.build_room_map`, the code the ROS sensing node runs)."""
    space, walls, free = mapper.grids()
    return build_room_map(space, walls, free, mapper.resolution_m, mapper.origin_xy, room_objects(tracks),
                          robot_radius_m=robot_radius_m, embed=embed)


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
