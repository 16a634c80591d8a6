"""Rows in, rows out: writing the memory's columns to a :class:`MemoryStore` and reading them back.

Floats are stored as SQLite REALs (IEEE doubles) and embeddings as raw little-endian float16
arrays (their in-memory type), so a save/load round trip is exact.
Parent/child links live only in ``edges``; leaf and node parents are derived from it on load.
Nodes with many children (buildings, the site: thousands of children at a million leaves, and
the site changes with every insert) have their edges written as a difference from the last
commit, which ``SemanticMemory.committed_edges`` remembers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from itertools import islice

import numpy as np

from embodied_stack.memory.errors import CorruptStoreError
from embodied_stack.memory.nodes import ROOM, ZONE, NodeInfo
from embodied_stack.memory.sightings import SightingLog
from embodied_stack.memory.state import MemoryState
from embodied_stack.memory.store import LEAF_COLUMNS, NODE_COLUMNS, OBS_COLUMNS, MemoryStore

_CHUNK = 20_000
_LEAF_FIELDS = list(LEAF_COLUMNS)
_NODE_FIELDS = [c for c in NODE_COLUMNS if c != "parent"]
_EDGE_DIFF_MIN = 64


def _insert(table: str, fields: list[str]) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})"


def _write_leaves(conn: sqlite3.Connection, memory: MemoryState, ids: np.ndarray) -> None:
    """Upsert leaf rows, a chunk at a time (a million rows of Python tuples would not fit)."""
    for start in range(0, len(ids), _CHUNK):
        conn.executemany(_insert("leaves", _LEAF_FIELDS), leaf_rows(memory, ids[start:start + _CHUNK]))


def leaf_rows(memory: MemoryState, ids: np.ndarray) -> list[tuple]:
    leaves, forest = memory.leaves, memory.forest
    ids = np.asarray(ids, dtype=np.int64)
    columns = [
        ids, leaves.category[ids], leaves.caption[ids], leaves.room[ids],
        *leaves.position[ids].T, *leaves.extent[ids].astype(np.float64).T, leaves.weight[ids].astype(np.float64),
        leaves.count[ids], leaves.first_seen[ids], leaves.last_seen[ids], leaves.best_conf[ids].astype(np.float64),
        *leaves.view_xy[ids].astype(np.float64).T, *leaves.clustered_at[ids].astype(np.float64).T,
        forest.leaf_key[ids], leaves.text_row[ids],
    ]
    return list(zip(*[c.tolist() for c in columns], strict=True))


def node_rows(memory: MemoryState, ids: list[int], pending: Collection[int] = ()) -> list[tuple]:
    """Node rows; those in ``pending`` without their embedding (an empty blob)."""
    nodes, vocab = memory.forest.nodes, memory.vocab
    rows = []
    for node in ids:
        info = nodes.info[node]
        rows.append((
            node, int(nodes.level[node]), int(nodes.key[node]), int(nodes.upkey[node]),
            *nodes.position[node].tolist(), *nodes.centroid[node].tolist(), *nodes.bbox_min[node].tolist(),
            *nodes.bbox_max[node].tolist(), int(nodes.n_leaves[node]), int(nodes.medoid[node]),
            vocab.rooms[info.room] if info.room >= 0 else None, info.room_type, info.room_confidence, info.name, info.summary, info.text,
            json.dumps(info.category_counts, sort_keys=True),
            b"" if node in pending else np.ascontiguousarray(nodes.embedding[node]).tobytes(),
        ))
    return rows


def write_embeddings(conn: sqlite3.Connection, memory: MemoryState, ids: list[int]) -> None:
    """Write the embeddings of nodes whose rows are already there."""
    embedding = memory.forest.nodes.embedding
    conn.executemany("UPDATE nodes SET embedding = ? WHERE id = ?",
                     [(np.ascontiguousarray(embedding[n]).tobytes(), n) for n in ids])


def write_batch(store: MemoryStore, memory: MemoryState, *, leaves: np.ndarray, upserted: set[int],
                deleted: set[int], batch: int, own: bool = True,
                before_nodes: Callable[[sqlite3.Connection], None] | None = None,
                pending: Collection[int] = ()) -> None:
    """Commit one ingest batch: its observations, the leaves it touched, the nodes it changed
    (``own``: into the memory's own store, whose committed edges it remembers). ``before_nodes``
    runs inside the transaction just before the node rows are written; nodes in ``pending``
    have their embedding still in flight and are written without one (see :func:`load_all`)."""
    log = memory.sightings
    with store.transaction() as conn:
        _write_vocab(conn, memory)
        rows = np.arange(log.committed, log.n)
        for start in range(0, len(rows), _CHUNK):
            conn.executemany(_insert("observations", list(OBS_COLUMNS)),
                             _observation_rows(log, rows[start:start + _CHUNK], batch))
        texts = memory.leaves.texts
        done = memory.committed_vocab.get("texts", 0)
        conn.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?, ?, ?)", (
            (row, int(texts.keys[row, 0]), int(texts.keys[row, 1]), texts.vectors[row].tobytes())
            for row in range(done, texts.n)))
        memory.committed_vocab["texts"] = texts.n
        _write_leaves(conn, memory, leaves)
        if before_nodes is not None:
            before_nodes(conn)
        remember, forget = _write_nodes(conn, memory, upserted, deleted, diff=own, pending=pending)
        tracks = [(t, int(memory.leaves.tracks[t])) for r in rows.tolist()
                  if (t := log.extras.get(r, {}).get("object_id")) is not None]
        conn.executemany("INSERT OR IGNORE INTO tracks VALUES (?, ?)", tracks)
        store.set_meta(conn, {"observations": log.n, "leaves": memory.leaves.n, "batches": batch})
    log.committed = log.n
    if own:
        _remember_edges(memory, remember, forget)


def _observation_rows(log: SightingLog, rows: np.ndarray, batch: int) -> list[tuple]:
    return list(zip(
        rows.tolist(), [batch] * len(rows), log.leaf[rows].tolist(), log.category[rows].tolist(),
        log.caption[rows].tolist(), log.room[rows].tolist(), *log.position[rows].T.tolist(),
        *log.extent[rows].astype(np.float64).T.tolist(), log.confidence[rows].astype(np.float64).tolist(),
        log.timestamp[rows].tolist(), *log.source_pose[rows].astype(np.float64).T.tolist(),
        [json.dumps(log.extras[r], sort_keys=True) if r in log.extras else None for r in rows.tolist()],
        strict=True,
    ))


def _write_vocab(conn: sqlite3.Connection, memory: MemoryState) -> None:
    vocab = memory.vocab
    for kind, interner in (("category", vocab.categories), ("caption", vocab.captions), ("room", vocab.rooms)):
        done = memory.committed_vocab.get(kind, 0)
        conn.executemany("INSERT OR REPLACE INTO vocab VALUES (?, ?, ?)",
                         [(kind, i, interner[i]) for i in range(done, len(interner))])
        memory.committed_vocab[kind] = len(interner)
    # Room types are only ever added (in insertion order), so the uncommitted ones are the tail.
    done = memory.committed_vocab.get("room_types", 0)
    conn.executemany("INSERT OR REPLACE INTO room_types VALUES (?, ?)",
                     list(islice(vocab.room_types.items(), done, None)))
    memory.committed_vocab["room_types"] = len(vocab.room_types)


def _write_nodes(conn: sqlite3.Connection, memory: MemoryState, upserted: set[int], deleted: set[int], *,
                 diff: bool, pending: Collection[int] = ()) -> tuple[dict[int, np.ndarray], set[int]]:
    """Write node rows and their edges; with ``diff``, a node whose committed edges are known
    gets only the edges that changed. Returns the edge lists to remember once this commits, and
    the nodes to forget."""
    nodes = memory.forest.nodes
    known = memory.committed_edges if diff else {}
    live = sorted(upserted)
    whole = [(n,) for n in sorted(deleted | upserted) if n in deleted or n not in known]
    conn.executemany("DELETE FROM edges WHERE parent = ?", whole)
    conn.executemany("DELETE FROM nodes WHERE id = ?", [(n,) for n in sorted(deleted)])
    for start in range(0, len(live), _CHUNK):
        conn.executemany(_insert("nodes", _NODE_FIELDS), node_rows(memory, live[start:start + _CHUNK], pending))
    old_new = [(n, known[n], nodes.info[n].children) for n in live if n in known]
    removed = ((n, int(nodes.level[n] == ZONE), c) for n, old, new in old_new
               for c in np.setdiff1d(old, new, assume_unique=True).tolist())
    conn.executemany("DELETE FROM edges WHERE parent = ? AND child_is_leaf = ? AND child = ?", removed)
    added = ((n, int(nodes.level[n] == ZONE), c) for n in live
             for c in (nodes.info[n].children if n not in known
                       else np.setdiff1d(nodes.info[n].children, known[n], assume_unique=True)).tolist())
    conn.executemany("INSERT INTO edges (parent, child_is_leaf, child) VALUES (?, ?, ?)", added)
    remember = {n: nodes.info[n].children for n in live if len(nodes.info[n].children) >= _EDGE_DIFF_MIN}
    return remember, (deleted | upserted) - remember.keys()


def _remember_edges(memory: MemoryState, remember: dict[int, np.ndarray], forget: set[int]) -> None:
    for node in forget:
        memory.committed_edges.pop(node, None)
    memory.committed_edges.update(remember)


def write_all(store: MemoryStore, memory: MemoryState) -> None:
    """Write the whole memory (a new store from an in-memory memory, or after a rebuild)."""
    memory.committed_vocab.clear()
    memory.sightings.committed = 0
    with store.transaction() as conn:
        for table in ("vocab", "texts", "room_types", "observations", "leaves", "nodes", "edges", "tracks"):
            conn.execute(f"DELETE FROM {table}")
    write_batch(store, memory, leaves=np.arange(memory.leaves.n), upserted=set(memory.forest.nodes.ids().tolist()),
                deleted=set(), batch=0, own=False)
    with store.transaction() as conn:
        conn.executemany("INSERT OR IGNORE INTO tracks VALUES (?, ?)", list(memory.leaves.tracks.items()))


def write_nodes(store: MemoryStore, memory: MemoryState, upserted: set[int], deleted: set[int], *,
                full: bool = False) -> None:
    """Write changed nodes and every leaf row (after a rebuild: ``full`` replaces all nodes)."""
    with store.transaction() as conn:
        if full:
            conn.execute("DELETE FROM nodes")
            conn.execute("DELETE FROM edges")
        remember, forget = _write_nodes(conn, memory, upserted, deleted, diff=not full)
        _write_leaves(conn, memory, np.arange(memory.leaves.n))
    if full:
        memory.committed_edges.clear()
    _remember_edges(memory, remember, forget)


def load_all(store: MemoryStore, memory: MemoryState) -> list[int]:
    """Fill an empty memory from a store; inconsistent rows raise CorruptStoreError. Returns the
    nodes that were stored without their embedding (a writer stopped while it was in flight)
    and got it from their text here; the caller writes them back."""
    where = store.db_path
    vocab = memory.vocab
    for kind, interner in (("category", vocab.categories), ("caption", vocab.captions), ("room", vocab.rooms)):
        for chunk in store.select("SELECT id, value FROM vocab WHERE kind = ? ORDER BY id", (kind,)):
            for index, value in chunk:
                if interner.add(value) != index:
                    raise CorruptStoreError(f"{where}: vocab {kind!r} ids are not dense at id {index}")
        memory.committed_vocab[kind] = len(interner)
    for chunk in store.select("SELECT room, room_type FROM room_types"):
        vocab.room_types.update({int(r): t for r, t in chunk})
    memory.committed_vocab["room_types"] = len(vocab.room_types)
    dim = memory.leaves.dim
    for chunk in store.select("SELECT row, category, caption, embedding FROM texts ORDER BY row"):
        rows = np.array([r[0] for r in chunk], dtype=np.int64)
        if not np.array_equal(rows, np.arange(memory.leaves.texts.n, memory.leaves.texts.n + len(rows))):
            raise CorruptStoreError(f"{where}: text rows are not dense")
        blob = b"".join(r[3] for r in chunk)
        if len(blob) != len(rows) * dim * 2:
            raise CorruptStoreError(f"{where}: text embeddings are not {dim} float16 values each")
        memory.leaves.texts.append(np.array([r[1:3] for r in chunk], dtype=np.int32),
                                   np.frombuffer(blob, dtype=np.float16).reshape(len(rows), dim))
    memory.committed_vocab["texts"] = memory.leaves.texts.n
    expected = 0
    for chunk in store.select(f"SELECT {', '.join(_LEAF_FIELDS)} FROM leaves ORDER BY id"):
        numbers = np.array(chunk, dtype=np.float64)
        ids = numbers[:, 0].astype(np.int64)
        if not np.array_equal(ids, np.arange(expected, expected + len(ids))):
            raise CorruptStoreError(f"{where}: leaf ids are not dense (expected {expected}...)")
        expected += len(ids)
        text_rows = numbers[:, 21].astype(np.int64)
        if len(text_rows) and (text_rows.min() < 0 or text_rows.max() >= memory.leaves.texts.n):
            raise CorruptStoreError(f"{where}: a leaf refers to a text row that does not exist")
        rows = memory.leaves.append({
            "category": numbers[:, 1], "caption": numbers[:, 2], "room": numbers[:, 3],
            "position": numbers[:, 4:7], "extent": numbers[:, 7:10], "weight": numbers[:, 10],
            "count": numbers[:, 11], "first_seen": numbers[:, 12], "last_seen": numbers[:, 13],
            "best_conf": numbers[:, 14], "view_xy": numbers[:, 15:17], "clustered_at": numbers[:, 17:20],
            "text_row": text_rows,
        })
        memory.forest.grow_leaf_columns()
        memory.forest.leaf_key[rows] = numbers[:, 20].astype(np.int64)
    _check_ids(where, "leaf", memory.leaves.category[: memory.leaves.n], len(vocab.categories))
    _check_ids(where, "caption", memory.leaves.caption[: memory.leaves.n], len(vocab.captions))
    unembedded = _load_nodes(store, memory)
    memory.forest.reindex()
    _load_sightings(store, memory)
    for chunk in store.select("SELECT object_id, leaf FROM tracks"):
        memory.leaves.tracks.update({t: int(leaf) for t, leaf in chunk})
    return unembedded


def _check_ids(where: object, what: str, ids: np.ndarray, size: int) -> None:
    if len(ids) and (ids.min() < 0 or ids.max() >= size):
        raise CorruptStoreError(f"{where}: a {what} refers to a vocabulary entry that does not exist")


def _load_nodes(store: MemoryStore, memory: MemoryState) -> list[int]:
    """Load nodes and edges; returns the buildings and sites stored without an embedding, which
    get one from their text here."""
    where = store.db_path
    nodes = memory.forest.nodes
    dim = nodes.dim
    unembedded: list[int] = []
    for chunk in store.select(f"SELECT {', '.join(_NODE_FIELDS)} FROM nodes ORDER BY id"):
        for row in chunk:
            node_id, level, key, upkey = (int(v) for v in row[:4])
            while nodes.size <= node_id:
                nodes.kill(nodes.new(0, -1))
            nodes.level[node_id] = level
            nodes.alive[node_id] = True
            nodes.key[node_id] = key
            nodes.upkey[node_id] = upkey
            nodes.position[node_id] = row[4:7]
            nodes.centroid[node_id] = row[7:10]
            nodes.bbox_min[node_id] = row[10:13]
            nodes.bbox_max[node_id] = row[13:16]
            nodes.n_leaves[node_id] = row[16]
            nodes.medoid[node_id] = row[17]
            if not 0 <= row[17] < memory.leaves.n:
                raise CorruptStoreError(f"{where}: node {node_id} names a missing medoid leaf {row[17]}")
            room, room_type, room_conf, name, summary, text, categories, blob = row[18:26]
            if len(blob) == 0 and level > ROOM:
                unembedded.append(node_id)  # its embedding was in flight when the writer stopped
            elif len(blob) != dim * 2:
                raise CorruptStoreError(f"{where}: node {node_id} embedding is not {dim} float16 values")
            else:
                nodes.embedding[node_id] = np.frombuffer(blob, dtype=np.float16)
            info = NodeInfo(children=np.zeros(0, dtype=np.int64))
            nodes.info[node_id] = info
            info.name, info.summary, info.text, info.room_type = name, summary, text, room_type
            info.room_confidence = float(room_conf)
            info.room = memory.vocab.rooms.get(room) if room is not None else -1
            if info.room is None:
                raise CorruptStoreError(f"{where}: node {node_id} names an unknown room {room!r}")
            info.category_counts = json.loads(categories)
    children: dict[int, list[int]] = {}
    for chunk in store.select("SELECT parent, child, child_is_leaf FROM edges ORDER BY parent, child"):
        for parent, child, is_leaf in chunk:
            if parent >= nodes.size or not nodes.alive[parent]:
                raise CorruptStoreError(f"{where}: an edge names the missing node {parent}")
            limit = memory.leaves.n if is_leaf else nodes.size
            if child >= limit or (not is_leaf and not nodes.alive[child]):
                raise CorruptStoreError(f"{where}: node {parent} has a missing child {child}")
            children.setdefault(parent, []).append(child)
    nodes.version += 1
    if unembedded:
        nodes.embedding[unembedded] = memory.embedder.embed([nodes.info[n].text for n in unembedded])
    upper = nodes.ids()[nodes.level[nodes.ids()] >= ROOM]
    nodes.set_embeddings(upper, nodes.embedding[upper])
    forest = memory.forest
    for parent, kids in children.items():
        array = np.asarray(kids, dtype=np.int64)
        nodes.info[parent].children = array
        if len(array) >= _EDGE_DIFF_MIN:
            memory.committed_edges[parent] = array
        if nodes.level[parent] == 1:
            forest.leaf_parent[array] = parent
        else:
            nodes.parent[array] = parent
    return unembedded


def _load_sightings(store: MemoryStore, memory: MemoryState) -> None:
    log = memory.sightings
    for chunk in store.select(f"SELECT {', '.join(OBS_COLUMNS)} FROM observations ORDER BY id"):
        numbers = np.array([row[2:21] for row in chunk], dtype=np.float64)
        extras = {i: json.loads(row[21]) for i, row in enumerate(chunk) if row[21] is not None}
        log.append({
            "leaf": numbers[:, 0], "category": numbers[:, 1], "caption": numbers[:, 2], "room": numbers[:, 3],
            "position": numbers[:, 4:7], "extent": numbers[:, 7:10], "confidence": numbers[:, 10],
            "timestamp": numbers[:, 11], "source_pose": numbers[:, 12:19],
        }, extras)
    if log.n and (log.leaf[: log.n].max() >= memory.leaves.n):
        raise CorruptStoreError(f"{store.db_path}: an observation refers to a missing leaf")
    log.committed = log.n
