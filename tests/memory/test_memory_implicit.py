"""Implicit queries (needs) in forest mode: what serves the need wins over what the need names,
and over furniture that merely stands in the room where people do it."""

from __future__ import annotations

import math

import pytest
from memory_helpers import OBJECTS, T0, apartment_observations, rooms

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.errors import MemoryConfigError
from embodied_stack.memory.results import QueryKind
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.spatial import RoomPolygons
from embodied_stack.memory.types import Observation

WASHER = (3.2, 4.6, 0.45)  # in the bathroom, away from the bed (bedroom) by > 4 m


@pytest.fixture(scope="module")
def memory(minilm) -> SemanticMemory:
    memory = SemanticMemory(embedder=minilm, spatial=RoomPolygons(rooms()))
    extra = [Observation("washing machine", WASHER, caption="a white front-loading washing machine",
                         extent=(0.6, 0.6, 0.85), confidence=0.8, timestamp=T0 + 3000.0 + i, room="bathroom_1")
             for i in range(2)]
    memory.ingest([*apartment_observations(), *extra])
    return memory


def _near(position, xyz, radius: float = 0.5) -> bool:
    return math.dist(position[:2], xyz[:2]) <= radius


def test_a_named_thing_that_does_not_serve_the_need_gets_no_bonus(memory: SemanticMemory) -> None:
    # "bed" only qualifies the sheets: the washing machine meets the need.
    text = "I need to wash my bed sheets"
    assert memory.retriever.mentions(text)[0] == ["bed"]
    result = memory.query(text)
    assert result.kind == QueryKind.IMPLICIT
    assert _near(result.hits[0].position, WASHER)
    # with the bonus the bed would rank right behind it
    assert "bed" not in [hit.name for hit in result.hits[:3]]


def test_a_named_thing_that_serves_the_need_keeps_the_bonus(memory: SemanticMemory) -> None:
    result = memory.query("I'd like to lie down on the bed for a bit")
    assert result.kind == QueryKind.IMPLICIT
    assert _near(result.hits[0].position, OBJECTS["bed"][3])


@pytest.mark.parametrize(("text", "target"), [
    ("I want to cook something", "stove"),
    ("time to cook some pasta", "stove"),
    ("I'd like to watch a film", "tv"),
])
def test_the_thing_that_performs_a_room_activity_beats_furniture_in_that_room(
        memory: SemanticMemory, text: str, target: str) -> None:
    result = memory.query(text, kind="implicit")
    assert _near(result.hits[0].position, OBJECTS[target][3])


def test_affordance_margin_is_validated() -> None:
    with pytest.raises(MemoryConfigError, match="affordance_margin"):
        MemoryConfig(affordance_margin=1.5)
    with pytest.raises(MemoryConfigError, match="affordance_weight"):
        MemoryConfig(context_weight_implicit=0.6, affordance_weight=0.5)
