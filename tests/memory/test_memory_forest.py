"""The hierarchy: levels, walls, parent positions, incremental updates against a full rebuild."""

from __future__ import annotations

import numpy as np
from memory_helpers import apartment_observations, room_of_point, rooms
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from embodied_stack.memory.clustering import cluster_nodes, combined_distances
from embodied_stack.memory.nodes import BUILDING, ROOM, SITE, ZONE
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.spatial import RoomPolygons
from embodied_stack.memory.types import Observation


def _groups(memory: SemanticMemory, level: int) -> set[frozenset[int]]:
    """The leaves under each node of a level (node ids differ between builds; members do not)."""
    return {frozenset(memory.forest.descendant_leaves(n).tolist()) for n in memory.forest.nodes.ids(level)}


def test_complete_linkage_keeps_every_pair_within_the_threshold() -> None:
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 10, (60, 3))
    embeddings = rng.normal(size=(60, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = cluster_nodes(positions, embeddings, threshold=0.7, spatial_weight=0.5, spatial_scale_m=3.0)
    distances = squareform(combined_distances(positions, embeddings, spatial_weight=0.5, spatial_scale_m=3.0))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        assert distances[np.ix_(members, members)].max() <= 0.7 + 1e-9
    assert 1 < len(np.unique(labels)) < 60
    reference = fcluster(linkage(combined_distances(positions, embeddings, spatial_weight=0.5, spatial_scale_m=3.0),
                                 method="complete"), t=0.7, criterion="distance")
    assert len(set(zip(labels.tolist(), reference.tolist(), strict=True))) == len(np.unique(labels)) == len(np.unique(reference))
    split = cluster_nodes(positions, embeddings, threshold=2.0, spatial_weight=0.5, spatial_scale_m=3.0, max_size=16)
    assert len(np.unique(split)) >= 4  # every part of at most 16 members is one cluster


def test_levels_rooms_and_parent_positions(minilm) -> None:
    memory = SemanticMemory(embedder=minilm, spatial=RoomPolygons(rooms()))
    memory.ingest(apartment_observations())
    nodes = memory.forest.nodes
    assert memory.stats().levels == 5
    assert len(nodes.ids(SITE)) == 1 and len(nodes.ids(ROOM)) == 4
    room_names = sorted(nodes.info[n].name for n in nodes.ids(ROOM))
    assert room_names == ["bathroom (bathroom_1)", "bedroom (bedroom_1)", "kitchen (kitchen_1)",
                          "living room (living_room_1)"]
    for node in nodes.ids().tolist():
        leaves = memory.forest.descendant_leaves(node)
        rooms_under = {room_of_point(*memory.leaves.position[i, :2]) for i in leaves}
        if nodes.level[node] <= ROOM:
            assert len(rooms_under) == 1  # no zone or room straddles a wall
            x, y = nodes.position[node, :2]
            assert room_of_point(x, y) in rooms_under  # the position lies inside its own room
        # the position is that of a member leaf
        assert np.min(np.linalg.norm(memory.leaves.position[leaves] - nodes.position[node], axis=1)) < 1e-9
    assert len(nodes.ids(BUILDING)) >= 1 and len(nodes.ids(ZONE)) < memory.leaves.n


def test_walls_separate_close_sightings(hash_embedder) -> None:
    same = [Observation("chair", (3.85, 2.0, 0.4), caption="a chair"),
            Observation("chair", (4.15, 2.0, 0.4), caption="a chair")]
    walled = SemanticMemory(embedder=hash_embedder, spatial=RoomPolygons(rooms()))
    walled.ingest(same)
    plain = SemanticMemory(embedder=hash_embedder)
    plain.ingest(same)
    assert (walled.leaves.n, plain.leaves.n) == (2, 1)


def test_walls_separate_close_objects(hash_embedder) -> None:
    """Two seats 30 cm apart on both sides of a wall are two leaves that never share a zone or a
    room; without the walls they are one zone."""
    seats = [Observation("chair", (3.85, 2.0, 0.4), caption="a wooden seat"),
             Observation("stool", (4.15, 2.0, 0.4), caption="a wooden seat")]
    memory = SemanticMemory(embedder=hash_embedder, spatial=RoomPolygons(rooms()))
    memory.ingest(seats)
    assert memory.leaves.n == 2
    assert memory.forest.leaf_parent[0] != memory.forest.leaf_parent[1]
    assert memory.forest.nodes.parent[memory.forest.leaf_parent[0]] != \
        memory.forest.nodes.parent[memory.forest.leaf_parent[1]]
    plain = SemanticMemory(embedder=hash_embedder)
    plain.ingest(seats)
    assert plain.forest.leaf_parent[0] == plain.forest.leaf_parent[1]  # without walls they cluster


def test_incremental_matches_rebuild(minilm) -> None:
    observations = apartment_observations(seed=1, with_rooms=False)
    one_by_one = SemanticMemory(embedder=minilm)
    changed = []
    for obs in observations:
        changed.append(one_by_one.ingest([obs]).nodes_changed)
    batch = SemanticMemory(embedder=minilm)
    batch.ingest(observations)
    batch.rebuild()
    for level in (ZONE, ROOM, BUILDING, SITE):
        assert _groups(one_by_one, level) == _groups(batch, level), level
    # an insert touches at most a few nodes per level, never the whole forest
    assert max(changed) <= 4 * 2 + 2 and one_by_one.stats().nodes > 10
    queries = ["where is the red mug?", "I want to take a nap", "which room would I cook in?",
               "somewhere to wash my hands"]
    for text in queries:
        a, b = one_by_one.query(text, k=3), batch.query(text, k=3)
        assert [(h.name, h.level, h.position) for h in a.hits] == [(h.name, h.level, h.position) for h in b.hits]
        assert a.answer == b.answer
