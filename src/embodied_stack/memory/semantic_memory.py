"""The facade: :class:`SemanticMemory` ingests observations, keeps the forest, answers queries.

In memory by default; :meth:`SemanticMemory.open` backs it by a store directory (SQLite + FAISS)
where every ingest batch is committed before ``ingest`` moves on.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.memory import persist
from embodied_stack.memory.absence import AbsenceTracker, View
from embodied_stack.memory.answering import Answerer, build_hits, template_answer, temporal_query
from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.errors import (
    EmbedderError,
    InvalidObservationError,
    QueryError,
    StoreError,
)
from embodied_stack.memory.forest import Forest, Vocab
from embodied_stack.memory.index import VectorIndex
from embodied_stack.memory.knowledge import Knowledge, default_knowledge, normalize_phrase
from embodied_stack.memory.leaves import LeafTable, ObservationBatch
from embodied_stack.memory.results import (
    IngestReport,
    MemoryStats,
    NodeView,
    QueryKind,
    QueryResult,
    RejectedObservation,
    leaf_view,
    node_view,
)
from embodied_stack.memory.retrieval import NodeScorer, Retriever, check_query
from embodied_stack.memory.sightings import SightingLog
from embodied_stack.memory.spatial import SpatialContext
from embodied_stack.memory.store import DB_NAME, MemoryStore, resolve_inside
from embodied_stack.memory.summarise import ExtractiveSummariser, Summariser
from embodied_stack.memory.types import Observation, screen_observations, validate_observation
from embodied_stack.text.embed_worker import EmbedWorker
from embodied_stack.text.embedders import CachedEmbedder, Embedder, load_embedder
from embodied_stack.types import Pose2D

log = logging.getLogger(__name__)

# (category, caption) -> (normalised category, caption, leaf text) of one batch
_Texts = dict[tuple[str, str], tuple[str, str, str]]


class SemanticMemory:
    """A semantic forest over everything the robot has seen (see the package docstring).

    Args:
        config: settings (defaults when None).
        embedder: text embedder; loaded from ``config.embedder`` when None. Wrapped in an LRU
            cache unless it already is one.
        spatial: optional navigable map / room segmentation (rooms, walls, standoff poses).
        summariser: writes parent names and summaries (extractive by default).
        scorer: optional extra node scorer for the beam search (e.g. a local LLM).
        answerer: optional answer writer (e.g. a local LLM); templates otherwise.
    """

    def __init__(self, config: MemoryConfig | None = None, embedder: Embedder | None = None,
                 spatial: SpatialContext | None = None, *, summariser: Summariser | None = None,
                 knowledge: Knowledge | None = None, scorer: NodeScorer | None = None,
                 answerer: Answerer | None = None) -> None:
        self.config = config or MemoryConfig()
        cfg = self.config
        if embedder is None:
            embedder = load_embedder(cfg.embedder, cache_size=cfg.embed_cache_size, batch_size=cfg.embed_batch_size,
                                     threads=cfg.embed_threads)
        elif not isinstance(embedder, CachedEmbedder):
            embedder = CachedEmbedder(embedder, max_entries=cfg.embed_cache_size, batch_size=cfg.embed_batch_size)
        self.embedder: CachedEmbedder = embedder
        self.spatial = spatial
        self.knowledge = knowledge or default_knowledge()
        self.summariser = summariser or ExtractiveSummariser(self.knowledge)
        self.answerer = answerer
        self.vocab = Vocab()
        self.leaves = LeafTable(embedder.dim)
        self.forest = Forest(self.leaves, self.vocab, cfg, self.embedder, self.summariser)
        self.index = VectorIndex(embedder.dim, flat_max=cfg.flat_index_max, nprobe=cfg.ivf_nprobe)
        self.sightings = SightingLog()
        self.absence = AbsenceTracker()
        self.retriever = Retriever(self, scorer)
        self.committed_vocab: dict[str, int] = {}
        self.committed_edges: dict[int, np.ndarray] = {}
        self._store: MemoryStore | None = None
        self._index_dirty = False
        self._batches = 0
        self._notes: dict[str, Any] = {}
        # None: not started; False: failed (embed here from now on)
        self._worker: EmbedWorker | bool | None = None
        # building/site embeddings in flight: (batch, node ids, wait for vectors), oldest first,
        # and the batch of each node's newest one
        self._late: deque[tuple[int, np.ndarray, Callable[[], np.ndarray]]] = deque()
        self._late_node: dict[int, int] = {}

    # --- persistence ----------------------------------------------------------------------

    @classmethod
    def open(cls, store_dir: str | Path, *, root: str | Path | None = None, create: bool = True,
             config: MemoryConfig | None = None, embedder: Embedder | None = None,
             spatial: SpatialContext | None = None, **kwargs: Any) -> SemanticMemory:
        """Open (or create) a store-backed memory in ``store_dir``, which must lie inside ``root``
        (default ``config.memory_root``).

        Raises:
            PathOutsideRootError, StoreError, CorruptStoreError, SchemaVersionError.
        """
        config = config or MemoryConfig()
        directory = resolve_inside(root if root is not None else config.memory_root, store_dir)
        memory = cls(config, embedder, spatial, **kwargs)
        if (directory / DB_NAME).is_file():
            store = MemoryStore.open(directory, check_integrity=config.check_integrity_on_open)
            meta = store.meta()
            if meta.get("dim") != memory.embedder.dim or meta.get("embedder") != memory.embedder.name:
                store.close()
                raise StoreError(f"{directory}: built with embedder {meta.get('embedder')!r} "
                                 f"({meta.get('dim')}-d) but this memory uses {memory.embedder.name!r} "
                                 f"({memory.embedder.dim}-d); open it with the same embedder")
            unembedded = persist.load_all(store, memory)
            if unembedded:
                log.warning("%s: %d building/site embeddings were in flight when it was last written; "
                            "embedded again from their texts", directory, len(unembedded))
                with store.transaction() as conn:
                    persist.write_embeddings(conn, memory, unembedded)
            memory._store = store
            memory._load_index()
            memory._batches = int(meta.get("batches", 0))
        elif create:
            memory._store = MemoryStore.create(directory, memory._store_meta())
        else:
            raise StoreError(f"{directory}: no memory store here (missing {DB_NAME})")
        return memory

    @classmethod
    def load(cls, store_dir: str | Path, *, root: str | Path | None = None, **kwargs: Any) -> SemanticMemory:
        """Open an existing store (never creates one)."""
        return cls.open(store_dir, root=root, create=False, **kwargs)

    def _store_meta(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name, "dim": self.embedder.dim, "config": self.config.to_dict()}

    def _load_index(self) -> None:
        store = self._store
        index_path, _ = store.index_paths()
        if store.index_is_current(self.leaves.n):
            self.index = VectorIndex.read(index_path, self.embedder.dim, flat_max=self.config.flat_index_max,
                                          nprobe=self.config.ivf_nprobe)
            return
        log.warning("%s is missing or stale; rebuilding the leaf index from the database", index_path)
        self._rebuild_index()
        self._write_index()

    def _rebuild_index(self) -> None:
        self.index.rebuild(np.arange(self.leaves.n), self.leaves.vectors)

    def _write_index(self) -> None:
        if self._store is None:
            return
        index_path, _ = self._store.index_paths()
        tmp = index_path.with_suffix(".tmp")
        self.index.write(tmp)
        tmp.replace(index_path)
        self._store.mark_index(self.leaves.n)
        self._index_dirty = False

    def save(self, path: str | Path, *, root: str | Path | None = None) -> Path:
        """Write a complete store of this memory to a new (or empty) directory inside the root."""
        target = resolve_inside(root if root is not None else self.config.memory_root, path)
        if self._store is not None and target == self._store.directory:
            self._write_index()
            return target
        store = MemoryStore.create(target, self._store_meta())
        # write_all tracks what the new store holds; this memory's own store keeps its state
        committed, logged = dict(self.committed_vocab), self.sightings.committed
        try:
            persist.write_all(store, self)
            index_path, _ = store.index_paths()
            self.index.write(index_path)
            store.mark_index(self.leaves.n)
        finally:
            store.close()
            self.committed_vocab, self.sightings.committed = committed, logged
        return target

    @property
    def notes(self) -> dict[str, Any]:
        """Free-form settings stored with the memory (the CLI keeps its map and scene paths here)."""
        if self._store is None:
            return dict(self._notes)
        return dict(self._store.meta().get("notes", {}))

    def set_notes(self, **values: Any) -> None:
        """Store JSON-serialisable notes (persisted when the memory has a store)."""
        self._notes.update(values)
        if self._store is not None:
            merged = {**self.notes, **values}
            with self._store.transaction() as conn:
                self._store.set_meta(conn, {"notes": merged})

    def close(self) -> None:
        """Stop the embedding worker, write the index file (when it changed) and close the
        store. Safe to call twice."""
        self.stop_embed_worker()
        if self._store is not None:
            if self._index_dirty:
                self._write_index()
            self._store.close()
            self._store = None

    def __enter__(self) -> SemanticMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ingest ---------------------------------------------------------------------------

    def ingest(self, observations: Iterable[Observation | Mapping[str, Any]], views: Sequence[View] = ()) -> IngestReport:
        """Fuse observations into leaves and update the branches they touch, batch by batch.

        ``views``: the camera views the observations were perceived through (all of them,
        including views where nothing was detected); after fusing, every leaf that should have
        been seen in one and was not counts a miss (negative evidence, :mod:`.absence`).

        Bad observations are rejected (with the reason) and never reach the leaves or the store.
        Each batch is committed before the next one is fused. A long call reads a few batches
        ahead and, with an embedding worker (``config.embed_worker``), has their new captions
        embedded in the worker's process while it fuses and clusters the current one.
        """
        start = time.perf_counter()
        misses = self.embedder.misses
        report = IngestReport()
        lookahead = self.config.ingest_lookahead if self._worker_possible() else 0
        ahead: deque[tuple[list[Observation], _Texts]] = deque()
        try:
            for batch in self._screened_batches(observations, report):
                ahead.append((batch, self._batch_texts(batch)))
                if lookahead:
                    self._feed_worker(ahead)
                if len(ahead) > lookahead:
                    self._ingest_batch(*ahead.popleft(), report)
            while ahead:
                self._ingest_batch(*ahead.popleft(), report)
        finally:
            self._land_all()
        if views:
            n = self.leaves.n
            names = self.vocab.categories
            self.absence.look(views, self.leaves.position[:n], self.leaves.extent[:n], self.leaves.last_seen[:n],
                              [names[int(c)] for c in self.leaves.category[:n]])
        report.rejected.sort(key=lambda r: r.index)
        report.texts_embedded = self.embedder.misses - misses
        report.duration_s = time.perf_counter() - start
        if report.rejected:
            log.warning("rejected %d observation(s); first: %s", len(report.rejected), report.rejected[0].reason)
        return report

    def _screened_batches(self, observations: Iterable[Observation | Mapping[str, Any]],
                          report: IngestReport) -> Iterator[list[Observation]]:
        """Batches of valid observations (the others go to ``report.rejected`` with the reason)."""
        batch: list[Observation] = []
        where: list[int] = []
        for index, item in enumerate(observations):
            if isinstance(item, Observation):
                batch.append(item)
                where.append(index)
            else:
                try:
                    if not isinstance(item, Mapping):
                        raise InvalidObservationError(
                            f"expected an Observation or a mapping, got {type(item).__name__}")
                    batch.append(Observation.from_dict(dict(item), where=f"observation {index}"))
                    where.append(index)
                except InvalidObservationError as err:
                    report.rejected.append(RejectedObservation(index, str(err)))
            if len(batch) >= self.config.ingest_batch_size:
                if screened := self._screen(batch, where, report):
                    yield screened
                batch, where = [], []
        if batch and (screened := self._screen(batch, where, report)):
            yield screened

    @staticmethod
    def _screen(batch: list[Observation], where: list[int], report: IngestReport) -> list[Observation]:
        """Drop observations that fail validation (built around the dataclass)."""
        ok = screen_observations(batch)
        if not ok.all():
            for row in np.flatnonzero(~ok).tolist():
                try:
                    validate_observation(batch[row])
                    ok[row] = True
                except (InvalidObservationError, TypeError, ValueError) as err:
                    report.rejected.append(RejectedObservation(where[row], str(err)))
            batch = [obs for obs, good in zip(batch, ok.tolist(), strict=True) if good]
        return batch

    def _batch_texts(self, batch: list[Observation]) -> _Texts:
        """(category, caption) -> (normalised category, caption, leaf text), each composed once: a
        batch sees each object a few times."""
        texts = {}
        for raw in dict.fromkeys((o.category, o.caption) for o in batch):
            category, caption = normalize_phrase(raw[0]), " ".join(raw[1].split())
            texts[raw] = (category, caption, self.knowledge.leaf_text(category, caption))
        return texts

    # --- the embedding worker -------------------------------------------------------------

    def _worker_possible(self) -> bool:
        mode, spec = self.config.embed_worker, self.embedder.spec
        if mode == "off" or spec is None or self._worker is False:
            return False
        if mode == "on":
            return True
        # "auto": a model, and a core left for the bookkeeping without taking the embedder's
        # threads (torch's default takes every core: then only where there are 4 or more).
        cores = os.cpu_count() or 1
        threads = spec[1]
        return not spec[0].startswith("hash") and (0 < threads < cores or (threads == 0 and cores >= 4))

    def _worker_threads(self) -> int:
        """The worker's torch threads: the embedder's setting, or all cores but one."""
        threads = self.embedder.spec[1] if self.embedder.spec else 0
        return threads or max(1, (os.cpu_count() or 2) - 1)

    def _feed_worker(self, ahead: deque[tuple[list[Observation], _Texts]]) -> None:
        """Start the worker when this call is long enough, attach it once it is ready, and queue
        the newest batch's leaf texts in it (all of the batches read ahead, the first time)."""
        embedder = self.embedder
        if embedder.worker is not None:
            embedder.prefetch([text for *_, text in ahead[-1][1].values()])
            return
        if self._worker is None:
            if self.config.embed_worker == "auto" and len(ahead) <= self.config.ingest_lookahead:
                return
            spec = embedder.spec[0]  # type: ignore[index]
            self._worker = EmbedWorker(spec, threads=self._worker_threads(), batch_size=self.config.embed_batch_size)
            try:
                self._worker.start()
            except EmbedderError as err:
                self._drop_worker(err)
            return
        if self._worker is False:
            return
        if self._worker.failed:  # attached once, and dropped by the embedder since
            self._worker = False
            return
        try:
            if not self._worker.poll_ready():
                return
            embedder.attach(self._worker)
        except EmbedderError as err:
            self._drop_worker(err)
            return
        log.info("embedding worker ready after %.1f s", self._worker.startup_s or 0.0)
        for _, texts in ahead:
            embedder.prefetch([text for *_, text in texts.values()])

    def _drop_worker(self, err: Exception) -> None:
        log.warning("%s; embedding in this process", err)
        if isinstance(self._worker, EmbedWorker):
            self._worker.close(timeout=2.0)
        self._worker = False

    def stop_embed_worker(self) -> dict[str, Any]:
        """Stop the embedding worker (if one runs; ``close`` does this too); returns what it
        reported: its start-up time and peak resident memory."""
        worker = self._worker
        if not isinstance(worker, EmbedWorker):
            return {}
        if self.embedder.worker is worker:
            self.embedder.detach()
        worker.close()
        self._worker = None
        return {"startup_s": worker.startup_s, "rss_peak_mib": worker.child_rss_peak_mib,
                "parent_waited_s": round(worker.wait_s, 3)}

    def _room_index(self, room_id: str) -> int:
        index = self.vocab.rooms.add(room_id)
        if index not in self.vocab.room_types:
            kind = self.spatial.room_category(room_id) if self.spatial is not None else ""
            confidence = getattr(self.spatial, "room_confidence", None)
            if kind and callable(confidence):  # the robot's own rooms: typed with a confidence
                self.vocab.room_type_confidences[index] = float(confidence(room_id))
            if not kind:
                words = normalize_phrase(room_id.replace("_", " ")).split()
                kind = next((k for n in range(len(words), 0, -1)
                             if (k := self.knowledge.canonical_room(" ".join(words[:n])))), "")
            if kind:
                self.vocab.room_types[index] = kind
        return index

    def _rooms_for(self, xyz: np.ndarray, given: list[str | None]) -> np.ndarray:
        """Room index of each (N, 3) point: the spatial context's room (by height too when it
        knows several storeys), else the room the observation named, else -1."""
        if self.spatial is None:
            found: list[str | None] = [None] * len(xyz)
        elif hasattr(self.spatial, "room_of_xyz"):
            found = self.spatial.room_of_xyz(xyz)
        else:
            found = self.spatial.room_of(xyz[:, :2])
        return np.array([self._room_index(r) if r else (self._room_index(g) if g else -1)
                         for r, g in zip(found, given, strict=True)], dtype=np.int32)

    def _ingest_batch(self, batch: list[Observation], texts: _Texts, report: IngestReport) -> None:
        vocab = self.vocab
        rows = [texts[o.category, o.caption] for o in batch]
        categories = [row[0] for row in rows]
        captions = [row[1] for row in rows]
        embeddings = self.embedder.embed([row[2] for row in rows])
        positions = np.array([o.position for o in batch], dtype=np.float64)
        poses = np.array([o.source_pose if o.source_pose is not None else (math.nan,) * 7 for o in batch],
                         dtype=np.float32)
        columns = ObservationBatch(
            category=np.array([vocab.categories.add(c) for c in categories], dtype=np.int32),
            position=positions,
            extent=np.array([o.extent for o in batch], dtype=np.float32),
            confidence=np.array([o.confidence for o in batch], dtype=np.float32),
            timestamp=np.array([o.timestamp for o in batch], dtype=np.float64),
            caption=np.array([vocab.captions.add(t) for t in captions], dtype=np.int32),
            room=self._rooms_for(positions, [o.room for o in batch]),
            view_xy=poses[:, :2], track=[o.object_id for o in batch], embedding=embeddings,
        )
        cfg = self.config
        fusion = self.leaves.fuse(columns, distance_m=cfg.fusion_distance_m, min_similarity=cfg.fusion_min_similarity,
                                  move_m=cfg.recluster_move_m)
        if self.spatial is not None and len(fusion.moved):
            self.leaves.room[fusion.moved] = self._rooms_for(self.leaves.position[fusion.moved],
                                                             [None] * len(fusion.moved))
        extras = {i: {k: v for k, v in (("object_id", o.object_id), ("attributes", dict(o.attributes))) if v}
                  for i, o in enumerate(batch) if o.object_id or o.attributes}

        def log_and_index() -> None:  # independent of the forest: runs while the room texts embed
            self.sightings.append({
                "leaf": fusion.leaf_of, "timestamp": columns.timestamp, "confidence": columns.confidence,
                "category": columns.category, "caption": columns.caption, "room": columns.room,
                "position": positions, "extent": columns.extent, "source_pose": poses}, extras)
            self._update_index(fusion.new_leaves, fusion.retexted)

        dirty = np.unique(np.concatenate([fusion.new_leaves, fusion.moved, fusion.retexted]))
        # With a worker, building and site embeddings land a batch later (see _land_late).
        deferring = self.embedder.worker is not None
        changes = self.forest.refresh(dirty, overlap=log_and_index, defer=deferring)
        self._batches += 1
        for node in changes.deleted:
            self._late_node.pop(node, None)
        if changes.late is not None:
            self._late.append((self._batches, *changes.late))
            self._late_node.update(dict.fromkeys(changes.late[0].tolist(), self._batches))
        if self._store is not None:
            persist.write_batch(self._store, self, leaves=np.unique(fusion.leaf_of), upserted=changes.upserted,
                                deleted=changes.deleted, batch=self._batches,
                                before_nodes=lambda conn: self._land_late(conn, keep=1, written=changes.upserted),
                                pending=self._late_node)
        else:
            self._land_late(keep=1)
        report.accepted += len(batch)
        report.merged += fusion.merged
        report.new_leaves += len(fusion.new_leaves)
        report.nodes_changed += len(changes.upserted) + len(changes.deleted)
        report.batches += 1

    def _land_late(self, conn: Any = None, *, keep: int = 0, written: set[int] | frozenset[int] = frozenset()) -> None:
        """Set the building and site embeddings of all but the last ``keep`` batches that left
        them in flight, and (with ``conn``, a store transaction) write those of nodes whose rows
        are not written anyway (``written``). A node re-summarised since gets its newer
        embedding later; until then its row holds none, and opening the store re-embeds it from
        its text (after a crash)."""
        nodes = self.forest.nodes
        while len(self._late) > keep:
            batch, ids, vectors = self._late.popleft()
            values = vectors()
            mine = np.array([self._late_node.get(n) == batch and bool(nodes.alive[n]) for n in ids.tolist()],
                            dtype=bool)
            ids, values = ids[mine], values[mine]
            nodes.set_embeddings(ids, values)
            for node in ids.tolist():
                del self._late_node[node]
            if conn is not None:
                persist.write_embeddings(conn, self, [n for n in ids.tolist() if n not in written])

    def _land_all(self) -> None:
        """Every embedding in flight set, and committed."""
        if not self._late:
            return
        if self._store is None:
            self._land_late()
            return
        with self._store.transaction() as conn:
            self._land_late(conn)

    def _update_index(self, new: np.ndarray, retexted: np.ndarray) -> None:
        if len(retexted):
            self.index.remove(retexted)
        changed = np.concatenate([new, retexted]).astype(np.int64)
        if len(changed):
            self.index.add(changed, self.leaves.vectors(changed))
            self._index_dirty = True
        if self.index.needs_rebuild():
            self._rebuild_index()

    def rebuild(self) -> None:
        """Rebuild the whole hierarchy and the leaf index from the leaves (a full build)."""
        self.forest.refresh(full=True)
        self._rebuild_index()
        self._index_dirty = True
        if self._store is not None:
            persist.write_nodes(self._store, self, set(self.forest.nodes.ids().tolist()), set(), full=True)

    def set_spatial(self, spatial: SpatialContext | None) -> None:
        """Adopt a new spatial context (e.g. the rooms the robot segmented from its own map once
        exploration is done): every leaf's room is derived again from it, room types are asked
        of it again, and the hierarchy is rebuilt (and written, with a store)."""
        self._land_all()
        self.spatial = spatial
        self.vocab.room_types.clear()
        self.vocab.room_type_confidences.clear()
        n = self.leaves.n
        if n:
            self.leaves.room[:n] = self._rooms_for(self.leaves.position[:n], [None] * n)
        if self._store is not None:
            self.committed_vocab.pop("room_types", None)
            with self._store.transaction() as conn:
                conn.execute("DELETE FROM room_types")
                persist._write_vocab(conn, self)
        self.rebuild()

    # --- queries --------------------------------------------------------------------------

    def now(self) -> float:
        """The memory's clock: the latest sighting time (seconds)."""
        return self.sightings.latest_time()

    def query(self, text: str, kind: QueryKind | str | None = None, k: int = 5, robot_pose: Pose2D | None = None,
              mode: str = "forest", *, query_embedding: np.ndarray | None = None,
              now: float | None = None) -> QueryResult:
        """Answer a question; ``kind`` is detected when None; ``mode`` "flat" is the plain-RAG baseline.

        Raises:
            QueryError: empty, huge or non-string text; k outside [1, 1000]; unknown kind or mode.
        """
        start = time.perf_counter()
        kind = check_query(text, kind, k, mode, robot_pose)
        if query_embedding is None:
            q = self.embedder.embed_uncached([text])[0]
        else:
            q = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
            if q.shape != (self.embedder.dim,) or not np.all(np.isfinite(q)):
                raise QueryError(f"query_embedding must be {self.embedder.dim} finite values, got {q.shape}")
        kind = kind or self.retriever.detect_kind(text, q)
        robot_xy = robot_pose.xy if robot_pose is not None else None
        categories, room_types = self.retriever.mentions(text)
        if kind == QueryKind.TEMPORAL:
            answer, hits = temporal_query(self, text, q, k, robot_xy=robot_xy, mode=mode, now=now,
                                          categories=categories, room_types=room_types)
        else:
            if kind == QueryKind.GLOBAL and mode == "forest":
                ranked = self.retriever.rank_nodes(q, k, categories=categories, room_types=room_types, query=text,
                                                   robot_xy=robot_xy)
            else:
                ranked = self.retriever.rank_leaves(q, kind, k, mode=mode, categories=categories,
                                                    room_types=room_types, robot_xy=robot_xy, query=text)
            hits = build_hits(self, ranked, robot_xy)
            answer = self.answerer.answer(text, kind, hits) if self.answerer else \
                template_answer(self, text, kind, hits)
        return QueryResult(answer, kind, hits, time.perf_counter() - start, mode, text)

    # --- inspection -----------------------------------------------------------------------

    def stats(self) -> MemoryStats:
        nodes = self.forest.nodes
        live = nodes.ids()
        levels, counts = np.unique(nodes.level[live], return_counts=True)
        per_level = {int(level): int(count) for level, count in zip(levels, counts, strict=True)}
        return MemoryStats(
            leaves=self.leaves.n, nodes=len(live), nodes_per_level=per_level,
            levels=(max(per_level) + 1) if per_level else int(self.leaves.n > 0),
            observations=self.sightings.n, categories=len(self.vocab.categories), rooms=len(self.vocab.rooms),
            embedder=self.embedder.name, dim=self.embedder.dim, index=self.index.kind,
            generation=self._store.generation() if self._store is not None else self._batches,
            store=str(self._store.directory) if self._store is not None else None,
        )

    def leaf_view(self, index: int) -> NodeView:
        """A leaf as a :class:`NodeView` (level 0)."""
        return leaf_view(self, index)

    def node_view(self, index: int) -> NodeView:
        """A parent node as a :class:`NodeView`."""
        return node_view(self, index)

    def iter_leaves(self) -> Iterator[NodeView]:
        """Every leaf as a view (for markers and export); use ``leaves`` columns for bulk work."""
        for index in range(self.leaves.n):
            yield self.leaf_view(index)

    def iter_nodes(self, level: int | None = None) -> Iterator[NodeView]:
        """Every parent node (optionally of one level), lowest level first."""
        ids = self.forest.nodes.ids(level)
        for index in ids[np.argsort(self.forest.nodes.level[ids], kind="stable")].tolist():
            yield self.node_view(index)

    def export_json(self, path: str | Path) -> Path:
        from embodied_stack.memory.export import export_json

        return export_json(self, Path(path))

    def export_graphml(self, path: str | Path) -> Path:
        from embodied_stack.memory.export import export_graphml

        return export_graphml(self, Path(path))
