"""The end-to-end memory evaluation: survey (explore + perceive + ingest), scoring, ``eval memory``.

The end-to-end case generates a small home, writes a query set from its contents, runs the CLI
once (exploration, perception, the real text embedder) and checks the figures it prints; the
other tests use a stub memory or the hash embedder so they stay fast.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from simb_scenes import two_rooms

from embodied_stack.cli import main
from embodied_stack.eval.memory_eval import SURVEY_FILE, evaluate_queries, print_table
from embodied_stack.memory.results import MemoryHit, QueryKind, QueryResult
from embodied_stack.sim.queries import Query, QuerySet, save_queries
from embodied_stack.sim.scene import Scene, save_scene
from embodied_stack.types import Pose2D

pytest.importorskip("open3d")

NEEDS = {  # a need, and the categories that meet it (only those present in the scene are targets)
    "I'm thirsty": ("fridge", "sink", "kettle", "coffee maker", "water dispenser"),
    "I'd like to lie down for a bit": ("bed", "sofa"),
    "I need to use the toilet": ("toilet",),
    "I want to cook something": ("stove", "oven", "microwave", "kitchen counter"),
    "where can I wash my hands?": ("washbasin", "sink"),
}


# ---------------------------------------------------------------- scoring with a stub memory
class _StubMemory:
    """Answers every query with a fixed top-1 per text; no hit for unknown texts."""

    def __init__(self, answers: dict[str, tuple[tuple[float, float, float], int, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str | None, str]] = []

    def query(self, text: str, kind: str | None = None, k: int = 5, mode: str = "forest") -> QueryResult:
        self.calls.append((text, kind, mode))
        if text not in self.answers:
            return QueryResult("nothing", QueryKind.EXPLICIT, [], 0.0, mode, text)
        position, level, detected = self.answers[text]
        if mode == "flat":
            level = 0
        hit = MemoryHit("L0", "thing", "", level, 1.0, position, Pose2D(*position[:2], 0.0))
        return QueryResult("there", QueryKind(detected), [hit], 0.0, mode, text)


def test_evaluate_queries_scores_top1_per_mode_and_kind() -> None:
    scene = two_rooms()
    queries = QuerySet("test", [
        Query("a", "fridge?", "explicit", target_categories=("fridge",)),
        Query("b", "nap", "implicit", target_categories=("bed",)),
        Query("c", "cook where?", "global", target_rooms=("kitchen_1",)),
        Query("d", "nothing known", "explicit", target_categories=("table",)),
    ])
    memory = _StubMemory({
        "fridge?": ((0.5, 3.0, 1.2), 0, "explicit"),  # 0.51 m from the fridge: success
        "nap": ((2.0, 1.0, 0.4), 0, "explicit"),  # the table, 5.4 m from the bed: failure
        "cook where?": ((1.0, 1.0, 0.0), 2, "global"),  # inside the kitchen, as a region
    })
    report = evaluate_queries(memory, scene, queries)  # type: ignore[arg-type]
    assert len(report.outcomes) == 8
    assert report.success("forest") == 0.5 and report.success("flat") == 0.5
    assert report.success("forest", "explicit") == 0.5 and report.success("forest", "implicit") == 0.0
    assert report.region_success("forest") == 1.0 and report.region_success("flat") == 0.0
    missing = next(o for o in report.outcomes if o.query_id == "d")
    assert not missing.success and math.isinf(missing.distance_m) and missing.top_name is None
    nap = next(o for o in report.outcomes if o.query_id == "b")
    assert nap.distance_m == pytest.approx(math.hypot(5.0 - 0.8, 2.0 - 1.0))  # strict: to the bed's box edge
    assert report.kind_accuracy() == 0.75  # only "nap" (implicit) was detected as explicit
    assert all(kind is None for _, kind, _ in memory.calls)  # kinds are detected, not given
    summary = report.summary()
    assert summary["counts"] == {"explicit": 2, "implicit": 1, "global": 1, "temporal": 0}
    assert summary["success"]["forest"]["global"] == 1.0
    assert set(summary["latency_ms"]["flat"]) == {"p50", "p99", "mean"}
    json.dumps(summary)
    stream = io.StringIO()
    print_table(report, stream)
    assert all(q.text in stream.getvalue() for q in queries.queries)

    oracle = _StubMemory({})
    evaluate_queries(oracle, scene, queries, modes=("forest",), oracle_kind=True)  # type: ignore[arg-type]
    assert [k for _, k, _ in oracle.calls[1:]] == ["explicit", "implicit", "global", "explicit"]


# ---------------------------------------------------------------- survey on a tiny scene
def test_survey_reports_progress_and_fills_the_memory() -> None:
    from embodied_stack.eval.survey import explore_config_for, survey
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig

    scene = two_rooms()
    sim = EmbeddedSim(scene, SimConfig(width=160, height=120, seed=1))
    memory = SemanticMemory(MemoryConfig(embedder="hash"), spatial=sim.navmap)
    seen = []
    # a clean detector and exact sensing: this checks the survey's mechanics, not perception errors
    result = survey(sim, memory, explore_config=explore_config_for(sim, 300), perceive_every=2,
                    progress_every=5, progress=seen.append, detector="clean", noise="none")
    stats = result.stats
    assert stats.frames == stats.steps + 1 and stats.frames_perceived == math.ceil(stats.frames / 2)
    assert stats.coverage > 0.8
    assert stats.leaves == memory.stats().leaves >= 3 and stats.nodes >= 1
    assert stats.observations > 0 and stats.total_s >= stats.perceive_s + stats.ingest_s
    assert len(result.trajectory) == stats.steps + 1
    assert len(seen) >= 3 and [p.steps for p in seen] == sorted(p.steps for p in seen)
    assert seen[-1].leaves == stats.leaves and seen[-1].coverage == pytest.approx(stats.coverage)
    found = {memory.vocab.categories[int(c)] for c in memory.leaves.category[: memory.leaves.n]}
    assert {"fridge", "bed"} <= found
    # the memory's rooms are now the robot's own: two rooms joined by a door, typed from their objects
    from embodied_stack.memory.rooms import RoomMap

    assert isinstance(memory.spatial, RoomMap) and result.room_map is memory.spatial
    assert len(memory.spatial.room_ids) == 2
    kitchen, bedroom = memory.spatial.room_of(np.array([[2.0, 2.0], [6.0, 2.0]]))
    assert kitchen != bedroom and set(memory.spatial.types) == {kitchen, bedroom}  # typed (hash embedder: any type)
    assert result.perception["detector"]["preset"] == "clean" and result.perception["detector"]["false_positives"] == 0
    with pytest.raises(ValueError, match="perceive_every"):
        survey(sim, memory, perceive_every=0)


# ---------------------------------------------------------------- end to end through the CLI
def _queries_for(scene: Scene) -> QuerySet:
    """Questions written from the scene's contents: objects that occur once, rooms by what they
    hold, and needs that the scene can meet."""
    counts = Counter(o.category for o in scene.objects)
    unique = [o for o in scene.objects if counts[o.category] == 1 and o.size[2] >= 0.3]
    by_room = [[o for o in unique if o.room == r.id] for r in scene.rooms]
    spread = [o for row in itertools.zip_longest(*by_room) for o in row if o is not None]  # rooms in turn
    queries = []
    templates = ("where is the {c}?", "have you seen the {c}?", "where's the {c}?", "can you find the {c}?")
    for i, obj in enumerate(spread[:8]):
        queries.append(Query(f"e{i}", templates[i % len(templates)].format(c=obj.category), "explicit",
                             target_categories=(obj.category,)))
    for i, (text, cats) in enumerate(NEEDS.items()):
        present = tuple(c for c in cats if counts[c])
        if present:
            queries.append(Query(f"i{i}", text, "implicit", target_categories=present))
    for i, room in enumerate(scene.rooms):
        held = [o for o in unique if o.room == room.id]
        if held:
            queries.append(Query(f"g{i}", f"which room has the {held[0].category}?", "global", target_rooms=(room.id,)))
        queries.append(Query(f"r{i}", f"what's in the {room.category}?", "global", target_rooms=(room.id,)))
    return QuerySet(scene.name, queries)


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch = pytest.importorskip("torch")
    from embodied_stack.sim.generate import generate_scene

    root = tmp_path_factory.mktemp("evalmem")
    scene = generate_scene(1, kind="home", rooms=4)
    scene_path, queries_path = root / "home.scene.json", root / "home.queries.json"
    save_scene(scene, scene_path)
    query_set = _queries_for(scene)
    save_queries(query_set, queries_path)
    threads = torch.get_num_threads()
    try:
        code, out, err = _run_cli(["eval", "memory", "--scene", str(scene_path), "--queries", str(queries_path),
                                   "--width", "256", "--height", "192", "--threads", "1", "--store-out",
                                   str(root / "store"), "--out", str(root / "outcomes.json"), "--json"])
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "scene": scene_path, "queries": queries_path, "set": query_set, "code": code,
            "out": out, "err": err}


def test_eval_memory_end_to_end_on_a_generated_home(small_home: dict[str, Any]) -> None:
    assert small_home["code"] == 0, small_home["err"][-2000:]
    summary = json.loads(small_home["out"].strip().splitlines()[-1])
    query_set: QuerySet = small_home["set"]
    assert summary["queries"] == len(query_set.queries) and summary["counts"] == query_set.counts()
    assert min(v for k, v in summary["counts"].items() if k != "temporal") >= 2
    forest, flat = summary["success"]["forest"], summary["success"]["flat"]
    assert forest["explicit"] >= 0.8, small_home["err"][-3000:]
    assert forest["implicit"] >= 0.6 and forest["global"] >= 0.8, small_home["err"][-3000:]
    assert forest["overall"] >= 0.8
    assert set(flat) == set(forest) and all(v is None or 0.0 <= v <= 1.0 for v in flat.values())
    # the default path uses no scene-file knowledge, and says so; quality reports come with it
    assert summary["oracle"] == dict.fromkeys(("categories", "identities", "rooms", "map", "pose"), False)
    assert summary["detector"] == "realistic" and summary["noise"] == "realistic"
    assert 0.0 < summary["survey"]["perception"]["detector"]["miss_rate"] < 1.0
    assert summary["association"]["objects_found"] > 0 and summary["room_segmentation"]["robot_rooms"] >= 1
    assert summary["strict_radius_m"] == 1.0 and set(summary["proximity_only"]) == {"forest", "flat"}
    assert summary["global_region_success"]["flat"] == 0.0
    assert summary["global_region_success"]["forest"] >= 0.5  # the forest answers regions with regions
    assert summary["coverage"] > 0.8 and summary["leaves"] >= 15 and summary["nodes"] >= 4
    assert summary["latency_ms"]["forest"]["p50"] > 0 and summary["memory_reused"] is False
    assert summary["survey"]["frames_perceived"] == summary["survey"]["frames"] > 0
    for q in query_set.queries:  # the per-query table on stderr
        assert q.text in small_home["err"]
    outcomes = json.loads((small_home["root"] / "outcomes.json").read_text())["outcomes"]
    assert len(outcomes) == 2 * len(query_set.queries)
    assert np.mean([o["success"] for o in outcomes if o["mode"] == "forest"]) == pytest.approx(forest["overall"])
    assert (small_home["root"] / "store" / SURVEY_FILE).is_file()


def test_eval_memory_reuses_a_saved_memory(small_home: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert small_home["code"] == 0, small_home["err"][-2000:]
    first = json.loads(small_home["out"].strip().splitlines()[-1])
    monkeypatch.chdir(small_home["root"].parent)  # a relative --memory path
    code, out, err = _run_cli(["eval", "memory", "--scene", str(small_home["scene"]), "--queries",
                               str(small_home["queries"]), "--memory", f"{small_home['root'].name}/store",
                               "--no-flat", "--json"])
    assert code == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["memory_reused"] is True and "flat" not in summary["success"]
    assert summary["leaves"] == first["leaves"] and summary["coverage"] == first["coverage"]
    assert summary["success"]["forest"] == first["success"]["forest"]
    save_scene(Scene.from_dict({**two_rooms().to_dict(), "name": "elsewhere"}), small_home["root"] / "other.json")
    save_queries(QuerySet("elsewhere", [Query("a", "fridge?", "explicit", target_categories=("fridge",))]),
                 small_home["root"] / "other.queries.json")
    code, _, err = _run_cli(["eval", "memory", "--scene", str(small_home["root"] / "other.json"), "--queries",
                             str(small_home["root"] / "other.queries.json"), "--memory",
                             str(small_home["root"] / "store")])
    assert code == 1 and "built by surveying scene" in err


def test_eval_memory_rejects_bad_inputs(tmp_path: Path) -> None:
    scene_path, queries_path = tmp_path / "s.scene.json", tmp_path / "q.queries.json"
    save_scene(two_rooms(), scene_path)
    save_queries(QuerySet("other_scene", [Query("a", "fridge?", "explicit", target_categories=("fridge",))]),
                 queries_path)
    code, _, err = _run_cli(["eval", "memory", "--scene", str(scene_path), "--queries", str(queries_path)])
    assert code == 1 and "field 'scene'" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    save_queries(QuerySet("test", [Query("a", "fridge?", "explicit", target_categories=("fridge",))]), queries_path)
    code, _, err = _run_cli(["eval", "memory", "--scene", str(scene_path), "--queries", str(queries_path),
                             "--store-out", str(tmp_path / "full")])
    assert code == 1 and "not empty" in err
    code, _, err = _run_cli(["eval", "memory", "--scene", str(scene_path), "--queries", str(queries_path),
                             "--max-steps", "0"])
    assert code == 1 and "--max-steps" in err
    code, _, err = _run_cli(["eval", "memory", "--scene", str(scene_path), "--queries", str(queries_path),
                             "--memory", str(tmp_path / "m"), "--store-out", str(tmp_path / "n")])
    assert code == 1 and "cannot be combined" in err
