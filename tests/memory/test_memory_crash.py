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
from embodied_stack.memory.embedders import HashEmbedder
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.store import DB_NAME
from embodied_stack.memory.types import Observation

BATCH = 25

SCRIPT = textwrap.dedent(f"""
    import sys
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.embedders import HashEmbedder
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


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_mid_ingest_loses_at_most_the_batch_in_flight(tmp_path) -> None:
    script = tmp_path / "ingest.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        seen = 0
        for line in proc.stdout:
            seen = int(line)
            if seen >= 6:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen >= 6 and proc.returncode == -signal.SIGKILL
    db = tmp_path / "store" / DB_NAME
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        observations = conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
        batches = conn.execute("SELECT COUNT(DISTINCT batch) FROM observations").fetchone()[0]
    assert observations == BATCH * batches and batches >= seen  # whole batches only
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
