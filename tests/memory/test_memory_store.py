"""The persistent store: exact round trips, safety of paths, versions, corruption, stale index."""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np
import pytest
from memory_helpers import apartment_observations

from embodied_stack.memory import persist
from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.errors import (
    CorruptStoreError,
    PathOutsideRootError,
    SchemaVersionError,
    StoreError,
)
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.store import DB_NAME, INDEX_META_NAME
from embodied_stack.memory.synthetic import SyntheticWorld


def _config(tmp_path) -> MemoryConfig:
    return MemoryConfig(memory_root=str(tmp_path))


def _same(a: SemanticMemory, b: SemanticMemory) -> None:
    assert a.leaves.n == b.leaves.n and a.sightings.n == b.sightings.n
    for name in a.leaves._COLUMNS:
        x, y = getattr(a.leaves, name)[: a.leaves.n], getattr(b.leaves, name)[: b.leaves.n]
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    for name in ("leaf", "timestamp", "confidence", "category", "caption", "room", "position", "extent",
                 "source_pose"):
        x, y = getattr(a.sightings, name)[: a.sightings.n], getattr(b.sightings, name)[: b.sightings.n]
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert a.sightings.extras == b.sightings.extras and a.leaves.tracks == b.leaves.tracks
    assert np.array_equal(a.leaves.texts.vectors[: a.leaves.texts.n], b.leaves.texts.vectors[: b.leaves.texts.n])
    assert np.array_equal(a.leaves.texts.keys[: a.leaves.texts.n], b.leaves.texts.keys[: b.leaves.texts.n])
    na, nb = a.forest.nodes, b.forest.nodes
    assert np.array_equal(na.ids(), nb.ids())
    for node in na.ids().tolist():
        ia, ib = na.info[node], nb.info[node]
        assert (ia.name, ia.summary, ia.text, ia.room, ia.room_type, ia.category_counts) == \
            (ib.name, ib.summary, ib.text, ib.room, ib.room_type, ib.category_counts)
        assert np.array_equal(ia.children, ib.children)
    for name in ("level", "parent", "key", "upkey", "position", "centroid", "bbox_min", "bbox_max", "n_leaves",
                 "medoid", "embedding"):
        assert np.array_equal(getattr(na, name)[na.ids()], getattr(nb, name)[nb.ids()]), name
    assert np.array_equal(na.vectors(na.ids()), nb.vectors(nb.ids()))
    assert a.vocab.room_types == b.vocab.room_types and a.now() == b.now()
    assert np.array_equal(a.forest.leaf_parent[: a.leaves.n], b.forest.leaf_parent[: b.leaves.n])
    assert np.array_equal(a.forest.leaf_key[: a.leaves.n], b.forest.leaf_key[: b.leaves.n])


def test_round_trip_is_exact(tmp_path, minilm) -> None:
    observations = apartment_observations()
    memory = SemanticMemory(_config(tmp_path), minilm)
    memory.ingest(observations[:20])
    memory.ingest(observations[20:])
    expected = memory.query("I want to take a nap")
    memory.save("saved")
    with SemanticMemory.open("live", config=_config(tmp_path), embedder=minilm) as live:
        live.ingest(observations[:20])
        live.ingest(observations[20:])
    loaded = SemanticMemory.load("saved", config=_config(tmp_path), embedder=minilm)
    reopened = SemanticMemory.load("live", config=_config(tmp_path), embedder=minilm)
    for other in (loaded, reopened):
        _same(memory, other)
        result = other.query("I want to take a nap")
        assert result.answer == expected.answer and result.hits == expected.hits
    loaded.close()
    reopened.close()


def test_paths_cannot_escape_the_root(tmp_path, hash_embedder) -> None:
    root = tmp_path / "root"
    root.mkdir()
    config = MemoryConfig(memory_root=str(root))
    memory = SemanticMemory(config, hash_embedder)
    for bad in ("../outside", str(tmp_path / "elsewhere"), "a/../../outside"):
        with pytest.raises(PathOutsideRootError, match="outside the memory root"):
            memory.save(bad)
        with pytest.raises(PathOutsideRootError):
            SemanticMemory.open(bad, config=config, embedder=hash_embedder)
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(PathOutsideRootError):
        memory.save("link/escaped")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "outside").exists()
    assert memory.save("inside/store") == (root / "inside" / "store").resolve()


def test_missing_corrupt_and_wrong_version(tmp_path, hash_embedder) -> None:
    config = _config(tmp_path)
    with pytest.raises(StoreError, match="no memory store"):
        SemanticMemory.load("nothing", config=config, embedder=hash_embedder)
    bad = tmp_path / "bad"
    bad.mkdir()
    garbage = b"this is not sqlite at all" * 100
    (bad / DB_NAME).write_bytes(garbage)
    with pytest.raises(CorruptStoreError, match="not a readable SQLite database"):
        SemanticMemory.load("bad", config=config, embedder=hash_embedder)
    assert (bad / DB_NAME).read_bytes() == garbage  # reported, never replaced
    with SemanticMemory.open("old", config=config, embedder=hash_embedder) as memory:
        memory.ingest(apartment_observations()[:5])
    with sqlite3.connect(tmp_path / "old" / DB_NAME) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        SemanticMemory.load("old", config=config, embedder=hash_embedder)
    with SemanticMemory.open("other", config=config, embedder=hash_embedder) as memory:
        memory.ingest(apartment_observations()[:5])
    from embodied_stack.text.embedders import HashEmbedder
    with pytest.raises(StoreError, match="embedder"):
        SemanticMemory.load("other", config=config, embedder=HashEmbedder(32))


def test_damaged_tables_are_reported(tmp_path, hash_embedder) -> None:
    config = _config(tmp_path)
    with SemanticMemory.open("s", config=config, embedder=hash_embedder) as memory:
        memory.ingest(apartment_observations()[:8])
    with sqlite3.connect(tmp_path / "s" / DB_NAME) as conn:
        conn.execute("INSERT INTO edges (parent, child_is_leaf, child) VALUES (999, 1, 0)")
    with pytest.raises(CorruptStoreError, match="missing node 999"):
        SemanticMemory.load("s", config=config, embedder=hash_embedder)


def test_stale_index_is_rebuilt_from_sqlite(tmp_path, hash_embedder) -> None:
    config = _config(tmp_path)
    with SemanticMemory.open("s", config=config, embedder=hash_embedder) as memory:
        memory.ingest(apartment_observations()[:10])
        expected = memory.query("where is the bed?").hits
    meta = tmp_path / "s" / INDEX_META_NAME
    meta.write_text(json.dumps({"generation": -1, "count": 0}))
    (tmp_path / "s" / "leaves.faiss").write_bytes(b"garbage")
    with SemanticMemory.load("s", config=config, embedder=hash_embedder) as memory:
        assert memory.index.ntotal == memory.leaves.n
        assert memory.query("where is the bed?").hits == expected
    assert json.loads(meta.read_text())["count"] == 10


def test_rejected_observations_never_reach_the_store(tmp_path, hash_embedder) -> None:
    config = _config(tmp_path)
    with SemanticMemory.open("s", config=config, embedder=hash_embedder) as memory:
        report = memory.ingest([{"category": "mug", "position": [float("nan"), 0, 0]},
                                {"category": "mug", "position": [1, 1, 1]}])
        assert len(report.rejected) == 1
    with sqlite3.connect(tmp_path / "s" / DB_NAME) as conn:
        rows = conn.execute("SELECT x, y, z FROM observations").fetchall()
    assert rows == [(1.0, 1.0, 1.0)]


def test_rebuild_and_exports(tmp_path, hash_embedder) -> None:
    config = _config(tmp_path)
    with SemanticMemory.open("s", config=config, embedder=hash_embedder) as memory:
        memory.ingest(apartment_observations())
        before = memory.stats()
        memory.rebuild()
        assert memory.stats().nodes_per_level == before.nodes_per_level
        document = json.loads(memory.export_json(tmp_path / "x.json").read_text())
        memory.export_graphml(tmp_path / "x.graphml")
    assert document["format"] == "embodied-stack.memory-export/1"
    assert len(document["nodes"]) == before.leaves + before.nodes
    assert len(document["edges"]) == before.leaves + before.nodes - 1  # a tree: every node but the root
    import networkx as nx
    graph = nx.read_graphml(tmp_path / "x.graphml")
    assert graph.number_of_nodes() == before.leaves + before.nodes and nx.is_tree(graph.to_undirected())
    with SemanticMemory.load("s", config=config, embedder=hash_embedder) as again:
        assert again.stats().nodes_per_level == before.nodes_per_level
    assert os.path.isfile(tmp_path / "s" / DB_NAME)


def test_saving_a_copy_leaves_the_live_store_consistent(tmp_path, hash_embedder) -> None:
    config = _config(tmp_path)
    observations = apartment_observations()
    with SemanticMemory.open("live", config=config, embedder=hash_embedder) as live:
        live.ingest(observations[:15])
        live.save("copy")
        live.ingest(observations[15:])
        expected = live.stats()
    with SemanticMemory.load("live", config=config, embedder=hash_embedder) as again:
        assert again.stats().nodes_per_level == expected.nodes_per_level
        assert (again.leaves.n, again.sightings.n) == (expected.leaves, len(observations))
    with SemanticMemory.load("copy", config=config, embedder=hash_embedder) as copy:
        assert copy.sightings.n == 15


def test_edges_written_as_differences_reload_exactly(tmp_path, hash_embedder, monkeypatch) -> None:
    monkeypatch.setattr(persist, "_EDGE_DIFF_MIN", 2)  # every node with 2+ children takes the diff path
    observations = list(SyntheticWorld(120, seed=5).observations())
    lost = dropped = 0
    with SemanticMemory.open("live", config=_config(tmp_path), embedder=hash_embedder) as live:
        for start in range(0, len(observations), 7):
            if start == 140:
                live.rebuild()
            before = dict(live.committed_edges)
            live.ingest(observations[start:start + 7])
            nodes = live.forest.nodes
            lost += sum(len(np.setdiff1d(old, nodes.info[n].children)) for n, old in before.items() if n in nodes.info)
            dropped += sum(1 for n in before if n not in nodes.info or len(nodes.info[n].children) < 2)
            assert {n: c.tolist() for n, c in live.committed_edges.items()} == \
                {n: nodes.info[n].children.tolist() for n in nodes.ids().tolist() if len(nodes.info[n].children) >= 2}
    assert lost > 0 and dropped > 0  # edges were deleted one by one, and nodes left the diff path
    reopened = SemanticMemory.load("live", config=_config(tmp_path), embedder=hash_embedder)
    _same(live, reopened)
    nodes = reopened.forest.nodes
    assert set(reopened.committed_edges) == {n for n in nodes.ids().tolist() if len(nodes.info[n].children) >= 2}
    reopened.close()
