"""Rooms from the robot's own map: segmentation at doorways, the RoomMap context, room types."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.memory.errors import SpatialContextError
from embodied_stack.memory.room_types import RoomObject, RoomTyper
from embodied_stack.memory.rooms import RoomMap, segment_rooms

RES = 0.05


def _grid(width_m: float, height_m: float) -> np.ndarray:
    return np.zeros((int(height_m / RES), int(width_m / RES)), dtype=bool)


def _fill(grid: np.ndarray, x0: float, y0: float, x1: float, y1: float, value: bool = True) -> None:
    grid[int(y0 / RES):int(y1 / RES), int(x0 / RES):int(x1 / RES)] = value


def test_an_l_shaped_room_is_one_room() -> None:
    space = _grid(10, 10)
    _fill(space, 1, 1, 9, 4)  # the long arm, 3 m wide
    _fill(space, 1, 1, 4, 9)  # the other arm
    labels = segment_rooms(space, RES)
    assert labels.max() == 1 and np.all(labels[space] == 1)


def _two_rooms_with_a_door(door_m: float = 0.9) -> np.ndarray:
    space = _grid(10, 6)
    _fill(space, 0.5, 0.5, 4.5, 5.5)
    _fill(space, 4.6, 0.5, 9.5, 5.5)
    _fill(space, 4.5, 3.0 - door_m / 2, 4.6, 3.0 + door_m / 2)  # the doorway through a 10 cm wall
    return space


def test_two_rooms_joined_by_a_door_are_two_rooms() -> None:
    space = _two_rooms_with_a_door()
    labels = segment_rooms(space, RES)
    assert labels.max() == 2
    left, right = labels[int(3 / RES), int(2 / RES)], labels[int(3 / RES), int(7 / RES)]
    assert left != right and left > 0 and right > 0
    assert np.mean(labels[:, :int(4.5 / RES)][space[:, :int(4.5 / RES)]] == left) > 0.97
    assert np.mean(labels[:, int(4.6 / RES):][space[:, int(4.6 / RES):]] == right) > 0.97


def test_a_wide_opening_between_two_equal_halves_of_a_hall_does_not_split_it() -> None:
    space = _grid(10, 6)
    _fill(space, 0.5, 0.5, 9.5, 5.5)
    _fill(space, 4.9, 0.5, 5.1, 1.0, False)  # a pillar stub at the wall: no real narrowing
    assert segment_rooms(space, RES).max() == 1


def test_room_map_answers_rooms_types_and_standing_points() -> None:
    space = _two_rooms_with_a_door()
    walls = ~space
    room_map = RoomMap(space, walls, space, RES, (0.0, 0.0))
    ids = room_map.room_of(np.array([[2.0, 3.0], [7.0, 3.0], [50.0, 50.0]]))
    assert ids[0] != ids[1] and ids[0] and ids[1] and ids[2] is None
    # an object against the wall (just outside the mapped space) still gets its room
    assert room_map.room_of(np.array([[0.45, 3.0]])) == [ids[0]]
    standing = room_map.nearest_navigable(np.array([[0.1, 0.1]]))[0]
    assert 0.5 + 0.15 <= standing[0] <= 1.0 and 0.5 + 0.15 <= standing[1] <= 1.0  # robot radius, to a cell
    typer = RoomTyper()
    types = typer.type_rooms({
        ids[0]: [RoomObject((2.0, 3.0), {"bed": 1.0}), RoomObject((1.0, 1.0), {"nightstand": 0.8, "cabinet": 0.2})],
        ids[1]: [RoomObject((7.0, 3.0), {"fridge": 1.0}), RoomObject((8.0, 1.0), {"stove": 1.0})],
    })
    assert types[ids[0]].type == "bedroom" and types[ids[1]].type == "kitchen"
    assert 0.0 < types[ids[0]].confidence <= 1.0
    room_map.set_types({r: (t.type, t.confidence) for r, t in types.items()})
    assert room_map.room_category(ids[1]) == "kitchen"
    room_map.set_types({ids[1]: ("kitchen", 0.1)})
    assert room_map.room_category(ids[1]) == ""  # too unsure: the memory votes itself


def test_room_map_round_trips_and_rejects_bad_grids(tmp_path) -> None:
    space = _two_rooms_with_a_door()
    room_map = RoomMap(space, ~space, space, RES, (1.0, -2.0))
    room_map.set_types({"room_1": ("kitchen", 0.8)})
    room_map.save(tmp_path / "rooms.npz")
    again = RoomMap.load(tmp_path / "rooms.npz")
    assert np.array_equal(again.labels, room_map.labels) and again.types == {"room_1": ("kitchen", 0.8)}
    with pytest.raises(SpatialContextError, match="one shape"):
        RoomMap(space, space[:-1], space, RES, (0, 0))
    with pytest.raises(SpatialContextError, match="no free cell"):
        RoomMap(space, ~space, np.zeros_like(space), RES, (0, 0))


def _objects(*labels: str) -> list[RoomObject]:
    return [RoomObject((float(i), 0.0), {label: 1.0}, 0.9) for i, label in enumerate(labels)]


def test_duplicate_tracks_of_one_object_do_not_outvote_a_kitchen() -> None:
    # seven tracks of one pantry shelf (duplicates a detector without ids makes) beside a kitchen's things
    kitchen = _objects(*["pantry shelf"] * 7, "stove", "sink")
    assert RoomTyper().type_rooms({"r": kitchen})["r"].type == "kitchen"
    assert RoomTyper(evidence="sum").type_rooms({"r": kitchen})["r"].type == "pantry"  # counting every track
    with pytest.raises(ValueError, match="evidence"):
        RoomTyper(evidence="max")


def test_a_label_distribution_counts_not_only_its_argmax() -> None:
    # a track that is 55 % "armchair", 45 % "sofa" still says living room; a bed says bedroom
    unsure = [RoomObject((0.0, 0.0), {"nightstand": 0.55, "cabinet": 0.45}), RoomObject((1.0, 0.0), {"bed": 1.0})]
    dist = RoomTyper().distribution(unsure)
    assert RoomTyper().types[int(np.argmax(dist))] == "bedroom"
    only_cabinet = RoomTyper().distribution([RoomObject((0.0, 0.0), {"nightstand": 0.55, "cabinet": 0.45})])
    lone_nightstand = RoomTyper().distribution([RoomObject((0.0, 0.0), {"nightstand": 1.0})])
    bedroom = RoomTyper().types.index("bedroom")
    assert only_cabinet[bedroom] < lone_nightstand[bedroom]  # the cabinet share went elsewhere


def test_build_room_map_types_each_room_from_the_objects_inside_it() -> None:
    from embodied_stack.memory.robot_rooms import build_room_map, room_objects

    class Track:
        def __init__(self, x: float, y: float, label: str) -> None:
            self.center, self.labels, self.confidence = np.array([x, y, 0.5]), {label: 1.0}, 0.9

    space = _two_rooms_with_a_door()
    tracks = [Track(2.0, 3.0, "bed"), Track(1.0, 1.5, "dresser"), Track(3.0, 4.5, "nightstand"),
              Track(7.0, 3.0, "toilet"), Track(8.5, 1.0, "washbasin"), Track(6.0, 4.0, "bathtub")]
    room_map, info = build_room_map(space, ~space, space, RES, (0.0, 0.0), room_objects(tracks), robot_radius_m=0.18)
    left, right = room_map.room_of(np.array([[2.0, 3.0], [7.0, 3.0]]))
    assert room_map.room_category(left) == "bedroom" and room_map.room_category(right) == "bathroom"
    assert {r["objects"] for r in info["rooms"]} == {3} and all(0 < r["confidence"] <= 1 for r in info["rooms"])
    with pytest.raises(SpatialContextError):
        room_objects([object()])


def test_the_robots_typing_confidence_reaches_the_forests_room_nodes(hash_embedder) -> None:
    from embodied_stack.memory.forest import ROOM
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.memory.types import Observation

    space = _two_rooms_with_a_door()
    room_map = RoomMap(space, ~space, space, RES, (0.0, 0.0))
    left, right = room_map.room_of(np.array([[2.0, 3.0], [7.0, 3.0]]))
    room_map.set_types({left: ("bedroom", 0.55), right: ("kitchen", 0.9)})
    memory = SemanticMemory(embedder=hash_embedder, spatial=room_map)
    memory.ingest([Observation("bed", (2.0, 3.0, 0.3), extent=(2.0, 1.6, 0.5)),
                   Observation("nightstand", (1.0, 4.5, 0.3), extent=(0.4, 0.4, 0.5)),
                   Observation("fridge", (7.0, 3.0, 0.9), extent=(0.8, 0.7, 1.8)),
                   Observation("stove", (8.5, 1.0, 0.45), extent=(0.6, 0.6, 0.9))])
    nodes = memory.forest.nodes
    conf = {nodes.info[r].room_type: float(nodes.room_confidence[r]) for r in nodes.ids(ROOM).tolist()}
    assert conf["bedroom"] == pytest.approx(0.55, abs=1e-3) and conf["kitchen"] == pytest.approx(0.9, abs=1e-3)
    memory.close()
