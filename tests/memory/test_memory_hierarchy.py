"""What the hierarchy adds over the flat baseline: the forest's leaf score is flat's plus region
terms, region answers point at the thing in the region that answers the question, and rooms
holding the named things are found whatever the beam keeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from memory_helpers import OBJECTS, apartment_observations, room_of_point, rooms

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.nodes import ROOM
from embodied_stack.memory.results import QueryKind
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.spatial import RoomPolygons


def _memory(embedder, **config) -> SemanticMemory:
    memory = SemanticMemory(embedder=embedder, spatial=RoomPolygons(rooms()), config=MemoryConfig(**config))
    memory.ingest(apartment_observations())
    return memory


@pytest.fixture(scope="module")
def memory(minilm) -> SemanticMemory:
    return _memory(minilm)


def _near(position, xyz, radius: float = 0.5) -> bool:
    return math.dist(position[:2], xyz[:2]) <= radius


@pytest.mark.parametrize(("text", "kind"), [
    ("I need to wash after my workout", QueryKind.IMPLICIT),
    ("I'm hungry", QueryKind.IMPLICIT),
    ("where is the mug?", QueryKind.EXPLICIT),
])
def test_forest_leaf_score_is_flat_score_plus_region_terms(memory: SemanticMemory, text: str,
                                                           kind: QueryKind) -> None:
    retriever, cfg = memory.retriever, memory.config
    q = memory.embedder.embed_uncached([text])[0]
    ids = np.arange(memory.leaves.n)
    args = dict(categories=[], room_types=[], robot_xy=None, query=text, allowed=ids)
    forest = retriever.rank_leaves(q, kind, len(ids), mode="forest", **args)
    flat = retriever.rank_leaves(q, kind, len(ids), mode="flat", **args)
    f = dict(zip(forest.ids.tolist(), forest.scores.tolist(), strict=True))
    g = dict(zip(flat.ids.tolist(), flat.scores.tolist(), strict=True))
    zones = memory.forest.leaf_parent[ids]
    nodes = memory.forest.nodes
    rooms_ = np.where(zones >= 0, nodes.parent[np.maximum(zones, 0)], -1)
    sem = memory.leaves.vectors(ids) @ q
    region = retriever._region_context(q, zones, rooms_, sem)
    if kind == QueryKind.IMPLICIT:
        extra = cfg.context_weight_implicit * region + cfg.support_weight * retriever._room_support(
            retriever.affordances(q), rooms_, memory.leaves.category[ids])
    else:
        extra = cfg.context_weight_explicit * region
    for i, e in zip(ids.tolist(), extra.tolist(), strict=True):
        assert f[i] == pytest.approx(g[i] + e, abs=1e-5)
    # the zone and room of a kitchen leaf are context: they change the score
    assert np.any(np.abs(extra) > 1e-3)


def test_room_support_is_the_best_other_kind_of_thing_in_the_room(memory: SemanticMemory) -> None:
    retriever = memory.retriever
    q = memory.embedder.embed_uncached(["I need to wash after my workout"])[0]
    aff = retriever.affordances(q)
    ids = np.arange(memory.leaves.n)
    zones = memory.forest.leaf_parent[ids]
    nodes = memory.forest.nodes
    rooms_ = np.where(zones >= 0, nodes.parent[np.maximum(zones, 0)], -1)
    support = retriever._room_support(aff, rooms_, memory.leaves.category[ids])
    names = memory.vocab.categories
    for i, room in zip(ids.tolist(), rooms_.tolist(), strict=True):
        own = names[int(memory.leaves.category[i])]
        others = [max(aff[names.get(c)], 0.0) for c in nodes.info[room].category_counts if c != own]
        assert support[i] == pytest.approx(max(others, default=0.0))
    # a shower in the bathroom is backed by the bathroom's other washing things
    shower = int(np.flatnonzero(memory.leaves.category[ids] == names.get("shower"))[0])
    bed = int(np.flatnonzero(memory.leaves.category[ids] == names.get("bed"))[0])
    assert support[shower] > support[bed]


def test_room_support_without_rooms_is_zero(memory: SemanticMemory) -> None:
    aff = np.full(len(memory.vocab.categories), 0.7)
    support = memory.retriever._room_support(aff, np.array([-1, -1]), np.array([0, 1]))
    assert support.tolist() == [0.0, 0.0]


def test_region_answer_points_at_the_thing_that_answers(memory: SemanticMemory) -> None:
    result = memory.query("which room do I sleep in?")
    top = result.hits[0]
    assert result.kind == QueryKind.GLOBAL and top.level == ROOM
    assert room_of_point(*top.position[:2]) == "bedroom_1"
    assert _near(top.position, OBJECTS["bed"][3])
    assert _near(top.target_pose.xy, OBJECTS["bed"][3], radius=1.5)


def test_region_asked_about_is_answered_at_its_medoid(memory: SemanticMemory) -> None:
    result = memory.query("what is in the living room?")
    top = result.hits[0]
    node = int(top.node_id[1:])
    assert top.level == ROOM
    assert np.allclose(top.position, memory.forest.nodes.position[node])


def test_flat_mode_has_no_focus(memory: SemanticMemory) -> None:
    q = memory.embedder.embed_uncached(["which room do I sleep in?"])[0]
    ranked = memory.retriever.rank_leaves(q, QueryKind.GLOBAL, 3, mode="flat", categories=[], room_types=[],
                                          robot_xy=None)
    assert ranked.is_leaf and ranked.focus is None


def test_room_holding_every_named_thing_wins(memory: SemanticMemory) -> None:
    result = memory.query("which room has both a chair and a mug?")
    top = result.hits[0]
    assert result.kind == QueryKind.GLOBAL and top.level == ROOM
    assert room_of_point(*top.position[:2]) == "kitchen_1"
    assert top.name.startswith("kitchen")


def test_rooms_holding_named_things_are_candidates_whatever_the_beam_keeps(minilm) -> None:
    memory = _memory(minilm, beam_width=1, beam_max_frontier=1)
    text = "which room has both a wardrobe and a nightstand?"
    q = memory.embedder.embed_uncached([text])[0]
    categories, _ = memory.retriever.mentions(text)
    ranked = memory.retriever.rank_nodes(q, 10, categories=categories, room_types=[], query=text, robot_xy=None)
    names = [memory.forest.nodes.info[i].name for i in ranked.ids.tolist()]
    assert names[0].startswith("bedroom")
