"""Room typing with the site's kind (home or workplace) and the room's shape (corridors)."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.memory.room_types import RoomObject, RoomTyper, corridor_likelihood
from embodied_stack.memory.rooms import RoomMap

RES = 0.05


def _objects(*labels: str) -> list[RoomObject]:
    return [RoomObject((0.0, 0.0), {label: 1.0}) for label in labels]


KITCHENETTE = ("fridge", "coffee maker", "sink", "microwave")


def test_a_kitchen_in_an_office_building_is_its_break_room() -> None:
    rooms = {"a": _objects(*KITCHENETTE),
             "b": _objects("conference table", "projector", "projector screen", "office chair"),
             "c": _objects("printer", "photocopier"),
             "d": _objects("desk", "office chair", "computer monitor")}
    types = RoomTyper().type_rooms(rooms)
    assert types["a"].type == "break room"
    assert types["b"].type == "meeting room" and types["d"].type == "office"
    # without the site's context the same objects make a kitchen
    assert RoomTyper(site_context=False).type_rooms(rooms)["a"].type == "kitchen"


def test_a_kitchen_in_a_home_stays_a_kitchen_and_a_desk_room_is_a_study() -> None:
    rooms = {"a": _objects(*KITCHENETTE),
             "b": _objects("bed", "nightstand", "wardrobe"),
             "c": _objects("desk", "office chair", "computer monitor", "bookshelf"),
             "d": _objects("washing machine", "laundry basket", "ironing board")}
    types = RoomTyper().type_rooms(rooms)
    assert types["a"].type == "kitchen" and types["b"].type == "bedroom"
    assert types["c"].type == "study"


def test_site_kind_reads_only_rooms_one_kind_of_site_has() -> None:
    typer = RoomTyper()
    assert typer.site_kind(_objects("bed", "nightstand", *KITCHENETTE)) < 0.2
    assert typer.site_kind(_objects("conference table", "photocopier", *KITCHENETTE)) > 0.8
    assert typer.site_kind(_objects(*KITCHENETTE)) is None  # a kitchen alone says nothing
    assert typer.site_kind([]) is None


def test_corridor_likelihood_wants_long_and_narrow() -> None:
    assert corridor_likelihood(9.0, 1.2) == 1.0  # 7.5 m x 1.2 m
    assert corridor_likelihood(4.0, 2.0) == 0.0  # square
    assert corridor_likelihood(30.0, 2.5) == 0.0  # too wide for a corridor
    assert 0.0 < corridor_likelihood(6.0, 1.2) < 1.0


def test_a_long_narrow_room_is_a_hallway_and_a_square_one_with_the_same_things_is_not() -> None:
    things = _objects("potted plant", "fire extinguisher")
    shapes = {"long": (9.0, 1.2), "square": (9.0, 3.0), "empty": (8.0, 1.0), "empty_square": (9.0, 3.0)}
    types = RoomTyper().type_rooms({"long": things, "square": things, "empty": [], "empty_square": []}, shapes)
    assert types["long"].type == "hallway"
    assert types["square"].type != "hallway"
    assert types["empty"].type == "hallway" and types["empty"].objects == 0
    assert types["empty"].confidence == pytest.approx(0.6 * corridor_likelihood(8.0, 1.0))
    assert types["long"].confidence > 0.6
    assert "empty_square" not in types


def test_room_shapes_measure_area_and_width() -> None:
    space = np.zeros((int(8 / RES), int(12 / RES)), dtype=bool)
    space[int(1 / RES):int(2.2 / RES), int(1 / RES):int(9 / RES)] = True  # a corridor 8 m x 1.2 m
    room_map = RoomMap(space, np.zeros_like(space), space, RES, (0.0, 0.0))
    ((area, width),) = room_map.room_shapes().values()
    assert area == pytest.approx(9.6, rel=0.02)
    assert width == pytest.approx(1.2, abs=0.1)
    assert corridor_likelihood(area, width) > 0.9
