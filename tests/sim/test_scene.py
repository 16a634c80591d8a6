"""Scene files (``embodied-stack.scene/1``): the strict loader on good and bad files, and walls."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from embodied_stack.sim.errors import SceneFormatError
from embodied_stack.sim.scene import Scene, load_scene, save_scene
from embodied_stack.sim.walls import wall_segments

AWS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scene_aws_small_house" / "aws_small_house.scene.json"
SHIPPED = sorted((Path(__file__).resolve().parents[2] / "sim" / "scenes").glob("*.scene.json"))

GOOD: dict[str, Any] = {
    "format": "embodied-stack.scene/1",
    "name": "two_rooms",
    "rooms": [
        {"id": "kitchen_1", "category": "kitchen", "polygon": [[0, 0], [4, 0], [4, 3], [0, 3]], "floor_z": 0.0,
         "ceiling_z": 2.6},
        {"id": "hall_1", "category": "Hallway", "polygon": [[4, 0], [6, 0], [6, 3], [4, 3]]},
    ],
    "doors": [{"rooms": ["kitchen_1", "hall_1"], "center": [4.0, 1.5], "width": 0.9}],
    "objects": [
        {"id": "fridge_1", "category": "fridge", "room": "kitchen_1", "center": [3.6, 2.6, 0.9],
         "size": [0.7, 0.7, 1.8], "yaw": 0.0, "color": [0.9, 0.9, 0.95], "description": "a white fridge",
         "extra_field": "allowed"},
    ],
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_good_file_loads_and_round_trips(tmp_path: Path) -> None:
    scene = load_scene(_write(tmp_path, GOOD))
    assert [r.id for r in scene.rooms] == ["kitchen_1", "hall_1"]
    assert scene.rooms[1].category == "hallway"
    assert scene.rooms[1].ceiling_z == pytest.approx(2.6)
    assert scene.object_by_id("fridge_1").size == (0.7, 0.7, 1.8)
    out = tmp_path / "again.json"
    save_scene(scene, out)
    again = load_scene(out)
    assert again.to_dict() == scene.to_dict()


def test_clockwise_polygon_is_reoriented(tmp_path: Path) -> None:
    data = copy.deepcopy(GOOD)
    data["rooms"][0]["polygon"] = [[0, 0], [0, 3], [4, 3], [4, 0]]
    scene = load_scene(_write(tmp_path, data))
    assert scene.rooms[0].area_m2() == pytest.approx(12.0)
    assert scene.rooms[0].polygon[0] == (4.0, 0.0)


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()

BAD_CASES = [
    (("format",), "embodied-stack.scene/2", "format"),
    (("name",), _DELETE, "name"),
    (("rooms",), [], "rooms"),
    (("rooms", 0, "polygon"), [[0, 0], [1, 0]], "rooms[0].polygon"),
    (("rooms", 0, "polygon"), [[0, 0], [2, 2], [2, 0], [0, 2]], "rooms[0].polygon"),
    (("rooms", 0, "polygon", 1), [4, "x"], "rooms[0].polygon[1][1]"),
    (("rooms", 0, "ceiling_z"), -1.0, "rooms[0].ceiling_z"),
    (("rooms", 1, "id"), "kitchen_1", "rooms[1].id"),
    (("doors", 0, "rooms"), ["kitchen_1", "garage_1"], "doors[0].rooms"),
    (("doors", 0, "width"), 0, "doors[0].width"),
    (("objects", 0, "size"), [0.7, -0.7, 1.8], "objects[0].size[1]"),
    (("objects", 0, "center"), [1, 2], "objects[0].center"),
    (("objects", 0, "color"), [1.2, 0.0, 0.0], "objects[0].color"),
    (("objects", 0, "room"), "attic_1", "objects[0].room"),
    (("objects", 0, "id"), _DELETE, "objects[0].id"),
    (("objects", 0, "description"), 3, "objects[0].description"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_CASES, ids=[c[2] for c in BAD_CASES])
def test_bad_field_names_file_and_field(tmp_path: Path, path: tuple[Any, ...], value: Any, field: str) -> None:
    file = _write(tmp_path, _set(path, value))
    with pytest.raises(SceneFormatError) as info:
        load_scene(file)
    message = str(info.value)
    assert str(file) in message
    assert f"field '{field}" in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SceneFormatError, match="file not found"):
        load_scene(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SceneFormatError, match="not valid JSON"):
        load_scene(bad)
    with pytest.raises(SceneFormatError, match="expected a JSON object"):
        load_scene(_write(tmp_path, [1, 2]))


def test_walls_cut_door_openings() -> None:
    scene = Scene.from_dict(GOOD)
    solid = wall_segments(scene)
    both = wall_segments(scene, include_openings=True)
    openings = [s for s in both if s.opening]
    assert len(openings) == 1
    assert openings[0].length_m == pytest.approx(0.9)
    assert {round(v, 6) for v in (openings[0].start[1], openings[0].end[1])} == {1.05, 1.95}
    # the shared edge x = 4 appears once, as two solid pieces beside the opening
    on_shared = [s for s in solid if s.start[0] == pytest.approx(4.0) and s.end[0] == pytest.approx(4.0)]
    assert sorted(round(s.length_m, 6) for s in on_shared) == [1.05, 1.05]
    total = sum(s.length_m for s in solid)
    assert total == pytest.approx(14 + 10 - 3 - 0.9)
    per_room = wall_segments(scene, dedupe=False)
    assert sum(s.length_m for s in per_room if s.room_id == "hall_1") == pytest.approx(10 - 0.9)


@pytest.mark.skipif(not AWS.is_file(), reason="shared AWS small house data not present")
def test_aws_small_house_loads() -> None:
    scene = load_scene(AWS)
    assert len(scene.rooms) == 6 and len(scene.doors) == 9 and len(scene.objects) == 64
    assert scene.room_at([[8.7, -1.0]]) == ["kitchen_1"]
    assert "refrigerator" not in scene.categories and "fridge" in scene.categories


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenes_load(path: Path) -> None:
    scene = load_scene(path)
    if path.name.startswith(("large_home", "office_floor", "two_storey")):  # large sites: categories repeat
        assert len(scene.rooms) >= 18
        return
    assert 4 <= len(scene.rooms) <= 10
    assert len({r.category for r in scene.rooms}) == len(scene.rooms)
