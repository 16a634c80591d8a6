"""Search episode sets (embodied-stack.search/1): format, moved-object episodes, the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.eval.search_eval import EpisodeResult, search_config, summarise
from embodied_stack.eval.search_set import (
    SceneEpisodes,
    SearchEpisode,
    SearchSet,
    load_search_set,
    parse_search_set,
    pick_moves,
    save_search_set,
)
from embodied_stack.memory.knowledge import default_knowledge
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.errors import EpisodeFormatError
from embodied_stack.sim.scene import Scene, SceneObject

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simb_scenes import two_rooms  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_round_trip_and_errors(tmp_path: Path) -> None:
    s = SearchSet("dev", [SceneEpisodes("home_0001", [
        SearchEpisode("home_0001/u1", "unsurveyed", "toaster"),
        SearchEpisode("home_0001/m1", "moved", "backpack", "obj_3", (1.0, 2.0, 0.25))])], survey_steps=90)
    path = tmp_path / "x.search.json"
    save_search_set(s, path)
    back = load_search_set(path)
    assert back.to_dict() == s.to_dict() and back.survey_steps == 90
    data = s.to_dict()
    for mutate, field in [
        (lambda d: d.update(format="nope"), "format"),
        (lambda d: d["scenes"][0]["episodes"][0].update(kind="teleported"), "kind"),
        (lambda d: d["scenes"][0]["episodes"][1].update(to=[1.0, 2.0]), "to"),
        (lambda d: d["scenes"][0]["episodes"][1].pop("object"), "object"),
        (lambda d: d["scenes"][0]["episodes"][1].update(id="home_0001/u1"), "id"),
        (lambda d: d.update(search_steps=0), "search_steps"),
        (lambda d: d.update(scenes=[]), "scenes"),
    ]:
        bad = json.loads(json.dumps(data))
        mutate(bad)
        with pytest.raises(EpisodeFormatError, match=field):
            parse_search_set(bad)


@pytest.mark.parametrize("name", ["dev", "test"])
def test_shipped_sets_load_and_split_by_scene(name: str) -> None:
    path = REPO / "sim" / "search" / f"{name}.search.json"
    s = load_search_set(path)
    assert s.split == name and all(e.episodes for e in s.scenes)
    kinds = {ep.kind for e in s.scenes for ep in e.episodes}
    assert kinds == {"unsurveyed", "moved"}
    other = load_search_set(REPO / "sim" / "search" / f"{'test' if name == 'dev' else 'dev'}.search.json")
    assert not {e.scene for e in s.scenes} & {e.scene for e in other.scenes}


def test_moved_episode_moves_the_only_instance_to_another_room() -> None:
    base = two_rooms()
    basket = SceneObject("basket_1", "laundry basket", "bedroom_1", (7.5, 1.0, 0.3), (0.4, 0.4, 0.6))
    scene = Scene(base.name, base.rooms, base.doors, [*base.objects, basket])
    sim = EmbeddedSim(scene, SimConfig(width=32, height=24))
    knowledge = default_knowledge()
    seen = {knowledge.canonical(o.category) or o.category for o in scene.objects}
    moves = pick_moves(scene, sim.navmap, seen, knowledge, np.array([7.0, 1.0]), n=2, seed=0, min_geodesic_m=3.0)
    assert moves and all(m.object == "basket_1" for m in moves), "only the basket is carryable (no installation)"
    for ep in moves:
        obj = scene.object_by_id(ep.object)
        assert ep.kind == "moved" and ep.target == obj.category
        moved = ep.apply(scene)
        new = moved.object_by_id(ep.object)
        assert new.center == ep.to and new.room == obj.room  # ground truth of the box; the room field is a label
        dest = next(r for r in scene.rooms if r.contains(np.array(ep.to[:2]))[0])
        assert dest.id != obj.room
        assert sim.navmap.geodesic_distance(np.array([7.0, 1.0]), np.array(ep.to[:2])) >= 3.0
        assert scene.object_by_id(ep.object).center == obj.center  # the original scene is untouched


def test_summary_and_variants() -> None:
    def r(mode: str, ok: bool, spl: float, kind: str = "unsurveyed") -> EpisodeResult:
        return EpisodeResult("s", "t", mode, ok, spl, 100, 5.0, "SUCCEEDED" if ok else "FAILED", True, [], kind)

    rs = [r("memory", True, 0.8), r("memory", False, 0.0, "moved"), r("frontier", True, 0.4),
          r("frontier", False, 0.0, "moved")]
    out = summarise(rs, ("memory", "frontier"))
    assert out["memory"]["success"] == 0.5 and out["spl_ratio_vs_frontier"]["memory"] == pytest.approx(2.0)
    assert out["memory"]["by_kind"]["moved"]["success"] == 0.0 and out["memory"]["by_kind"]["unsurveyed"]["n"] == 1
    assert not search_config("memory-no-rooms", 10).ranker.use_rooms
    assert not search_config("memory-no-objects", 10).ranker.use_objects
    assert search_config("frontier", 10).mode == "frontier"
    with pytest.raises(ValueError, match="variant"):
        search_config("oracle", 10)
