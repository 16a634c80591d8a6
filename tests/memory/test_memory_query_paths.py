"""The query's fast paths give what the plain computations give: category lookups without a scan,
float32 copies of node embeddings, the level-at-a-time beam search, thread-free dot products."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.keyindex import KeyIndex
from embodied_stack.memory.nodes import ROOM, ZONE
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.sightings import SightingLog
from embodied_stack.memory.synthetic import SyntheticWorld, bench_queries
from embodied_stack.text.embedders import cosines


@pytest.fixture(scope="module")
def world_memory() -> SemanticMemory:
    """A few hundred synthetic leaves over a dozen rooms, hashed embeddings (no model)."""
    memory = SemanticMemory(MemoryConfig(embedder="hash:64", ingest_batch_size=256))
    memory.ingest(SyntheticWorld(400, seed=3).observations())
    return memory


def test_key_index_matches_a_scan_as_ids_are_appended() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 40, 30_000)
    index = KeyIndex()
    for n in (0, 5, 5_000, 5_100, 12_000, 30_000):  # tails, re-sorts, and lookups in between
        for wanted in ([3], [0, 39, 7], [41], []):
            expected = np.flatnonzero(np.isin(keys[:n], wanted))
            assert np.array_equal(index.lookup(keys, n, np.asarray(wanted, dtype=np.int64)), expected)


def test_leaves_with_category_and_the_latest_time(world_memory: SemanticMemory) -> None:
    leaves = world_memory.leaves
    for ids in ([0], [1, 4], list(range(len(world_memory.vocab.categories)))):
        expected = np.flatnonzero(np.isin(leaves.category[: leaves.n], ids))
        assert np.array_equal(leaves.with_category(np.asarray(ids)), expected)
    log = world_memory.sightings
    assert world_memory.now() == log.timestamp[: log.n].max()
    fresh = SightingLog()
    assert fresh.latest_time() == 0.0
    rows = {"leaf": np.array([0, 1]), "confidence": np.ones(2), "category": np.zeros(2), "caption": np.zeros(2),
            "room": np.zeros(2), "position": np.zeros((2, 3)), "extent": np.zeros((2, 3)),
            "source_pose": np.zeros((2, 7))}
    fresh.append({**rows, "timestamp": np.array([-5.0, -7.0])})
    fresh.append({**rows, "timestamp": np.array([-9.0, -6.0])})  # older sightings arriving late
    assert fresh.latest_time() == -5.0


def test_node_vectors_are_the_float16_embeddings_widened(world_memory: SemanticMemory) -> None:
    for memory in (world_memory, _rebuilt(world_memory)):
        nodes = memory.forest.nodes
        live = nodes.ids()
        assert np.array_equal(nodes.vectors(live), nodes.embedding[live].astype(np.float32))
        wide = nodes.wide_row[live] >= 0
        assert np.array_equal(wide, nodes.level[live] >= ROOM)
        assert len(np.unique(nodes.wide_row[live][wide])) == int(wide.sum())  # no two nodes share a row
    count = len(nodes.ids(ZONE))  # (of the rebuilt copy) the cached id lists follow creations and kills
    node = nodes.new(ZONE, -1)
    assert len(nodes.ids(ZONE)) == count + 1
    nodes.kill(node)
    assert len(nodes.ids(ZONE)) == count


def _rebuilt(memory: SemanticMemory) -> SemanticMemory:
    copy = SemanticMemory(memory.config, memory.embedder)
    copy.ingest(SyntheticWorld(400, seed=3).observations())
    copy.rebuild()
    return copy


def _reference_beam(memory: SemanticMemory, q: np.ndarray) -> tuple[set[int], np.ndarray]:
    """Embodied-RAG's descent written node by node: the k best children of every frontier node."""
    nodes, cfg = memory.forest.nodes, memory.config
    frontier = memory.forest.roots()
    scored = set(frontier.tolist())
    scores = nodes.embedding[frontier].astype(np.float32) @ q
    frontier = frontier[np.argsort(-scores, kind="stable")[: cfg.beam_max_frontier]]
    reached = []
    while len(frontier):
        next_ids, next_scores = [], []
        for node in frontier.tolist():
            children = nodes.info[node].children
            if nodes.level[node] == ZONE:
                child_scores = memory.leaves.vectors(children) @ q
                reached.append(children[np.argsort(-child_scores, kind="stable")[: cfg.beam_width]])
                continue
            child_scores = nodes.embedding[children].astype(np.float32) @ q
            scored.update(children.tolist())
            best = np.argsort(-child_scores, kind="stable")[: cfg.beam_width]
            next_ids.append(children[best])
            next_scores.append(child_scores[best])
        if not next_ids:
            break
        ids, sc = np.concatenate(next_ids), np.concatenate(next_scores)
        frontier = ids[np.argsort(-sc, kind="stable")[: cfg.beam_max_frontier]]
    return scored, np.unique(np.concatenate(reached))


@pytest.mark.parametrize(("width", "frontier"), [(3, 27), (2, 4)])
def test_beam_search_matches_the_node_by_node_reference(world_memory: SemanticMemory, width: int,
                                                        frontier: int) -> None:
    texts = [text for _, text in bench_queries(SyntheticWorld(400, seed=3), 24, seed=1)]
    config = world_memory.config
    default = (config.beam_width, config.beam_max_frontier)
    config.beam_width, config.beam_max_frontier = width, frontier  # (2, 4): the frontier cap binds
    try:
        for q in world_memory.embedder.embed(texts):
            scored, cos, leaves = world_memory.retriever.beam(q)
            expected_scored, expected_leaves = _reference_beam(world_memory, q)
            assert set(scored.tolist()) == expected_scored
            assert np.array_equal(leaves, expected_leaves)
            assert np.allclose(cos, world_memory.forest.nodes.embedding[scored].astype(np.float32) @ q, atol=1e-5)
            assert 0 < len(leaves) <= width * frontier
    finally:
        config.beam_width, config.beam_max_frontier = default


def test_cosines_equal_the_matrix_product() -> None:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(5000, 48)).astype(np.float16)
    q = rng.normal(size=48).astype(np.float32)
    out = cosines(rows, q)
    assert out.dtype == np.float32 and out.shape == (5000,)
    assert np.allclose(out, rows.astype(np.float32) @ q, atol=1e-4)


def test_room_names_follow_the_forest(apartment) -> None:
    memory = SemanticMemory(MemoryConfig(embedder="hash:64"))
    kitchen_only = [o for o in apartment if o.room == "kitchen_1"]
    memory.ingest(kitchen_only)
    assert memory.retriever.room_names(12) == (1, ["kitchen (kitchen_1)"])
    memory.ingest([o for o in apartment if o.room != "kitchen_1"])
    nodes = memory.forest.nodes
    names = sorted(nodes.info[r].name for r in nodes.ids(ROOM).tolist())
    assert memory.retriever.room_names(2) == (4, names[:2]) and len(names) == 4
    assert memory.query("how many rooms are there?").answer.startswith("I know of 4 rooms: ")
