"""Large sites, storeys, scene changes between passes and the query-format additions."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_stack.sim.errors import EpisodeFormatError
from embodied_stack.sim.queries import Query, QuerySet, load_queries, target_distance_m
from embodied_stack.sim.scene import apply_changes, load_scene

ROOT = Path(__file__).resolve().parents[2]
SCENES = ROOT / "sim" / "scenes"
QUERIES = ROOT / "sim" / "queries"


@pytest.mark.parametrize(("name", "lo", "hi"), [("large_home_0021", 150, 300), ("office_floor_0022", 300, 600)])
def test_shipped_large_sites_have_the_promised_size(name: str, lo: int, hi: int) -> None:
    scene = load_scene(SCENES / f"{name}.scene.json")
    assert lo <= len(scene.objects) <= hi
    assert len(scene.rooms) >= 20


def test_two_storey_house_splits_into_single_floor_storeys_joined_by_stairs() -> None:
    scene = load_scene(SCENES / "two_storey_0023.scene.json")
    assert scene.storey_floors() == [0.0, 3.0]
    low, high = scene.storey(0), scene.storey(1)
    assert len(low.rooms) + len(high.rooms) == len(scene.rooms)
    assert {o.id for o in low.objects}.isdisjoint({o.id for o in high.objects})
    stairs = [o for o in scene.objects if o.category == "staircase"]
    assert len(stairs) == 2 and abs(stairs[0].center[0] - stairs[1].center[0]) + abs(stairs[0].center[1] - stairs[1].center[1]) < 0.3
    single = load_scene(SCENES / "home_0001.scene.json")
    assert single.storey(0) is single


def test_scoring_on_two_storeys_counts_only_the_answers_floor() -> None:
    scene = load_scene(SCENES / "two_storey_0023.scene.json")
    bed = next(o for o in scene.objects if o.category == "bed")
    q = Query("q", "where is the bed?", "explicit", target_categories=("bed",))
    assert target_distance_m(scene, q, (bed.center[0], bed.center[1], 3.5)) == pytest.approx(0.0)
    assert target_distance_m(scene, q, (bed.center[0], bed.center[1], 0.5)) == float("inf")


def test_apply_changes_moves_removes_adds_and_rejects_unknown_ids() -> None:
    scene = load_scene(SCENES / "home_0001.scene.json")
    first, second = scene.objects[0], scene.objects[1]
    after = apply_changes(scene, [
        {"action": "move", "object": first.id, "center": [1.0, 1.0, 0.5]},
        {"action": "remove", "object": second.id},
        {"action": "add", "object": {"id": "mug_9", "category": "mug", "room": first.room,
                                     "center": [1.0, 2.0, 0.9], "size": [0.1, 0.1, 0.1]}},
    ])
    assert after.object_by_id(first.id).center == (1.0, 1.0, 0.5)
    assert second.id not in {o.id for o in after.objects} and after.object_by_id("mug_9").category == "mug"
    assert scene.object_by_id(first.id).center == first.center  # the original is untouched
    with pytest.raises(KeyError):
        apply_changes(scene, [{"action": "remove", "object": "no_such"}])


def test_every_query_set_has_a_split_and_temporal_sets_load_with_their_passes() -> None:
    for path in QUERIES.glob("*.queries.json"):
        name = path.name.split(".")[0]
        scene_path = SCENES / f"{name}.scene.json"
        qs = load_queries(path, load_scene(scene_path) if scene_path.is_file() else None)
        assert qs.split in ("dev", "test"), path
    temporal = load_queries(QUERIES / "home_0002.temporal.queries.json", load_scene(SCENES / "home_0002.scene.json"))
    assert len(temporal.passes) == 2 and temporal.counts()["temporal"] == 10


def test_temporal_queries_need_passes_and_splits_are_checked() -> None:
    base = {"format": "embodied-stack.queries/1", "scene": "s",
            "queries": [{"id": "t", "text": "when did you last see the mug?", "kind": "temporal",
                         "target_categories": ["mug"]}]}
    with pytest.raises(EpisodeFormatError, match="temporal"):
        QuerySet.from_dict(base)
    with pytest.raises(EpisodeFormatError, match="split"):
        QuerySet.from_dict({**base, "split": "train", "queries": []})
    ok = QuerySet.from_dict({**base, "passes": [{"start_s": 0}, {"start_s": 10}]})
    assert ok.queries[0].kind == "temporal"
