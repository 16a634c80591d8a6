"""``embodied-stack bench memory``: ingest, build, insert and query figures on synthetic leaves.

Every figure is measured in the same run, against baselines measured in that run too:

- the embedder's raw batch throughput (texts/s, no cache, full batches) on a random sample of
  the very texts ingest embedded (leaf and node texts in their actual mix: node summaries are
  about twice as long as leaf captions, so leaf texts alone would overstate it), the best of
  five passes (three right after ingest, two at the end of the run, so that other work on the
  machine during one stretch cannot slow them all). Against it ingest is compared two ways:
  observations/s over raw texts/s (the embedding cache lets ingest beat the raw embedder when
  texts repeat), and the embedder-bound ratio: the time the raw embedder would need for the
  texts ingest actually embedded, over the ingest time (1 means ingest does nothing but embed;
  the target is >= 0.8). Also measured: the seconds the embedder was actually busy during
  ingest, and their share of the ingest time (below the ratio when ingest's small calls embed
  slower than full batches). The raw rate on leaf texts alone, measured before ingest, is
  reported too;
- a cold full rebuild of the forest (embedding cache emptied first);
- single-observation inserts of new objects into existing rooms of the full memory, and a stream
  of leaves inserted one by one into an empty memory against a batch build of the same leaves
  from scratch (each with a cold embedding cache);
- query latency p50/p99 with and without the query embedding, for the forest and for the flat
  baseline (leaf k-NN);
- resident memory (VmRSS, and the peak VmHWM) from /proc.

Ingest gets the observations in calls of a few dozen batches (as a robot's logs would come in),
so that with ``embed_worker="auto"`` (where a core is left over: ``--threads`` below the core
count, or the default on 4 cores or more) the embedder runs in a child process and the
memory's own work overlaps it (see :mod:`embodied_stack.text.embed_worker`). That is one
embedding stream with the same thread setting as the raw baseline, plus one core for the
bookkeeping; the child's start-up time and peak memory are reported (``embed_worker``), and
resident memory during ingest counts both processes. The worker is stopped after the main
ingest: the rebuild, inserts and queries run in this process.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.errors import MemoryError_
from embodied_stack.memory.results import QueryKind
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.synthetic import SyntheticWorld, bench_queries
from embodied_stack.memory.types import Observation
from embodied_stack.text.embedders import CachedEmbedder, load_embedder

log = logging.getLogger(__name__)

# Observations per ingest call of the main build: this many lookahead windows of batches.
_CHUNK_LOOKAHEADS = 4


def _rss_mib() -> dict[str, float]:
    """Current and peak resident set size of this process, MiB (Linux /proc)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0
    except OSError:
        return {}
    return out


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": len(ms)}


def _open(workdir: Path, name: str, config: MemoryConfig, embedder: CachedEmbedder, in_memory: bool) -> SemanticMemory:
    if in_memory:
        return SemanticMemory(config, embedder)
    return SemanticMemory.open(workdir / name, root=workdir, config=config, embedder=embedder)


def _ingest_chunks(memory: SemanticMemory, observations: Any, chunk_size: int) -> tuple[float, int]:
    """Ingest in calls of ``chunk_size`` observations (as a robot's log would come in, a file at a
    time), timing only the ingest calls, not the data generation."""
    elapsed = 0.0
    count = 0
    iterator = iter(observations)
    while True:
        chunk = list(islice(iterator, chunk_size))
        if not chunk:
            return elapsed, count
        start = time.perf_counter()
        memory.ingest(chunk)
        elapsed += time.perf_counter() - start
        count += len(chunk)


def run_benchmark(*, leaves: int, queries: int = 300, stream_leaves: int = 10_000, inserts: int = 200,
                  embedder: str = "default", workdir: Path | None = None, in_memory: bool = False,
                  seed: int = 0, threads: int = 0) -> dict[str, Any]:
    """Run the benchmark and return its figures (see the module docstring)."""
    if leaves < 1:
        raise MemoryError_(f"--leaves must be >= 1, got {leaves}")
    figures: dict[str, Any] = {"leaves_requested": leaves, "store": "memory" if in_memory else "sqlite+faiss",
                               "cpus": os.cpu_count(), "load_average_at_start": _load()}
    config = MemoryConfig(embedder=embedder, embed_threads=threads)
    figures["embed_threads"] = threads or "torch default"
    start = time.perf_counter()
    shared = load_embedder(embedder, cache_size=config.embed_cache_size, batch_size=config.embed_batch_size,
                           threads=threads)
    figures["embedder"] = shared.name
    figures["embedder_load_s"] = round(time.perf_counter() - start, 3)
    figures["rss_after_model_mib"] = _rss_mib().get("VmRSS")
    world = SyntheticWorld(leaves, seed=seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        built, sample = _build_and_query(world, config, shared, root, in_memory, queries, inserts, seed)
        figures.update(built)
        if stream_leaves > 0:
            figures["stream"] = _stream(config, shared.inner, root, in_memory, stream_leaves, seed)
    figures["embedder_raw_texts_per_s_passes"] += _raw_rates(shared, sample, 2)
    _ingest_ratios(figures)
    figures["rss_peak_mib"] = _rss_mib().get("VmHWM")
    figures["load_average_at_end"] = _load()
    return figures


def _load() -> float | None:
    """The 1-minute load average (other work on the machine skews every timing)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _raw_rates(shared: CachedEmbedder, texts: list[str], passes: int) -> list[float]:
    """Raw embedder throughput (texts/s, no cache) of some passes over ``texts``."""
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        shared.embed_uncached(texts)
        rates.append(round(len(texts) / (time.perf_counter() - start), 1))
    return rates


def _ingest_ratios(figures: dict[str, Any]) -> None:
    """Ingest against the raw embedder, from the best raw pass (see the module docstring)."""
    raw_tps = max(figures["embedder_raw_texts_per_s_passes"])
    embedded, ingest_s = figures["texts_embedded_by_ingest"], figures["ingest_s"]
    figures["embedder_raw_texts_per_s"] = raw_tps
    figures["ingest_vs_raw_embedder_throughput"] = round(figures["observations"] / ingest_s / raw_tps, 3)
    figures["ingest_embedding_time_estimate_s"] = round(embedded / raw_tps, 2)
    figures["ingest_embedder_bound_ratio"] = round(embedded / raw_tps / ingest_s, 3)
    figures["ingest_embedder_busy_share"] = round(figures["ingest_embedder_busy_s"] / ingest_s, 3)


def _build_and_query(world: SyntheticWorld, config: MemoryConfig, shared: CachedEmbedder, root: Path,
                     in_memory: bool, queries: int, inserts: int, seed: int) -> tuple[dict[str, Any], list[str]]:
    """Figures of the main memory, and the sample of ingest's texts the raw baseline embeds."""
    figures: dict[str, Any] = {}
    memory = _open(root, "main", config, shared, in_memory)
    leaf_texts = list(dict.fromkeys(memory.knowledge.leaf_text(o.category, o.caption)
                                    for o in islice(world.objects(), 20_000)))[:2048]
    raw_before = _raw_rates(shared, leaf_texts, 1)[0]
    misses, busy = shared.misses, shared.busy_s
    ingest_s, count = _ingest_chunks(memory, world.observations(),
                                     config.ingest_batch_size * config.ingest_lookahead * _CHUNK_LOOKAHEADS)
    embedded = shared.misses - misses
    figures["ingest_embedder_busy_s"] = round(shared.busy_s - busy, 2)
    # The worker goes now (the rest of the run embeds in this process, as a robot would);
    # resident memory during ingest counts both processes.
    rss_ingest = _rss_mib().get("VmHWM")
    worker = memory.stop_embed_worker()
    figures["embed_worker"] = worker or None
    if worker and worker.get("rss_peak_mib") and rss_ingest:
        figures["rss_peak_during_ingest_with_worker_mib"] = round(rss_ingest + worker["rss_peak_mib"], 1)
    # The raw baseline: the same embedder, no cache, full batches, on a sample of the very
    # texts ingest embedded (leaf and node texts alike); more passes follow at the end of the run.
    rng = np.random.default_rng(seed)
    texts = shared.cached_texts()
    sample = [texts[i] for i in rng.choice(len(texts), size=min(2048, len(texts)), replace=False)]
    figures["embedder_raw_texts_per_s_passes"] = _raw_rates(shared, sample, 3)
    figures["embedder_raw_leaf_texts_per_s_before_ingest"] = raw_before
    stats = memory.stats()
    figures["observations"] = count
    figures["leaves"] = stats.leaves
    figures["nodes_per_level"] = stats.nodes_per_level
    figures["distinct_captions"] = len(memory.vocab.captions) - 1
    figures["texts_embedded_by_ingest"] = embedded
    figures["ingest_s"] = round(ingest_s, 2)
    figures["ingest_obs_per_s"] = round(count / ingest_s, 1)
    figures["ingest_leaves_per_s"] = round(stats.leaves / ingest_s, 1)
    figures["index"] = stats.index
    gc.collect()
    figures["rss_after_build_mib"] = _rss_mib().get("VmRSS")
    shared.clear()
    misses = shared.misses
    start = time.perf_counter()
    memory.rebuild()
    figures["full_rebuild_cold_s"] = round(time.perf_counter() - start, 2)
    figures["full_rebuild_texts_embedded"] = shared.misses - misses
    figures["queries"] = _query_latency(memory, world, queries, seed)
    figures["single_insert"] = _single_inserts(memory, world, inserts, seed)
    leaves = memory.leaves.n
    start = time.perf_counter()
    memory.close()
    figures["close_s"] = round(time.perf_counter() - start, 2)
    if not in_memory:
        del memory
        gc.collect()
        start = time.perf_counter()
        reopened = SemanticMemory.open(root / "main", root=root, config=config, embedder=shared)
        figures["reopen_s"] = round(time.perf_counter() - start, 2)
        figures["reopen_leaves_match"] = reopened.leaves.n == leaves
        reopened.close()
    return figures, sample


def _query_latency(memory: SemanticMemory, world: SyntheticWorld, count: int, seed: int) -> dict[str, Any]:
    items = bench_queries(world, count, seed)
    texts = [text for _, text in items]
    embeddings = memory.embedder.embed_uncached(texts)
    width, height = world.extent_m()
    rng = np.random.default_rng((seed, 5))
    from embodied_stack.types import Pose2D

    poses = [Pose2D(float(rng.uniform(0, width)), float(rng.uniform(0, height)), 0.0) for _ in items]
    for text in texts[:8]:
        memory.query(text)
    out: dict[str, Any] = {}
    for mode in ("forest", "flat"):
        with_embedding, without, detected = [], [], 0
        for (kind, text), vector, pose in zip(items, embeddings, poses, strict=True):
            start = time.perf_counter()
            result = memory.query(text, k=5, robot_pose=pose, mode=mode)
            with_embedding.append(time.perf_counter() - start)
            detected += result.kind == QueryKind(kind)
            start = time.perf_counter()
            memory.query(text, k=5, robot_pose=pose, mode=mode, query_embedding=vector)
            without.append(time.perf_counter() - start)
        out[mode] = {"with_embedding": _percentiles(with_embedding), "without_embedding": _percentiles(without),
                     "kind_detected_as_generated": round(detected / len(items), 3)}
    return out


def _single_inserts(memory: SemanticMemory, world: SyntheticWorld, count: int, seed: int) -> dict[str, Any]:
    """New objects, one observation per ingest call, put next to random existing leaves in their
    rooms (the usual case on a robot): the per-insert cost on the full memory."""
    if count <= 0:
        return {}
    extra = SyntheticWorld(count, seed=seed + 1000)
    rng = np.random.default_rng((seed, 13))
    anchors = rng.choice(memory.leaves.n, size=count, replace=memory.leaves.n < count)
    seconds = []
    for obj, anchor in zip(extra.objects(), anchors.tolist(), strict=False):
        room = int(memory.leaves.room[anchor])
        near = memory.leaves.position[anchor] + np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), 0.0])
        obs = Observation(category=obj.category, caption=obj.caption, position=tuple(near.tolist()),
                          extent=obj.extent, timestamp=memory.now() + 1.0,
                          room=memory.vocab.rooms[room] if room >= 0 else None)
        start = time.perf_counter()
        memory.ingest([obs])
        seconds.append(time.perf_counter() - start)
    return _percentiles(seconds)


def _stream(config: MemoryConfig, inner: Any, root: Path, in_memory: bool, leaves: int, seed: int) -> dict[str, Any]:
    """``leaves`` objects (one sighting each) ingested one by one vs in one batch build, each from an
    empty memory with a cold embedding cache."""
    world = SyntheticWorld(leaves, seed=seed + 2000)
    observations = [Observation(category=o.category, caption=o.caption, position=o.position, extent=o.extent,
                                timestamp=1.7e9 + i, room=o.room) for i, o in enumerate(world.objects())]
    batch_memory = _open(root, "stream_batch", config, CachedEmbedder(inner, max_entries=config.embed_cache_size),
                         in_memory)
    start = time.perf_counter()
    batch_memory.ingest(observations)
    batch_s = time.perf_counter() - start
    batch_memory.close()
    one_memory = _open(root, "stream_one", config, CachedEmbedder(inner, max_entries=config.embed_cache_size),
                       in_memory)
    start = time.perf_counter()
    for obs in observations:
        one_memory.ingest([obs])
    one_s = time.perf_counter() - start
    same = one_memory.stats().nodes_per_level
    one_memory.close()
    return {"leaves": leaves, "batch_build_s": round(batch_s, 2), "one_by_one_s": round(one_s, 2),
            "ratio": round(one_s / batch_s, 2), "one_by_one_per_insert_ms": round(1000 * one_s / leaves, 2),
            "nodes_per_level_one_by_one": same}
