"""Query sets (``embodied-stack.queries/1``): strict loading, round trips, the scoring rule, and
the shipped query sets against their scenes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from simb_scenes import two_rooms

from embodied_stack.errors import FormatError
from embodied_stack.sim.queries import (
    Query,
    QueryFormatError,
    QuerySet,
    load_queries,
    query_success,
    save_queries,
    target_distance_m,
)
from embodied_stack.sim.scene import load_scene

REPO = Path(__file__).resolve().parents[2]
SHIPPED_QUERIES = sorted((REPO / "sim" / "queries").glob("*.queries.json"))
SCENES = REPO / "sim" / "scenes"
AWS_DIR = REPO / ".." / "shared" / "data" / "scene_aws_small_house"

VALID: dict[str, Any] = {
    "format": "embodied-stack.queries/1",
    "scene": "test",
    "queries": [
        {"id": "q01", "text": "where is the fridge?", "kind": "explicit", "target_categories": ["Fridge"]},
        {"id": "q02", "text": "I'd like a nap", "kind": "implicit", "target_objects": ["bed_1"],
         "success_radius_m": 1.0},
        {"id": "q03", "text": "which room would I cook in?", "kind": "global", "target_rooms": ["kitchen_1"]},
    ],
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "q.queries.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_normalises_and_round_trips(tmp_path: Path) -> None:
    qs = load_queries(_write(tmp_path, VALID), two_rooms())
    assert [q.kind for q in qs.queries] == ["explicit", "implicit", "global"]
    assert qs.queries[0].target_categories == ("fridge",)
    assert qs.queries[1].success_radius_m == 1.0 and qs.queries[0].success_radius_m is None
    assert qs.success_radius_m == 1.5
    assert qs.counts() == {"explicit": 1, "implicit": 1, "global": 1, "temporal": 0}
    out = tmp_path / "out.queries.json"
    save_queries(qs, out)
    again = load_queries(out, two_rooms())
    assert again == qs
    assert "success_radius_m" not in json.loads(out.read_text())  # the default stays implicit


def _broken(change) -> dict[str, Any]:  # noqa: ANN001 - a small mutator
    data = copy.deepcopy(VALID)
    change(data)
    return data


@pytest.mark.parametrize(("change", "field", "expected"), [
    (lambda d: d.update(format="embodied-stack.queries/2"), "format", "embodied-stack.queries/1"),
    (lambda d: d.pop("scene"), "scene", "required"),
    (lambda d: d["queries"][0].pop("text"), "queries[0].text", "required"),
    (lambda d: d["queries"][1].update(kind="weird"), "queries[1].kind", "explicit, implicit, global"),
    (lambda d: d["queries"][2].pop("target_rooms"), "queries[2]", "at least one of"),
    (lambda d: d["queries"][0].update(target_categories="fridge"), "queries[0].target_categories", "list"),
    (lambda d: d["queries"][0].update(target_categories=["piano"]), "queries[0].target_categories[0]",
     "object category of scene 'test' (bed, fridge"),
    (lambda d: d["queries"][1].update(target_objects=["bed_9"]), "queries[1].target_objects[0]", "object id"),
    (lambda d: d["queries"][2].update(target_rooms=["garage_1"]), "queries[2].target_rooms[0]", "room id of scene 'test' (bedroom_1, kitchen_1)"),
    (lambda d: d["queries"][2].update(id="q01"), "queries[2].id", "unique"),
    (lambda d: d["queries"][1].update(success_radius_m=-1), "queries[1].success_radius_m", "> 0"),
    (lambda d: d.update(success_radius_m="far"), "success_radius_m", "finite number"),
    (lambda d: d.update(scene="apartment_03"), "scene", "'test'"),
    (lambda d: d.update(queries={}), "queries", "a list"),
])
def test_load_rejects_malformed_files_naming_file_and_field(tmp_path: Path, change, field: str,  # noqa: ANN001
                                                            expected: str) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(QueryFormatError) as info:
        load_queries(path, two_rooms())
    assert isinstance(info.value, FormatError)
    assert info.value.field == field
    assert str(path) in str(info.value) and expected in str(info.value)


def test_load_without_scene_skips_target_checks_and_missing_file_is_a_format_error(tmp_path: Path) -> None:
    data = _broken(lambda d: d["queries"][0].update(target_categories=["piano"]))
    assert load_queries(_write(tmp_path, data)).queries[0].target_categories == ("piano",)
    with pytest.raises(QueryFormatError, match="file not found"):
        load_queries(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(QueryFormatError, match="not valid JSON"):
        load_queries(tmp_path / "bad.json")


def test_query_and_set_validate_in_code() -> None:
    with pytest.raises(ValueError, match="kind"):
        Query("q", "where?", "vague", target_categories=("fridge",))
    with pytest.raises(ValueError, match="at least one"):
        Query("q", "where?", "explicit")
    with pytest.raises(ValueError, match="success_radius_m"):
        QuerySet("test", [], success_radius_m=0.0)


def test_success_uses_horizontal_distance_to_object_centres() -> None:
    scene = two_rooms()  # fridge_1 centre (0.4, 3.5, 0.9); wall shelf at (7.85, 1.0, 1.7)
    fridge = Query("q", "where is the fridge?", "explicit", target_categories=("fridge",))
    assert query_success(scene, fridge, (0.4 + 1.4, 3.5, 0.0))  # 1.4 m away on the floor plane, z ignored
    assert not query_success(scene, fridge, (0.4 + 1.6, 3.5, 0.9))
    assert query_success(scene, fridge, (0.4 + 1.6, 3.5, 0.9), success_radius_m=2.0)
    shelf = Query("q", "the shelf", "explicit", target_objects=("shelf_1",), success_radius_m=0.5)
    assert query_success(scene, shelf, (7.6, 1.2, 0.0))  # radius from the query
    assert not query_success(scene, shelf, (7.0, 1.0, 1.7))
    assert target_distance_m(scene, shelf, (7.0, 1.0, 1.7)) == pytest.approx(0.85)
    either = Query("q", "fridge or bed", "implicit", target_categories=("fridge", "bed"))
    assert query_success(scene, either, (7.0, 2.0, 0.3))  # near the bed counts


def test_success_inside_a_target_room_polygon() -> None:
    scene = two_rooms()
    kitchen = Query("q", "where would I cook?", "global", target_rooms=("kitchen_1",))
    assert query_success(scene, kitchen, (3.9, 0.1, 1.0))
    assert target_distance_m(scene, kitchen, (3.9, 0.1, 1.0)) == 0.0
    assert not query_success(scene, kitchen, (4.1, 0.1, 1.0))
    assert target_distance_m(scene, kitchen, (4.1, 0.1, 1.0)) == float("inf")
    both = Query("q", "the bed or the kitchen", "global", target_rooms=("kitchen_1",), target_objects=("bed_1",))
    assert query_success(scene, both, (7.0, 3.0, 0.0)) and query_success(scene, both, (1.0, 1.0, 0.0))
    assert not query_success(scene, both, (5.0, 0.5, 0.0))
    assert not query_success(scene, kitchen, (float("nan"), 1.0, 0.0))


def test_query_set_success_applies_the_file_radius(tmp_path: Path) -> None:
    qs = load_queries(_write(tmp_path, {**VALID, "success_radius_m": 0.5}), two_rooms())
    fridge, bed = qs.queries[0], qs.queries[1]
    assert qs.radius_of(fridge) == 0.5 and qs.radius_of(bed) == 1.0
    assert not qs.success(two_rooms(), fridge, (1.4, 3.5, 0.0))  # 1.0 m > the file's 0.5 m
    assert qs.success(two_rooms(), bed, (7.0, 2.1, 0.0))  # 0.9 m <= the query's 1.0 m


def test_real_navqa_query_set_loads_against_the_aws_house() -> None:
    scene_path, queries_path = AWS_DIR / "aws_small_house.scene.json", AWS_DIR / "aws_small_house.queries.json"
    if not queries_path.is_file():
        pytest.skip(f"shared test data not found: {queries_path}")
    scene = load_scene(scene_path)
    qs = load_queries(queries_path, scene)
    assert len(qs.queries) == 20 and qs.counts()["explicit"] == 20
    fridge = next(q for q in qs.queries if q.id == "S01")
    assert query_success(scene, fridge, (8.70, -1.03, 0.0))  # the source's ground truth


def _scene_for(queries_path: Path) -> Path:
    name = json.loads(queries_path.read_text(encoding="utf-8"))["scene"]
    for candidate in (SCENES / f"{name}.scene.json", AWS_DIR / f"{name}.scene.json"):
        if candidate.is_file():
            return candidate
    if not AWS_DIR.is_dir():
        pytest.skip(f"scene {name!r} not shipped and the shared test data is absent")
    pytest.fail(f"{queries_path}: no scene file named {name!r} in {SCENES} or the shared data")


@pytest.mark.parametrize("path", SHIPPED_QUERIES, ids=[p.name for p in SHIPPED_QUERIES])
def test_shipped_query_sets_are_grounded_and_mixed(path: Path) -> None:
    scene = load_scene(_scene_for(path))
    qs = load_queries(path, scene)  # every target exists in the scene
    counts = qs.counts()
    if qs.passes:  # a temporal set: two survey passes, time questions only
        assert counts["temporal"] == len(qs.queries) >= 8, counts
        return
    assert len(qs.queries) >= 40
    assert min(v for k, v in counts.items() if k != "temporal") >= 8, counts
    assert qs.split in ("dev", "test")
    texts = [q.text.strip().lower() for q in qs.queries]
    assert len(set(texts)) == len(texts)
    assert sum(t.startswith(("find the", "where is the")) for t in texts) <= len(texts) // 4
    for q in qs.queries:  # global queries are about regions or the whole place
        if q.kind == "global":
            assert q.target_rooms, q.id
