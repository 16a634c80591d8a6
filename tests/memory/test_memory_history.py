"""Objects that move: negative evidence retires a leaf, temporal tools answer from the history,
and a knowledge base without room types still answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embodied_stack.memory.absence import AbsenceTracker, View
from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.knowledge import Knowledge, default_knowledge
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.types import Observation
from embodied_stack.sim.render import camera_pose_matrix
from embodied_stack.types import CameraIntrinsics, Pose2D

K = CameraIntrinsics(80, 60, 69.0, 69.0, 40.0, 30.0)


def _view(t: float, pose: Pose2D, depth_m: float, seen: list[tuple[float, float, float]] = ()) -> View:
    return View(t, camera_pose_matrix(pose, 0.88), K, np.full((60, 80), depth_m, dtype=np.float32),
                np.array(seen, dtype=np.float64).reshape(-1, 3))


def _obs(category: str, xyz: tuple[float, float, float], t: float, room: str = "living_room_1") -> Observation:
    return Observation(category=category, position=xyz, extent=(0.4, 0.3, 0.3), confidence=0.9, timestamp=t,
                       caption=f"a {category}", room=room)


def test_three_clear_looks_retire_a_leaf_and_a_sighting_revives_it() -> None:
    tracker = AbsenceTracker()
    position = np.array([[2.0, 0.0, 0.88]])
    extent = np.array([[0.4, 0.4, 0.4]])
    look = Pose2D(0.0, 0.0, 0.0)  # facing +x, the leaf 2 m straight ahead
    last = np.array([1.0])
    tracker.look([_view(10.0, look, 4.0), _view(11.0, look, 4.0)], position, extent, last)
    assert not tracker.retired(1)[0]
    gone = tracker.look([_view(12.0, look, 4.0)], position, extent, last)
    assert gone.tolist() == [0] and tracker.retired_at[0] == 12.0
    tracker.look([], position, extent, np.array([20.0]))  # seen again
    assert not tracker.retired(1)[0]


def test_no_miss_when_hidden_behind_something_looking_away_or_detected_there() -> None:
    tracker = AbsenceTracker()
    position = np.array([[2.0, 0.0, 0.88]])
    extent = np.array([[0.4, 0.4, 0.4]])
    last = np.array([1.0])
    ahead, away = Pose2D(0.0, 0.0, 0.0), Pose2D(0.0, 0.0, math.pi)
    views = [_view(10.0 + i, ahead, 0.8) for i in range(4)]  # a wall 0.8 m away hides it
    views += [_view(20.0 + i, away, 4.0) for i in range(4)]  # looking the other way
    views += [_view(30.0 + i, ahead, 4.0, [(2.05, 0.0, 0.9)]) for i in range(4)]  # detected (track not re-emitted)
    tracker.look(views, position, extent, last)
    assert tracker.misses[0] == 0 and not tracker.retired(1)[0]


def test_moved_object_last_seen_at_its_new_place_and_old_leaf_ranked_down() -> None:
    memory = SemanticMemory(MemoryConfig(embedder="hash"))
    memory.ingest([_obs("laptop", (2.0, 0.0, 0.88), 100.0), _obs("sofa", (0.0, 3.0, 0.4), 100.0)])
    look = Pose2D(0.0, 0.0, 0.0)
    views = [_view(5000.0 + i, look, 4.0) for i in range(3)]
    memory.ingest([_obs("laptop", (0.0, 6.0, 0.88), 5000.0, room="kitchen_1")], views=views)
    assert memory.absence.retired(memory.leaves.n).sum() == 1
    result = memory.query("where did I last see the laptop?")
    assert result.kind.value == "temporal"
    assert result.hits[0].position[1] == pytest.approx(6.0)
    explicit = memory.query("where is the laptop?", kind="explicit")
    assert explicit.hits[0].position[1] == pytest.approx(6.0)
    moved = memory.query("has anything moved in the living room?")
    assert "laptop" in moved.answer


def test_what_was_on_the_table_lists_what_stood_on_it() -> None:
    memory = SemanticMemory(MemoryConfig(embedder="hash"))
    memory.ingest([Observation(category="dining table", position=(3.0, 3.0, 0.4), extent=(1.6, 0.9, 0.75),
                               confidence=0.9, timestamp=8 * 3600.0, caption="a dining table", room="dining_room_1"),
                   _obs("fruit bowl", (3.3, 3.1, 0.85), 8 * 3600.0, room="dining_room_1"),
                   _obs("sofa", (8.0, 3.0, 0.4), 8 * 3600.0 + 5)])
    result = memory.query("what was on the dining table this morning?", now=15 * 3600.0)
    assert [h.name for h in result.hits] == ["fruit bowl"]


def test_knowledge_without_room_types_does_not_break_queries() -> None:
    base = default_knowledge()
    memory = SemanticMemory(MemoryConfig(embedder="hash"), knowledge=Knowledge(base.categories, {}, base.modifiers))
    memory.ingest([_obs("fridge", (1.0, 2.0, 0.8), 1.0, room="kitchen_1")])
    for text in ("where is the fridge?", "I'm hungry", "which room is the kitchen?", "when did you last see the fridge?"):
        assert memory.query(text).hits


def test_storeys_never_share_a_room_or_zone() -> None:
    memory = SemanticMemory(MemoryConfig(embedder="hash"))
    memory.ingest([_obs("bed", (1.0, 1.0, 0.3), 1.0, room="room_a"), _obs("sofa", (1.2, 1.0, 3.4), 2.0, room="room_a")])
    zones = memory.forest.leaf_parent[:2]
    assert zones[0] != zones[1]
    rooms = memory.forest.nodes.parent[zones]
    assert rooms[0] != rooms[1]


def test_room_holding_both_named_things_wins_a_global_question_flat_cannot_answer() -> None:
    memory = SemanticMemory(MemoryConfig(embedder="hash"))
    obs = [_obs("desk", (1.0, 1.0, 0.4), 1.0, room="study_1"), _obs("lamp", (1.5, 1.2, 0.4), 1.0, room="study_1"),
           _obs("wardrobe", (11.0, 1.0, 1.0), 2.0, room="bedroom_1"), _obs("bed", (12.0, 1.5, 0.3), 2.0, room="bedroom_1"),
           _obs("desk", (21.0, 1.0, 0.4), 3.0, room="bedroom_2"), _obs("wardrobe", (22.0, 1.5, 1.0), 3.0, room="bedroom_2")]
    memory.ingest(obs)
    result = memory.query("which room has both a desk and a wardrobe?")
    assert result.kind.value == "global" and result.hits[0].level >= 1
    assert 20.0 <= result.hits[0].position[0] <= 23.0
    most = memory.query("which room has the most desks?")
    assert most.hits[0].level >= 1


def test_a_need_without_region_words_is_not_taken_for_a_region_question() -> None:
    memory = SemanticMemory(MemoryConfig(embedder="hash"))
    memory.ingest([_obs("sofa", (1.0, 1.0, 0.4), 1.0)])
    assert memory.retriever.detect_kind("where does the newborn snooze?", memory.embedder.embed(["x"])[0]).value == "implicit"


class _Plan:
    """A one-room floor plan: everything with x < 5 is ``name``."""

    def __init__(self, name: str, category: str) -> None:
        self.name, self.category = name, category

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        return [self.name if x < 5 else None for x in np.atleast_2d(xy)[:, 0]]

    def room_category(self, room_id: str) -> str:
        return self.category if room_id == self.name else ""

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        return np.atleast_2d(xy).astype(float)


def test_storey_context_rooms_things_by_height() -> None:
    from embodied_stack.memory.storeys import StoreySpatial

    spatial = StoreySpatial([_Plan("room_1", "living room"), _Plan("room_1", "bedroom")], [0.0, 3.0])
    memory = SemanticMemory(MemoryConfig(embedder="hash"), spatial=spatial)
    memory.ingest([_obs("sofa", (1.0, 1.0, 0.4), 1.0), _obs("bed", (1.0, 1.0, 3.4), 2.0)])
    rooms = [memory.vocab.rooms[int(r)] for r in memory.leaves.room[:2]]
    assert rooms == ["0/room_1", "1/room_1"]
    assert [memory.vocab.room_types[int(r)] for r in memory.leaves.room[:2]] == ["living room", "bedroom"]
