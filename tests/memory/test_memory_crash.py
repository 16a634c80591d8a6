"""Crash recovery: a subprocess ingesting batch after batch is killed with SIGKILL; the store opens
cleanly, holds exactly the committed batches, and its index is rebuilt to match."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.store import DB_NAME
from embodied_stack.memory.types import Observation
from embodied_stack.text.embedders import HashEmbedder

BATCH = 25

SCRIPT = textwrap.dedent(f"""
    import sys
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.text.embedders import HashEmbedder
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.memory.synthetic import SyntheticWorld

    memory = SemanticMemory.open("store", root=sys.argv[1], config=MemoryConfig(ingest_batch_size={BATCH}),
                                 embedder=HashEmbedder(64))
    batch = []
    done = 0
    for obs in SyntheticWorld(100_000, seed=3, objects_per_room=20).observations():
        batch.append(obs)
        if len(batch) == {BATCH}:
            memory.ingest(batch)
            done += 1
            batch = []
            print(done, flush=True)
""")


def _kill_after(tmp_path, source: str, step, enough: int = 6) -> int:
    """Run ``source`` on ``tmp_path`` and SIGKILL it once ``step`` (progress so far, a line it
    printed) reaches ``enough``; returns the progress."""
    script = tmp_path / "ingest.py"
    script.write_text(source)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        seen = 0
        for line in proc.stdout:
            seen = step(seen, line)
            if seen >= enough:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen >= enough and proc.returncode == -signal.SIGKILL
    return seen


def _committed(db) -> tuple[int, int]:
    """Observations and distinct batches in a store that must pass SQLite's integrity check."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        observations = conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
        batches = conn.execute("SELECT COUNT(DISTINCT batch) FROM observations").fetchone()[0]
    return observations, batches


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_mid_ingest_loses_at_most_the_batch_in_flight(tmp_path) -> None:
    progress = _kill_after(tmp_path, SCRIPT, lambda seen, line: int(line))
    observations, batches = _committed(tmp_path / "store" / DB_NAME)
    assert observations == BATCH * batches and batches >= progress  # whole batches only
    memory = SemanticMemory.load("store", root=tmp_path, config=MemoryConfig(ingest_batch_size=BATCH),
                                 embedder=HashEmbedder(64))
    assert memory.sightings.n == observations
    assert int(memory.leaves.count[: memory.leaves.n].sum()) == observations
    assert memory.index.ntotal == memory.leaves.n
    under_root = memory.forest.descendant_leaves(int(memory.forest.nodes.roots()[0]))
    assert np.array_equal(under_root, np.arange(memory.leaves.n))
    assert memory.query("where is the bed?").hits
    assert memory.ingest([Observation("bed", (1.0, 1.0, 0.4), caption="a bed after the crash")]).accepted == 1
    memory.close()


WORKER_SCRIPT = textwrap.dedent(f"""
    import sys
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.memory.synthetic import SyntheticWorld

    config = MemoryConfig(embedder="hash:64", embed_worker="on", ingest_batch_size={BATCH}, ingest_lookahead=2)
    memory = SemanticMemory.open("store", root=sys.argv[1], config=config)

    def stream():
        for i, obs in enumerate(SyntheticWorld(100_000, seed=3, objects_per_room=20).observations()):
            if i % {BATCH} == 0:
                print(i // {BATCH}, memory.embedder.worker is not None, flush=True)
            yield obs

    memory.ingest(stream())  # one long call: read-ahead, embedding worker, late building embeddings
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_mid_ingest_with_the_embedding_worker(tmp_path) -> None:
    # killed once the worker has been attached for 12 batches read
    _kill_after(tmp_path, WORKER_SCRIPT, lambda seen, line: seen + (line.split()[1] == "True"), enough=12)
    db = tmp_path / "store" / DB_NAME
    observations, batches = _committed(db)
    assert observations == BATCH * batches and batches >= 6  # whole batches only
    config = MemoryConfig(embedder="hash:64", ingest_batch_size=BATCH)
    memory = SemanticMemory.load("store", root=tmp_path, config=config)
    nodes = memory.forest.nodes
    live = nodes.ids()
    texts = [nodes.info[n].text for n in live.tolist()]
    upper = nodes.level[live] >= 2
    # every room, building and site embedding is its text's, whether it landed before the kill or not
    assert np.array_equal(nodes.embedding[live[upper]], memory.embedder.embed(np.array(texts)[upper].tolist()))
    assert int(memory.leaves.count[: memory.leaves.n].sum()) == memory.sightings.n == observations
    assert memory.query("where is the bed?").hits
    memory.close()
    with sqlite3.connect(db) as conn:  # repaired rows were written back
        assert conn.execute("SELECT COUNT(*) FROM nodes WHERE length(embedding) = 0").fetchone()[0] == 0
