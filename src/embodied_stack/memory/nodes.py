"""Parent nodes of the forest in columnar arrays, indexed by node id.

Parent levels: 1 zone, 2 room, 3 building, 4 site (the root). Numeric fields that retrieval
touches for many nodes at once (level, liveness, parent, position, box, embedding) are numpy
columns; the rest (name, summary, children, category counts) lives in one small object per
node. Ids are never reused until a full rebuild, so a dead id simply stays dead.

Embeddings are float16 (zones are most of the nodes). Rooms and the levels above also keep a
float32 copy of their (float16-rounded) embedding: a query scores every child of the root and
many rooms at once, and widening thousands of float16 rows per query would cost milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np

ZONE, ROOM, BUILDING, SITE = 1, 2, 3, 4
TOP_LEVEL = SITE


@dataclass(slots=True)
class NodeInfo:
    """The variable-size part of a parent node."""

    children: np.ndarray  # leaf indices (zones) or node ids, sorted
    name: str = ""
    summary: str = ""
    text: str = ""
    room: int = -1  # room index when every leaf under it is in that room
    room_type: str | None = None
    room_confidence: float = 0.0
    category_counts: dict[str, int] = field(default_factory=dict)


class NodeTable:
    """Growable columns of parent nodes."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.size = 0
        self._cap = 0
        self.level = np.zeros(0, dtype=np.int8)
        self.alive = np.zeros(0, dtype=bool)
        self.parent = np.zeros(0, dtype=np.int64)
        self.key = np.zeros(0, dtype=np.int64)  # partition code at its own level
        self.upkey = np.zeros(0, dtype=np.int64)  # partition code at the level above
        self.position = np.zeros((0, 3))
        self.centroid = np.zeros((0, 3))
        self.bbox_min = np.zeros((0, 3))
        self.bbox_max = np.zeros((0, 3))
        self.n_leaves = np.zeros(0, dtype=np.int64)
        self.medoid = np.zeros(0, dtype=np.int64)  # the leaf whose position is the node's position
        self.room_type = np.zeros(0, dtype=np.int16)  # index into ``room_types``, -1 none
        self.room_confidence = np.zeros(0, dtype=np.float32)
        self.embedding = np.zeros((0, dim), dtype=np.float16)
        self.wide_row = np.zeros(0, dtype=np.int32)  # row in ``_wide`` (float32 copy), -1 none
        self._wide = np.zeros((0, dim), dtype=np.float32)
        self._wide_free: list[int] = []
        self._wide_used = 0
        self.info: dict[int, NodeInfo] = {}
        self.room_types: list[str] = []  # room type names the ``room_type`` column indexes
        self.version = 0
        """Bumped whenever a node is created, killed or re-summarised (keys derived caches)."""
        self._level_ids: dict[int | None, tuple[int, np.ndarray]] = {}

    def set_room_type(self, node: int, room_type: str | None, confidence: float) -> None:
        """Record a node's room type (also in the columns, for vectorised scoring)."""
        info = self.info[node]
        info.room_type, info.room_confidence = room_type, confidence
        if room_type is None:
            self.room_type[node] = -1
        else:
            if room_type not in self.room_types:
                self.room_types.append(room_type)
            self.room_type[node] = self.room_types.index(room_type)
        self.room_confidence[node] = confidence

    _COLUMNS = ("level", "alive", "parent", "key", "upkey", "position", "centroid", "bbox_min", "bbox_max",
                "n_leaves", "medoid", "room_type", "room_confidence", "embedding", "wide_row")

    def set_embeddings(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store embeddings (as float16; rooms and above also as a float32 copy of those values)."""
        ids = np.asarray(ids, dtype=np.int64)
        self.embedding[ids] = vectors
        wide = ids[self.level[ids] >= ROOM]
        if len(wide) == 0:
            return
        rows = self.wide_row[wide]
        for i in np.flatnonzero(rows < 0).tolist():
            rows[i] = self._wide_slot()
        self.wide_row[wide] = rows
        self._wide[rows] = self.embedding[wide]

    def _wide_slot(self) -> int:
        if self._wide_free:
            return self._wide_free.pop()
        if self._wide_used == len(self._wide):
            grown = np.zeros((max(256, self._wide_used * 3 // 2), self.dim), dtype=np.float32)
            grown[: self._wide_used] = self._wide[: self._wide_used]
            self._wide = grown
        self._wide_used += 1
        return self._wide_used - 1

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """float32 embeddings of nodes (equal to the float16 column widened)."""
        ids = np.asarray(ids, dtype=np.int64)
        rows = self.wide_row[ids]
        have = rows >= 0
        if have.all():
            return self._wide[rows]
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        out[have] = self._wide[rows[have]]
        out[~have] = self.embedding[ids[~have]]
        return out

    def new(self, level: int, key: int) -> int:
        if self.size == self._cap:
            cap = max(256, self._cap * 3 // 2)
            for name in self._COLUMNS:
                old = getattr(self, name)
                grown = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
                grown[: self.size] = old[: self.size]
                setattr(self, name, grown)
            self.parent[self.size:] = -1
            self.upkey[self.size:] = -1
            self.wide_row[self.size:] = -1
            self._cap = cap
        node = self.size
        self.size += 1
        self.level[node] = level
        self.alive[node] = True
        self.parent[node] = -1
        self.key[node] = key
        self.upkey[node] = -1
        self.room_type[node] = -1
        self.info[node] = NodeInfo(children=np.zeros(0, dtype=np.int64))
        self.version += 1
        return node

    def kill(self, node: int) -> None:
        self.alive[node] = False
        self.parent[node] = -1
        self.info.pop(node, None)
        if self.wide_row[node] >= 0:
            self._wide_free.append(int(self.wide_row[node]))
            self.wide_row[node] = -1
        self.version += 1

    def clear(self) -> None:
        version = self.version
        self.__init__(self.dim)
        self.version = version + 1

    def ids(self, level: int | None = None) -> np.ndarray:
        """Live node ids, optionally of one level (cached until a node is created or killed;
        treat the array as read-only)."""
        found = self._level_ids.get(level)
        if found is not None and found[0] == self.version:
            return found[1]
        mask = self.alive[: self.size].copy()
        if level is not None:
            mask &= self.level[: self.size] == level
        ids = np.flatnonzero(mask)
        ids.setflags(write=False)
        self._level_ids[level] = (self.version, ids)
        return ids

    def roots(self) -> np.ndarray:
        live = self.ids()
        return live[self.parent[live] < 0]

    def ancestors(self, node: int) -> list[int]:
        """Parent, grandparent, ... of a node, nearest first."""
        chain = []
        current = int(self.parent[node])
        while current >= 0:
            chain.append(current)
            current = int(self.parent[current])
        return chain


class ChildNames(Sequence[str]):
    """The names of a node's children, read on demand: a summary names a few, and the site of a
    million leaves has thousands of children."""

    def __init__(self, info: dict[int, NodeInfo], children: np.ndarray) -> None:
        self._info = info
        self._children = children

    def __len__(self) -> int:
        return len(self._children)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._info[c].name for c in self._children[index].tolist()]
        return self._info[int(self._children[index])].name
