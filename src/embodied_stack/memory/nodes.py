"""Parent nodes of the forest in columnar arrays, indexed by node id.

Parent levels: 1 zone, 2 room, 3 building, 4 site (the root). Numeric fields that retrieval
touches for many nodes at once (level, liveness, parent, position, box, embedding) are numpy
columns; the rest (name, summary, children, category counts) lives in one small object per
node. Ids are never reused until a full rebuild, so a dead id simply stays dead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        self.info: dict[int, NodeInfo] = {}
        self.room_types: list[str] = []  # room type names the ``room_type`` column indexes

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
                "n_leaves", "medoid", "room_type", "room_confidence", "embedding")

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
        return node

    def kill(self, node: int) -> None:
        self.alive[node] = False
        self.parent[node] = -1
        self.info.pop(node, None)

    def clear(self) -> None:
        self.__init__(self.dim)

    def ids(self, level: int | None = None) -> np.ndarray:
        """Live node ids, optionally of one level."""
        mask = self.alive[: self.size].copy()
        if level is not None:
            mask &= self.level[: self.size] == level
        return np.flatnonzero(mask)

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
