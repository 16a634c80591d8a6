"""Episode sets (``embodied-stack.episodes/1``): strict loading, round trips, generation, goals."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embodied_stack.sim.episodes import (
    EpisodeSet,
    episode_goal,
    episode_goal_points,
    generate_episodes,
    load_episodes,
    save_episodes,
)
from embodied_stack.sim.errors import EpisodeFormatError, NavigationError
from embodied_stack.sim.generate import generate_scene
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, load_scene

REPO = Path(__file__).resolve().parents[2]
AWS = REPO / ".." / "shared" / "data" / "scene_aws_small_house" / "aws_small_house.scene.json"
SHIPPED = sorted((REPO / "sim" / "episodes").glob("*.episodes.json"))

GOOD: dict[str, Any] = {
    "format": "embodied-stack.episodes/1",
    "scene": "apartment_03",
    "success_distance_m": 1.0,
    "episodes": [
        {"id": "e001", "start": {"position": [1.0, 1.2], "yaw": 1.57}, "instruction": "go to the fridge",
         "target_categories": ["fridge"]},
        {"id": "e002", "start": {"position": [2.0, 1.0]}, "instruction": "", "target_rooms": ["kitchen_1"],
         "note": "extra fields are fine"},
    ],
}


@cache
def home() -> tuple[Scene, NavMap]:
    s = generate_scene(1, "home", 6)
    return s, NavMap.from_scene(s)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "episodes.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    es = load_episodes(_write(tmp_path, GOOD))
    assert es.scene == "apartment_03" and es.max_steps == 500 and es.success_distance_m == 1.0
    assert es.episodes[0].start.yaw == pytest.approx(1.57)
    assert es.episodes[1].start.yaw == 0.0 and es.episodes[1].target_rooms == ("kitchen_1",)
    save_episodes(es, tmp_path / "again.json")
    assert load_episodes(tmp_path / "again.json").to_dict() == es.to_dict()


def _bad(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


BAD = [
    (("format",), "embodied-stack.episodes/2", "format"),
    (("scene",), None, "scene"),
    (("success_distance_m",), -1, "success_distance_m"),
    (("max_steps",), 0, "max_steps"),
    (("episodes",), {"e": 1}, "episodes"),
    (("episodes", 0, "start", "position"), [1.0], "episodes[0].start.position"),
    (("episodes", 0, "start", "yaw"), "north", "episodes[0].start.yaw"),
    (("episodes", 0, "instruction"), None, "episodes[0].instruction"),
    (("episodes", 0, "target_categories"), ["fridge", 3], "episodes[0].target_categories"),
    (("episodes", 0, "target_categories"), [], "episodes[0]"),
    (("episodes", 1, "id"), "e001", "episodes[1].id"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[b[2] for b in BAD])
def test_bad_files_name_file_and_field(tmp_path: Path, path: tuple[Any, ...], value: Any, field: str) -> None:
    file = _write(tmp_path, _bad(path, value))
    with pytest.raises(EpisodeFormatError) as info:
        load_episodes(file)
    assert str(file) in str(info.value) and f"field '{field}" in str(info.value)


def test_targets_checked_against_the_scene(tmp_path: Path) -> None:
    s, _ = home()
    data = {"format": "embodied-stack.episodes/1", "scene": s.name, "episodes": [
        {"id": "x", "start": {"position": [0, 0]}, "instruction": "go", "target_objects": ["unicorn_1"]}]}
    with pytest.raises(EpisodeFormatError, match=r"episodes\[0\].target_objects\[0\]"):
        load_episodes(_write(tmp_path, data), s)


def test_generated_episodes_are_valid_and_varied(tmp_path: Path) -> None:
    s, nm = home()
    es = generate_episodes(s, nm, 12, seed=3, min_distance_m=2.5)
    assert len(es.episodes) == 12 and len({e.id for e in es.episodes}) == 12
    starts = np.array([e.start.xy for e in es.episodes])
    assert nm.largest_component_mask()[tuple(nm.world_to_grid(starts).T)].all()
    kinds = {("c" if e.target_categories else "") + ("o" if e.target_objects else "") + ("r" if e.target_rooms else "")
             for e in es.episodes}
    assert kinds == {"c", "o", "r"}
    assert len({e.instruction.split(" the ")[0] for e in es.episodes}) >= 5
    for e in es.episodes:
        goal = episode_goal(s, nm, e, es.success_distance_m)
        assert goal.distance(e.start.xy) >= 2.5
        assert not goal.contains(e.start.xy)
        points = episode_goal_points(s, nm, e)
        assert nm.is_navigable(points).all()
    save_episodes(es, tmp_path / "e.json")
    assert load_episodes(tmp_path / "e.json", s).to_dict() == es.to_dict()
    assert generate_episodes(s, nm, 12, seed=3, min_distance_m=2.5).to_dict() == es.to_dict()


def test_goal_region_matches_the_format_definition() -> None:
    s, nm = home()
    es = generate_episodes(s, nm, 30, seed=5, min_distance_m=1.0)
    e = next(e for e in es.episodes if e.target_objects)
    goal = episode_goal(s, nm, e, 1.0)
    obj = s.object_by_id(e.target_objects[0])
    from embodied_stack.sim.geometry import polygon_distance

    snap = polygon_distance(goal.points_xy, obj.footprint())
    free = nm.grid_to_world(np.argwhere(nm.largest_component_mask()))
    assert snap.min() == pytest.approx(polygon_distance(free, obj.footprint()).min(), abs=1e-9)
    cells = goal.cells_xy
    # every region cell is within the success distance of a snap point (geodesic >= euclidean)
    d = np.min(np.linalg.norm(cells[:, None, :] - goal.points_xy[None], axis=2), axis=1)
    assert d.max() <= 1.0 + 1e-9
    assert goal.distance(cells[0]) == 0.0
    room_ep = next(e for e in es.episodes if e.target_rooms)
    room_goal = episode_goal(s, nm, room_ep, 1.0)
    inside = s.room_by_id(room_ep.target_rooms[0]).contains(room_goal.cells_xy)
    assert inside.mean() > 0.9


def test_too_demanding_generation_raises() -> None:
    s, nm = home()
    with pytest.raises(NavigationError, match="lower min_distance_m"):
        generate_episodes(s, nm, 5, seed=0, min_distance_m=500.0)


@pytest.mark.skipif(not AWS.is_file(), reason="shared AWS small house data not present")
def test_wall_hung_object_goal_is_reachable() -> None:
    house = load_scene(AWS)
    nm = NavMap.from_scene(house)
    es = EpisodeSet(house.name, [])
    from embodied_stack.sim.episodes import Episode
    from embodied_stack.types import Pose2D

    e = Episode("u", Pose2D(0.0, -1.0, 0.0), "go to the kitchen utensils", target_objects=("kitchen_utensils_1",))
    goal = es.goal(house, nm, e)
    assert goal.mask.any() and np.isfinite(goal.distance(e.start.xy))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_episode_sets_match_their_scenes(path: Path) -> None:
    name = path.name.replace(".episodes.json", ".scene.json")
    scene_path = AWS if name == AWS.name else REPO / "sim" / "scenes" / name
    if not scene_path.is_file():
        pytest.skip(f"{scene_path} is not present")
    s = load_scene(scene_path)
    es = load_episodes(path, s)
    assert es.scene == s.name and len(es.episodes) >= 10
