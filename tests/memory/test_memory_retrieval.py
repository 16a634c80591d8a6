"""Retrieval on a small hand-built apartment: each query kind, kind detection, the flat
baseline, target poses and bad queries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from memory_helpers import OBJECTS, T0, apartment_observations, room_of_point, rooms

from embodied_stack.memory.errors import QueryError
from embodied_stack.memory.results import QueryKind
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.spatial import RoomPolygons
from embodied_stack.memory.types import Observation
from embodied_stack.types import Pose2D


@pytest.fixture(scope="module")
def memory(minilm) -> SemanticMemory:
    memory = SemanticMemory(embedder=minilm, spatial=RoomPolygons(rooms()))
    memory.ingest(apartment_observations())
    return memory


def _near(position, *names: str, radius: float = 1.5) -> bool:
    return any(math.dist(position[:2], OBJECTS[n][3][:2]) <= radius for n in names)


@pytest.mark.parametrize(("text", "targets"), [
    ("where is the refrigerator?", ["fridge"]),
    ("find the TV", ["tv"]),
    ("where is the blue mug?", ["blue_mug"]),
    ("where is the bookshelf?", ["bookshelf"]),
])
def test_explicit(memory: SemanticMemory, text: str, targets: list[str]) -> None:
    result = memory.query(text)
    assert result.kind == QueryKind.EXPLICIT
    assert result.hits[0].level == 0 and _near(result.hits[0].position, *targets, radius=0.5)


@pytest.mark.parametrize(("text", "targets"), [
    ("I want to take a nap", ["bed", "sofa"]),
    ("I need to wash my hands", ["sink", "washbasin"]),
    ("I'm hungry", ["fridge", "stove", "table"]),
    ("somewhere to hang my clothes", ["wardrobe"]),
    ("I feel like reading a novel", ["bookshelf"]),
])
def test_implicit(memory: SemanticMemory, text: str, targets: list[str]) -> None:
    result = memory.query(text)
    assert result.kind == QueryKind.IMPLICIT
    assert _near(result.hits[0].position, *targets)


@pytest.mark.parametrize(("text", "room"), [
    ("which room would I cook in?", "kitchen_1"),
    ("what is in the living room?", "living_room_1"),
    ("describe the bathroom", "bathroom_1"),
    ("which room is for sleeping?", "bedroom_1"),
])
def test_global(memory: SemanticMemory, text: str, room: str) -> None:
    result = memory.query(text)
    assert result.kind == QueryKind.GLOBAL
    top = result.hits[0]
    assert top.level == 2 and room_of_point(*top.position[:2]) == room
    assert room in top.name and top.text.startswith(top.name[:1].upper())


def test_global_counts_rooms(memory: SemanticMemory) -> None:
    result = memory.query("how many rooms are there?")
    assert result.kind == QueryKind.GLOBAL and result.answer.startswith("I know of 4 rooms")


def test_temporal(memory: SemanticMemory) -> None:
    result = memory.query("when did you last see the red mug?")
    assert result.kind == QueryKind.TEMPORAL
    top = result.hits[0]
    assert _near(top.position, "red_mug", radius=0.3) and top.last_seen == T0 + 7200.0
    assert "09:00" in result.answer  # 07:00 UTC + 2 h
    morning = memory.query("what was in the bathroom this morning?")
    assert morning.kind == QueryKind.TEMPORAL
    assert {h.name for h in morning.hits} == {"toilet", "shower", "bathroom sink"}
    assert "bathroom" in morning.answer and "toilet" in morning.answer
    none = memory.query("what did you see in the kitchen yesterday?")
    assert none.hits == [] and "did not see" in none.answer


def test_hits_carry_chains_and_reachable_poses(memory: SemanticMemory) -> None:
    hit = memory.query("where is the bed?").hits[0]
    names = [name for _, name in hit.ancestors]
    assert len(names) == 4 and names[1] == "bedroom (bedroom_1)" and names[-1] == "the whole site"
    bed = np.asarray(hit.position[:2])
    stand = np.array([hit.target_pose.x, hit.target_pose.y])
    # a standoff toward where it was seen from, facing the bed
    assert 0.5 < np.linalg.norm(stand - bed) < 1.5
    facing = math.atan2(*(bed - stand)[::-1])
    assert abs(math.remainder(hit.target_pose.yaw - facing, 2 * math.pi)) < 1e-6
    assert hit.first_seen is not None and hit.first_seen <= hit.last_seen


def test_flat_baseline_returns_leaves_only(memory: SemanticMemory) -> None:
    result = memory.query("which room would I cook in?", mode="flat")
    assert result.mode == "flat" and all(h.level == 0 for h in result.hits)
    assert len(memory.query("I want to take a nap", mode="flat", k=3).hits) == 3


def test_robot_pose_breaks_ties(hash_embedder) -> None:
    memory = SemanticMemory(embedder=hash_embedder)
    memory.ingest([Observation("mug", (1.0, 1.0, 0.8), caption="a mug"),
                   Observation("mug", (7.0, 1.0, 0.8), caption="a mug")])
    assert memory.forest.leaf_parent[0] != memory.forest.leaf_parent[1]  # 6 m apart: two zones
    assert memory.query("where is the mug?", robot_pose=Pose2D(0.0, 1.0, 0.0)).hits[0].position[0] == 1.0
    assert memory.query("where is the mug?", robot_pose=Pose2D(8.0, 1.0, 0.0)).hits[0].position[0] == 7.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"text": ""}, "non-empty"), ({"text": "   "}, "non-empty"), ({"text": 42}, "non-empty"),
    ({"text": "x" * 1001}, "1001 characters"), ({"text": "mug", "k": 0}, "k must"),
    ({"text": "mug", "k": 5000}, "k must"), ({"text": "mug", "kind": "sideways"}, "unknown query kind"),
    ({"text": "mug", "mode": "tree"}, "mode"),
])
def test_bad_queries(memory: SemanticMemory, kwargs: dict, match: str) -> None:
    with pytest.raises(QueryError, match=match):
        memory.query(**kwargs)


def test_given_kind_is_used(memory: SemanticMemory) -> None:
    assert memory.query("the kitchen", kind="global").kind == QueryKind.GLOBAL
    assert memory.query("the kitchen", kind=QueryKind.EXPLICIT).kind == QueryKind.EXPLICIT


def test_empty_memory_answers(minilm) -> None:
    result = SemanticMemory(embedder=minilm).query("where is the fridge?")
    assert result.hits == [] and "not seen" in result.answer


@pytest.mark.parametrize("text", ["where did I leave my laundry basket?", "have you seen the laundry basket?",
                                  "where is the hamper?"])
def test_never_seen_thing_is_said_so(memory: SemanticMemory, text: str) -> None:
    result = memory.query(text)
    assert result.kind == QueryKind.EXPLICIT
    assert result.answer.startswith("I have not seen a laundry basket")
    assert "bathroom" in result.answer and f"the {result.hits[0].name} at" in result.answer


def test_seen_thing_is_not_said_unseen(memory: SemanticMemory) -> None:
    result = memory.query("where did I leave my mug?")
    assert result.kind == QueryKind.EXPLICIT
    assert result.answer.startswith("The mug is at") and "not seen" not in result.answer


def test_room_activity_prior_matches_needs_to_rooms(memory: SemanticMemory) -> None:
    nodes = memory.forest.nodes
    rooms = nodes.ids(2)
    names = [nodes.info[r].name for r in rooms.tolist()]
    q = memory.embedder.embed(["somewhere to get some sleep"])[0]
    prior = memory.retriever._room_activity(q, rooms)
    assert "bedroom" in names[int(np.argmax(prior))]
    q = memory.embedder.embed(["I want to cook pasta"])[0]
    assert "kitchen" in names[int(np.argmax(memory.retriever._room_activity(q, rooms)))]
