"""The persistent store: one SQLite database (WAL) plus a FAISS index file beside it.

Layout of a store directory::

    memory.sqlite        meta, vocab, texts, observations, leaves, nodes, edges, tracks
    leaves.faiss         the leaf vector index (faiss.write_index; rebuilt from SQLite when stale)
    leaves.faiss.json    {"generation": G, "count": N} of the database state the index matches

Every ingest batch is one transaction, so a crash (even ``kill -9``) loses at most the batch
in flight, and the database opens cleanly after it. The generation counter is bumped by every
commit; an index file whose generation differs from the database's is stale and is rebuilt
from the embeddings in SQLite (never the other way round). A database that fails SQLite's
integrity check is reported, never replaced. Nothing is unpickled: rows are numbers, text,
JSON and raw little-endian float arrays.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embodied_stack.memory.errors import (
    CorruptStoreError,
    PathOutsideRootError,
    SchemaVersionError,
    StoreError,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STORE_FORMAT = "embodied-stack.memory-store"
DB_NAME = "memory.sqlite"
INDEX_NAME = "leaves.faiss"
INDEX_META_NAME = "leaves.faiss.json"

LEAF_COLUMNS = ("id", "category", "caption", "room", "x", "y", "z", "ex", "ey", "ez", "weight", "count",
                "first_seen", "last_seen", "best_conf", "view_x", "view_y", "cx", "cy", "cz", "pkey", "text_row")
NODE_COLUMNS = ("id", "level", "parent", "key", "upkey", "x", "y", "z", "mx", "my", "mz", "bx0", "by0", "bz0",
                "bx1", "by1", "bz1", "n_leaves", "medoid", "room", "room_type", "room_conf", "name", "summary", "text", "categories",
                "embedding")
OBS_COLUMNS = ("id", "batch", "leaf", "category", "caption", "room", "x", "y", "z", "ex", "ey", "ez",
               "confidence", "timestamp", "px", "py", "pz", "qx", "qy", "qz", "qw", "extra")

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE vocab (kind TEXT NOT NULL, id INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE room_types (room INTEGER PRIMARY KEY, room_type TEXT NOT NULL);
CREATE TABLE observations (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, leaf INTEGER NOT NULL,
  category INTEGER NOT NULL, caption INTEGER NOT NULL, room INTEGER NOT NULL, x REAL, y REAL, z REAL,
  ex REAL, ey REAL, ez REAL, confidence REAL, timestamp REAL, px REAL, py REAL, pz REAL, qx REAL, qy REAL,
  qz REAL, qw REAL, extra TEXT);
CREATE INDEX observations_leaf ON observations (leaf);
CREATE INDEX observations_time ON observations (timestamp);
CREATE TABLE texts (row INTEGER PRIMARY KEY, category INTEGER NOT NULL, caption INTEGER NOT NULL,
  embedding BLOB NOT NULL);
CREATE TABLE leaves ({", ".join(f"{c} {'INTEGER PRIMARY KEY' if c == 'id' else ''}" for c in LEAF_COLUMNS)});
CREATE TABLE nodes ({", ".join(f"{c} {'INTEGER PRIMARY KEY' if c == 'id' else 'BLOB' if c == 'embedding' else ''}"
                                 for c in NODE_COLUMNS)});
CREATE TABLE edges (parent INTEGER NOT NULL, child_is_leaf INTEGER NOT NULL, child INTEGER NOT NULL,
  PRIMARY KEY (parent, child_is_leaf, child)) WITHOUT ROWID;
CREATE TABLE tracks (object_id TEXT PRIMARY KEY, leaf INTEGER NOT NULL);
"""


def resolve_inside(root: str | Path, path: str | Path) -> Path:
    """``path`` (relative paths are taken from ``root``) resolved, refusing anything outside ``root``.

    Raises:
        PathOutsideRootError: the resolved path (symlinks followed) is not under the root.
    """
    root_resolved = Path(root).expanduser().resolve()
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = root_resolved / candidate
    resolved = candidate.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise PathOutsideRootError(f"{path}: resolves to {resolved}, outside the memory root {root_resolved}; "
                                   "give a path inside the root (or configure memory_root)")
    return resolved


class MemoryStore:
    """A store directory; opened with :meth:`open` (existing) or :meth:`create` (new)."""

    def __init__(self, directory: Path, connection: sqlite3.Connection) -> None:
        self.directory = directory
        self.db_path = directory / DB_NAME
        self.conn = connection

    @classmethod
    def create(cls, directory: Path, meta: dict[str, Any]) -> MemoryStore:
        """Create an empty store in a new or empty directory."""
        if directory.exists() and any(directory.iterdir()):
            raise StoreError(f"{directory}: not empty; a new store needs an empty or missing directory")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            conn = _connect(directory / DB_NAME)
            with conn:
                conn.executescript(_SCHEMA)
                values = {"format": STORE_FORMAT, "schema_version": SCHEMA_VERSION, "generation": 0, **meta}
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{directory}: cannot create the memory store ({err})") from err
        return cls(directory, conn)

    @classmethod
    def open(cls, directory: Path, *, check_integrity: bool = True) -> MemoryStore:
        """Open an existing store, checking its format, schema version and integrity."""
        db = directory / DB_NAME
        if not db.is_file():
            raise StoreError(f"{directory}: no memory store here (missing {DB_NAME})")
        try:
            conn = _connect(db)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as err:
            raise CorruptStoreError(f"{db}: not a readable SQLite database ({err}); it was left untouched") from err
        if "meta" not in tables:
            conn.close()
            raise CorruptStoreError(f"{db}: no 'meta' table; this is not an embodied-stack memory store")
        store = cls(directory, conn)
        meta = store.meta()
        if meta.get("format") != STORE_FORMAT:
            conn.close()
            raise CorruptStoreError(f"{db}: format {meta.get('format')!r}, expected {STORE_FORMAT!r}")
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            conn.close()
            raise SchemaVersionError(f"{db}: schema version {version!r}; this embodied-stack reads version "
                                     f"{SCHEMA_VERSION} (re-ingest the observations into a new store)")
        missing = {"vocab", "texts", "observations", "leaves", "nodes", "edges", "tracks", "room_types"} - tables
        if missing:
            conn.close()
            raise CorruptStoreError(f"{db}: missing table(s) {sorted(missing)}")
        if check_integrity:
            try:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as err:
                conn.close()
                raise CorruptStoreError(f"{db}: integrity check failed ({err}); the file was left untouched") from err
            if result != "ok":
                conn.close()
                raise CorruptStoreError(f"{db}: integrity check failed ({result}); the file was left untouched")
        return store

    def meta(self) -> dict[str, Any]:
        try:
            rows = self.conn.execute("SELECT key, value FROM meta").fetchall()
            return {key: json.loads(value) for key, value in rows}
        except (sqlite3.DatabaseError, json.JSONDecodeError) as err:
            raise CorruptStoreError(f"{self.db_path}: unreadable meta table ({err})") from err

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; the generation counter is bumped inside it."""
        try:
            with self.conn:
                yield self.conn
                self.conn.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                                  "WHERE key = 'generation'")
        except sqlite3.Error as err:
            raise StoreError(f"{self.db_path}: write failed ({err}); the batch was not stored") from err

    def set_meta(self, conn: sqlite3.Connection, values: dict[str, Any]) -> None:
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])

    def generation(self) -> int:
        return int(self.meta().get("generation", 0))

    def select(self, sql: str, params: Iterable[Any] = (), chunk: int = 50_000) -> Iterator[list[tuple]]:
        """Rows of a query in chunks (bounded memory at a million rows)."""
        try:
            cursor = self.conn.execute(sql, tuple(params))
            while True:
                rows = cursor.fetchmany(chunk)
                if not rows:
                    return
                yield rows
        except sqlite3.DatabaseError as err:
            raise CorruptStoreError(f"{self.db_path}: cannot read ({err})") from err

    def index_paths(self) -> tuple[Path, Path]:
        return self.directory / INDEX_NAME, self.directory / INDEX_META_NAME

    def index_is_current(self, count: int) -> bool:
        index_path, meta_path = self.index_paths()
        if not index_path.is_file() or not meta_path.is_file():
            return False
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return False
        return isinstance(meta, dict) and meta.get("generation") == self.generation() and meta.get("count") == count

    def mark_index(self, count: int) -> None:
        """Record that the index file matches the database's current generation (written last,
        after the index file itself, through a rename so it is never half written)."""
        _, meta_path = self.index_paths()
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": self.generation(), "count": count}), encoding="utf-8")
        tmp.replace(meta_path)

    def close(self) -> None:
        self.conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level="DEFERRED", check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    return conn
