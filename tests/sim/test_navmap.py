"""The navigable map: rasterisation, inflation, components and geodesic distances against hand
computations."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embodied_stack.sim.errors import NavigationError
from embodied_stack.sim.geometry import path_length
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, load_scene

AWS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scene_aws_small_house" / "aws_small_house.scene.json"


def scene(rooms: list[dict[str, Any]], doors: list[dict[str, Any]] = (), objects: list[dict[str, Any]] = ()) -> Scene:
    return Scene.from_dict({"format": "embodied-stack.scene/1", "name": "t", "rooms": rooms,
                            "doors": list(doors), "objects": list(objects)})


def room(rid: str, x0: float, y0: float, x1: float, y1: float, category: str = "room") -> dict[str, Any]:
    return {"id": rid, "category": category, "polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}


def two_rooms() -> Scene:
    """Rooms [0,4]x[0,4] and [4,8]x[0,4] joined by a 0.8 m door centred at (4, 3.5)."""
    return scene([room("a", 0, 0, 4, 4, "kitchen"), room("b", 4, 0, 8, 4, "bedroom")],
                 [{"rooms": ["a", "b"], "center": [4.0, 3.5], "width": 0.8}])


def test_inflation_against_walls_and_grid_conventions() -> None:
    nm = NavMap.from_scene(scene([room("a", 0, 0, 4, 2)]))
    # wall along x = 0 is 0.1 m thick: free from 0.05 + 0.18 = 0.23 m
    assert nm.is_navigable(np.array([[0.30, 1.0], [0.25, 1.0]])).all()
    assert not nm.is_navigable(np.array([[0.20, 1.0], [0.10, 1.0]])).any()
    assert not nm.is_navigable(np.array([[-3.0, 1.0], [50.0, 50.0]])).any()
    ij = nm.world_to_grid(np.array([[2.01, 1.01]]))
    assert nm.free[ij[0, 0], ij[0, 1]]
    np.testing.assert_allclose(nm.grid_to_world(ij), [[2.01, 1.01]], atol=nm.resolution_m / 2)
    # (row, col) = (y, x): one cell up in y is the next row, one cell right in x the next column
    assert (nm.world_to_grid(np.array([[2.01, 1.06]])) - ij)[0].tolist() == [1, 0]
    assert (nm.world_to_grid(np.array([[2.06, 1.01]])) - ij)[0].tolist() == [0, 1]
    expected_area = (4 - 2 * 0.23) * (2 - 2 * 0.23)
    assert nm.free_area_m2() == pytest.approx(expected_area, rel=0.05)


def test_objects_block_below_robot_height_only() -> None:
    objects = [
        {"id": "table_1", "category": "table", "room": "a", "center": [1.5, 1.0, 0.4], "size": [0.6, 0.6, 0.8]},
        {"id": "shelf_1", "category": "wall shelf", "room": "a", "center": [3.0, 1.0, 1.6], "size": [0.6, 0.6, 0.3]},
        {"id": "rug_1", "category": "rug", "room": "a", "center": [2.2, 1.0, 0.005], "size": [0.6, 0.6, 0.01]},
    ]
    nm = NavMap.from_scene(scene([room("a", 0, 0, 4, 2)], objects=objects))
    assert not nm.is_navigable(np.array([[1.5, 1.0], [1.5 + 0.3 + 0.17, 1.0]])).any()
    assert nm.is_navigable(np.array([[1.5 + 0.3 + 0.2, 1.0], [3.0, 1.0], [2.2, 1.0]])).all()


def test_door_opening_connects_rooms_and_closed_rooms_do_not() -> None:
    nm = NavMap.from_scene(two_rooms())
    assert nm.is_navigable(np.array([[4.0, 3.5]]))[0]
    assert not nm.is_navigable(np.array([[4.0, 2.0]]))[0]
    assert nm.largest_component_mask().sum() == nm.free.sum()
    closed = NavMap.from_scene(scene([room("a", 0, 0, 4, 4), room("b", 4, 0, 8, 4)]))
    labels = closed.components()
    assert labels.max() == 2
    assert math.isinf(closed.geodesic_distance(np.array([2.0, 2.0]), np.array([6.0, 2.0])))
    mask = closed.reachable_from(np.array([2.0, 2.0]))
    assert mask.sum() == closed.free.sum() // 2 or abs(mask.sum() - closed.free.sum() / 2) < 50
    field = closed.distance_field(np.array([[2.0, 2.0]]))
    ij = closed.world_to_grid(np.array([[6.0, 2.0], [2.0, 2.0]]))
    assert math.isinf(field[ij[0, 0], ij[0, 1]]) and field[ij[1, 0], ij[1, 1]] == 0.0


def test_geodesic_around_a_door_jamb_matches_hand_computation() -> None:
    nm = NavMap.from_scene(two_rooms())
    a, b = np.array([2.0, 1.0]), np.array([6.0, 1.0])
    # the wall below the opening ends at (4, 3.1); inflated, it is a disc of radius
    # 0.05 + 0.18 = 0.23 m around that end. The taut string wraps the top of the disc.
    c, r = np.array([4.0, 3.1]), 0.23
    d = float(np.linalg.norm(a - c))
    tangent = math.sqrt(d * d - r * r)
    ca, cb = a - c, b - c
    between = math.acos(float(ca @ cb) / (d * d))
    arc = r * (2 * math.pi - between - 2 * math.acos(r / d))
    expected = 2 * tangent + arc
    got = nm.geodesic_distance(a, b)
    assert got == pytest.approx(expected, rel=0.01)
    assert got > float(np.linalg.norm(b - a)) + 1.0
    path = nm.shortest_path(a, b)
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)
    assert path_length(path) == pytest.approx(got)
    assert all(nm.line_of_sight(p, q) for p, q in zip(path[:-1], path[1:], strict=True))


@pytest.mark.parametrize("angle_deg", [0.0, 7.0, 22.5, 33.0, 45.0])
def test_straight_line_geodesic_is_euclidean(angle_deg: float) -> None:
    nm = NavMap.from_scene(scene([room("a", -1, -1, 11, 11)]))
    a = np.array([0.0, 0.0])
    t = math.radians(angle_deg)
    b = a + 9.0 * np.array([math.cos(t), math.sin(t)])
    assert nm.geodesic_distance(a, b) == pytest.approx(9.0, rel=0.01)
    # the raw grid field is an upper bound within 16-neighbour error (< 3 %)
    field = nm.distance_field(b[None])
    ij = nm.world_to_grid(a[None])[0]
    assert 9.0 * 0.99 <= field[ij[0], ij[1]] <= 9.0 * 1.03


def test_multiple_goals_use_the_nearest_and_results_are_cached() -> None:
    nm = NavMap.from_scene(two_rooms())
    goals = np.array([[6.0, 1.0], [1.0, 1.0]])
    assert nm.geodesic_distance(np.array([2.0, 1.0]), goals) == pytest.approx(1.0, abs=0.02)
    f1 = nm.distance_field(goals)
    f2 = nm.distance_field(goals[::-1])
    assert f1 is not f2 and np.array_equal(f1, f2)


def test_nearest_navigable_and_sampling() -> None:
    nm = NavMap.from_scene(two_rooms())
    near = nm.nearest_navigable(np.array([[4.0, 2.0], [0.0, 0.0], [-20.0, 1.0]]))
    assert nm.is_navigable(near).all()
    assert near[0][0] == pytest.approx(4.0 - 0.23, abs=0.05) or near[0][0] == pytest.approx(4.0 + 0.23, abs=0.05)
    np.testing.assert_allclose(near[1], [0.23, 0.23], atol=0.05)
    samples = nm.sample_navigable(np.random.default_rng(0), 50)
    assert samples.shape == (50, 2) and nm.is_navigable(samples).all()
    blocked = NavMap(np.zeros((5, 5), dtype=bool), 0.05, np.zeros(2), 0.18)
    assert np.isnan(blocked.nearest_navigable(np.array([[0.1, 0.1]]))).all()
    with pytest.raises(NavigationError):
        blocked.sample_navigable(np.random.default_rng(0), 1)


def test_rooms_lookup_satisfies_spatial_context() -> None:
    nm = NavMap.from_scene(two_rooms())
    assert nm.room_of(np.array([[1.0, 1.0], [6.0, 1.0], [20.0, 20.0]])) == ["a", "b", None]
    assert nm.room_category("b") == "bedroom"
    with pytest.raises(NavigationError, match="unknown room id"):
        nm.room_category("garage")


@pytest.mark.skipif(not AWS.is_file(), reason="shared AWS small house data not present")
def test_aws_house_navmap() -> None:
    house = load_scene(AWS)
    nm = NavMap.from_scene(house)
    main = nm.largest_component_mask()
    assert main.sum() * nm.resolution_m**2 == pytest.approx(122.5, rel=0.03)
    # every room is reachable from the main component
    cells = nm.grid_to_world(np.argwhere(main))
    for r in house.rooms:
        assert r.contains(cells).any(), r.id
    utensils = house.object_by_id("kitchen_utensils_1")
    from embodied_stack.sim.geometry import polygon_distance

    gap = polygon_distance(cells, utensils.footprint()).min()
    assert 0.6 < gap < 1.0
