"""Leaves of the forest in columnar arrays, and the fusion of sightings into them.

A leaf is one object the robot has seen: a running confidence-weighted position and extent in
``map`` (metres), its sighting count, first/last seen times (seconds), its category, the caption
of its most confident sighting and the embedding of that text. At a million leaves one Python
object per leaf would not fit the memory budget, so every field is a numpy column. Embeddings
live in a table of distinct (category, caption) texts that leaves point into: leaves that share
a text ("a white chair") share one float16 row.

Fusion (per batch, vectorised): a sighting joins an existing leaf of the same category whose
centre is within the gate distance and whose caption embedding has cosine >=
``fusion_min_similarity`` with the sighting's (the nearest such leaf), or the leaf its
perception track id (``object_id``) already names. The gate grows with the object's size,
``min(fusion_distance_m, 0.3 m + half the larger horizontal extent)``, so two small photo frames
40 cm apart stay two leaves while a sofa seen from both ends stays one. A sighting without a
caption skips the embedding test (it only has its category to go by). Sightings in two
different known rooms are never fused: there is a wall between them. Candidates come from a
spatial hash (category, cell) kept as a sorted key array; sightings of one batch that match no
leaf are grouped among themselves (connected components of the same test) into new leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from embodied_stack.memory.keyindex import KeyIndex

_CELL_BITS = 21
_CELL_OFFSET = 1 << (_CELL_BITS - 1)
_NEIGHBOURS = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)
_RETEXT_MARGIN = 0.05
_GATE_BASE_M = 0.3
BLANK_CAPTION = 0


@dataclass
class ObservationBatch:
    """Validated observations of one batch as columns (see :mod:`embodied_stack.memory.types`)."""

    category: np.ndarray  # (B,) int32 category ids
    position: np.ndarray  # (B, 3) float64, map
    extent: np.ndarray  # (B, 3) float32, metres
    confidence: np.ndarray  # (B,) float32 in [0, 1]
    timestamp: np.ndarray  # (B,) float64 seconds
    caption: np.ndarray  # (B,) int32 caption ids (BLANK_CAPTION = no caption)
    room: np.ndarray  # (B,) int32 room ids, -1 unknown
    view_xy: np.ndarray  # (B, 2) float32 camera position when seen, NaN unknown
    track: list[str | None]  # perception track ids
    embedding: np.ndarray  # (B, D) float32 unit rows

    def __len__(self) -> int:
        return len(self.category)


@dataclass
class FusionResult:
    leaf_of: np.ndarray  # (B,) leaf index each observation went to
    new_leaves: np.ndarray  # indices of leaves created by this batch
    merged: int  # observations that joined an existing leaf or another sighting of this batch
    moved: np.ndarray  # existing leaves that moved more than the re-cluster distance
    retexted: np.ndarray  # existing leaves whose caption (and embedding) changed


class LeafTable:
    """Growable columns of leaves plus the fusion spatial hash."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self.n = 0
        self._cap = 0
        self.position = np.zeros((0, 3))
        self.extent = np.zeros((0, 3), dtype=np.float32)
        self.weight = np.zeros(0, dtype=np.float32)
        self.count = np.zeros(0, dtype=np.int32)
        self.first_seen = np.zeros(0)
        self.last_seen = np.zeros(0)
        self.category = np.zeros(0, dtype=np.int32)
        self.caption = np.zeros(0, dtype=np.int32)
        self.best_conf = np.zeros(0, dtype=np.float32)
        self.room = np.zeros(0, dtype=np.int32)
        self.view_xy = np.zeros((0, 2), dtype=np.float32)
        self.clustered_at = np.zeros((0, 3), dtype=np.float32)
        self.text_row = np.zeros(0, dtype=np.int32)
        self.texts = TextTable(dim)
        self.tracks: dict[str, int] = {}
        self._grow(capacity)
        self._hkey = np.zeros(0, dtype=np.int64)
        self._snap_keys = np.zeros(0, dtype=np.int64)
        self._snap_leaf = np.zeros(0, dtype=np.int64)
        self._pend_keys = np.zeros(0, dtype=np.int64)
        self._pend_leaf = np.zeros(0, dtype=np.int64)
        self._cell = 1.0
        self._by_category = KeyIndex()

    _COLUMNS = ("position", "extent", "weight", "count", "first_seen", "last_seen", "category", "caption",
                "best_conf", "room", "view_xy", "clustered_at", "text_row")

    def _grow(self, needed: int) -> None:
        if needed <= self._cap:
            return
        cap = max(needed, int(self._cap * 1.5) + 1024)
        for name in self._COLUMNS:
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        self._cap = cap

    def append(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Append leaves given as full columns (used by fusion and by the store loader)."""
        count = len(columns["position"])
        self._grow(self.n + count)
        rows = np.arange(self.n, self.n + count)
        for name in self._COLUMNS:
            if name in columns:
                getattr(self, name)[rows] = columns[name]
        if "clustered_at" not in columns:
            self.clustered_at[rows] = columns["position"]
        self.n += count
        self._index_keys(rows)
        return rows

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Embeddings (float32 copies of the float16 rows) of some leaves."""
        return self.texts.vectors[self.text_row[ids]].astype(np.float32)

    def with_category(self, category_ids: np.ndarray) -> np.ndarray:
        """Ascending indices of the leaves of these category ids (no scan of every leaf)."""
        return self._by_category.lookup(self.category, self.n, category_ids)

    # --- spatial hash -------------------------------------------------------------------

    def set_cell(self, cell_m: float) -> None:
        self._cell = float(cell_m)
        self._hkey = np.zeros(0, dtype=np.int64)
        self._snap_keys = np.zeros(0, dtype=np.int64)
        self._snap_leaf = np.zeros(0, dtype=np.int64)
        self._pend_keys = np.zeros(0, dtype=np.int64)
        self._pend_leaf = np.zeros(0, dtype=np.int64)
        if self.n:
            self._index_keys(np.arange(self.n))

    def _keys(self, category: np.ndarray, xy: np.ndarray) -> np.ndarray:
        cells = np.floor(xy / self._cell).astype(np.int64) + _CELL_OFFSET
        return (category.astype(np.int64) << (2 * _CELL_BITS)) | (cells[:, 0] << _CELL_BITS) | cells[:, 1]

    def _index_keys(self, rows: np.ndarray) -> None:
        if len(self._hkey) < self._cap:
            grown = np.full(self._cap, -1, dtype=np.int64)
            grown[: len(self._hkey)] = self._hkey
            self._hkey = grown
        keys = self._keys(self.category[rows], self.position[rows, :2])
        self._hkey[rows] = keys
        if len(self._pend_keys) + len(rows) > max(4096, self.n // 8):
            live = np.arange(self.n)
            order = np.argsort(self._hkey[live], kind="stable")
            self._snap_keys, self._snap_leaf = self._hkey[live][order], live[order]
            self._pend_keys = np.zeros(0, dtype=np.int64)
            self._pend_leaf = np.zeros(0, dtype=np.int64)
            return
        # Rows since the snapshot stay sorted by key as they come (a merge, not a sort per lookup:
        # one-by-one inserts into a million leaves look up ~100k pending rows each time).
        order = np.argsort(keys, kind="stable")
        at = np.searchsorted(self._pend_keys, keys[order], side="right")
        self._pend_keys = np.insert(self._pend_keys, at, keys[order])
        self._pend_leaf = np.insert(self._pend_leaf, at, np.asarray(rows, dtype=np.int64)[order])

    def _candidates(self, category: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(observation index, leaf index) pairs in the 3x3 cells around each observation."""
        cells = np.floor(xy / self._cell).astype(np.int64)
        query_obs = np.repeat(np.arange(len(xy)), len(_NEIGHBOURS))
        neighbour_cells = (cells[:, None, :] + _NEIGHBOURS[None, :, :]).reshape(-1, 2) + _CELL_OFFSET
        keys = (np.repeat(category.astype(np.int64), len(_NEIGHBOURS)) << (2 * _CELL_BITS)) \
            | (neighbour_cells[:, 0] << _CELL_BITS) | neighbour_cells[:, 1]
        pairs_obs, pairs_leaf = [], []
        for sorted_keys, sorted_leaf in ((self._snap_keys, self._snap_leaf), (self._pend_keys, self._pend_leaf)):
            query, leaf = _range_pairs(sorted_keys, sorted_leaf, keys)
            # An entry is stale when its leaf has moved to another cell since.
            fresh = self._hkey[leaf] == keys[query]
            pairs_obs.append(query_obs[query[fresh]])
            pairs_leaf.append(leaf[fresh])
        if not pairs_obs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        obs = np.concatenate(pairs_obs)
        leaf = np.concatenate(pairs_leaf)
        unique = np.unique(obs * (self.n + 1) + leaf)
        return unique // (self.n + 1), unique % (self.n + 1)

    # --- fusion -------------------------------------------------------------------------

    def fuse(self, batch: ObservationBatch, *, distance_m: float, min_similarity: float,
             move_m: float) -> FusionResult:
        """Merge a batch into the leaves; returns where each observation went."""
        if self._cell != distance_m:
            self.set_cell(distance_m)
        size = len(batch)
        leaf_of = np.full(size, -1, dtype=np.int64)
        for i, track in enumerate(batch.track):
            if track is not None and track in self.tracks:
                leaf_of[i] = self.tracks[track]
        todo = np.flatnonzero(leaf_of < 0)
        if len(todo) and self.n:
            obs, leaf = self._candidates(batch.category[todo], batch.position[todo, :2])
            obs_global = todo[obs]
            same = self.category[leaf] == batch.category[obs_global]
            obs_global, leaf = obs_global[same], leaf[same]
            distance = np.linalg.norm(self.position[leaf] - batch.position[obs_global], axis=1)
            similarity = np.einsum("ij,ij->i", self.vectors(leaf), batch.embedding[obs_global])
            gate = _gate(self.extent[leaf], batch.extent[obs_global], distance_m)
            blank = (self.caption[leaf] == BLANK_CAPTION) | (batch.caption[obs_global] == BLANK_CAPTION)
            ok = (distance <= gate) & ((similarity >= min_similarity) | blank) \
                & _same_room(self.room[leaf], batch.room[obs_global])
            obs_global, leaf, distance = obs_global[ok], leaf[ok], distance[ok]
            order = np.lexsort((distance, obs_global))
            first = np.ones(len(order), dtype=bool)
            first[1:] = obs_global[order][1:] != obs_global[order][:-1]
            leaf_of[obs_global[order][first]] = leaf[order][first]
        matched = np.flatnonzero(leaf_of >= 0)
        new_leaves = self._create(batch, np.flatnonzero(leaf_of < 0), leaf_of, distance_m, min_similarity)
        moved, retexted = self._merge_existing(batch, matched, leaf_of[matched], move_m)
        for i, track in enumerate(batch.track):
            if track is not None:
                self.tracks.setdefault(track, int(leaf_of[i]))
        merged = size - len(new_leaves)
        return FusionResult(leaf_of, new_leaves, merged, moved, retexted)

    def _create(self, batch: ObservationBatch, fresh: np.ndarray, leaf_of: np.ndarray,
                distance_m: float, min_similarity: float) -> np.ndarray:
        if len(fresh) == 0:
            return np.zeros(0, dtype=np.int64)
        sub_pos = batch.position[fresh]
        sub_cat = batch.category[fresh]
        keys = self._keys(sub_cat, sub_pos[:, :2])
        order = np.argsort(keys, kind="stable")
        cells = np.floor(sub_pos[:, :2] / self._cell).astype(np.int64)
        neighbour_cells = (cells[:, None, :] + _NEIGHBOURS[None, :, :]).reshape(-1, 2) + _CELL_OFFSET
        query_keys = (np.repeat(sub_cat.astype(np.int64), len(_NEIGHBOURS)) << (2 * _CELL_BITS)) \
            | (neighbour_cells[:, 0] << _CELL_BITS) | neighbour_cells[:, 1]
        query, b = _range_pairs(keys[order], order.astype(np.int64), query_keys)
        a = query // len(_NEIGHBOURS)
        keep = a < b
        a, b = a[keep], b[keep]
        gate = _gate(batch.extent[fresh[a]], batch.extent[fresh[b]], distance_m)
        blank = (batch.caption[fresh[a]] == BLANK_CAPTION) | (batch.caption[fresh[b]] == BLANK_CAPTION)
        ok = (sub_cat[a] == sub_cat[b]) & _same_room(batch.room[fresh[a]], batch.room[fresh[b]]) \
            & (np.linalg.norm(sub_pos[a] - sub_pos[b], axis=1) <= gate) \
            & ((np.einsum("ij,ij->i", batch.embedding[fresh[a]], batch.embedding[fresh[b]]) >= min_similarity) | blank)
        graph = coo_matrix((np.ones(int(ok.sum())), (a[ok], b[ok])), shape=(len(fresh), len(fresh)))
        groups, labels = connected_components(graph, directed=False)
        agg = _aggregate(batch, fresh, labels, groups)
        best, latest = agg["best"], agg["latest"]
        rows = self.append({
            "position": agg["pos_sum"] / agg["weight"][:, None],
            "extent": agg["ext_sum"] / agg["weight"][:, None],
            "weight": agg["weight"], "count": agg["count"],
            "first_seen": agg["t_min"], "last_seen": agg["t_max"],
            "category": batch.category[best], "caption": batch.caption[best],
            "best_conf": batch.confidence[best], "room": batch.room[best],
            "view_xy": batch.view_xy[latest],
            "text_row": self.texts.rows(batch.category[best], batch.caption[best], batch.embedding[best]),
        })
        leaf_of[fresh] = rows[labels]
        return rows

    def _merge_existing(self, batch: ObservationBatch, obs: np.ndarray, leaves: np.ndarray,
                        move_m: float) -> tuple[np.ndarray, np.ndarray]:
        if len(obs) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        targets, labels = np.unique(leaves, return_inverse=True)
        agg = _aggregate(batch, obs, labels, len(targets))
        w_old = self.weight[targets].astype(np.float64)
        w_new = w_old + agg["weight"]
        self.position[targets] = (self.position[targets] * w_old[:, None] + agg["pos_sum"]) / w_new[:, None]
        self.extent[targets] = (self.extent[targets] * w_old[:, None] + agg["ext_sum"]) / w_new[:, None]
        self.weight[targets] = w_new
        self.count[targets] += agg["count"].astype(np.int32)
        self.first_seen[targets] = np.minimum(self.first_seen[targets], agg["t_min"])
        newer = agg["t_max"] >= self.last_seen[targets]
        view = batch.view_xy[agg["latest"]]
        has_view = newer & np.all(np.isfinite(view), axis=1)
        self.view_xy[targets[has_view]] = view[has_view]
        self.last_seen[targets] = np.maximum(self.last_seen[targets], agg["t_max"])
        best = agg["best"]
        better = ((batch.confidence[best] > self.best_conf[targets] + _RETEXT_MARGIN)
                  | (self.caption[targets] == BLANK_CAPTION)) \
            & (batch.caption[best] != self.caption[targets]) & (batch.caption[best] != BLANK_CAPTION)
        retexted = targets[better]
        self.caption[retexted] = batch.caption[best[better]]
        self.best_conf[retexted] = batch.confidence[best[better]]
        self.text_row[retexted] = self.texts.rows(self.category[retexted], self.caption[retexted],
                                                  batch.embedding[best[better]])
        drift = np.linalg.norm(self.position[targets] - self.clustered_at[targets], axis=1)
        moved = targets[drift > move_m]
        rekey = targets[self._keys(self.category[targets], self.position[targets, :2]) != self._hkey[targets]]
        if len(rekey):
            self._index_keys(rekey)
        return moved, retexted


def _same_room(room_a: np.ndarray, room_b: np.ndarray) -> np.ndarray:
    """Pairs that may be one object as far as rooms go: same room, or a room unknown (a wall
    between two sightings means two objects)."""
    return (room_a == room_b) | (room_a < 0) | (room_b < 0)


def _gate(extent_a: np.ndarray, extent_b: np.ndarray, limit_m: float) -> np.ndarray:
    """Fusion gate distance of pairs: grows with the larger horizontal size, capped at the limit."""
    half = 0.5 * np.maximum(extent_a[:, :2].max(axis=1), extent_b[:, :2].max(axis=1))
    return np.minimum(limit_m, _GATE_BASE_M + half)


def _range_pairs(sorted_keys: np.ndarray, sorted_value: np.ndarray,
                 query_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (query index, value) pairs where a query key equals a sorted key."""
    left = np.searchsorted(sorted_keys, query_keys, side="left")
    right = np.searchsorted(sorted_keys, query_keys, side="right")
    lengths = right - left
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    owners = np.repeat(np.arange(len(query_keys)), lengths)
    offsets = np.repeat(left - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    return owners, sorted_value[offsets]


def _aggregate(batch: ObservationBatch, obs: np.ndarray, labels: np.ndarray, groups: int) -> dict[str, np.ndarray]:
    """Per-group sums of a subset of a batch: weights, weighted position/extent, counts, time
    range, the most confident sighting (latest on ties) and the latest sighting."""
    weight = np.maximum(batch.confidence[obs].astype(np.float64), 1e-3)
    pos_sum = np.zeros((groups, 3))
    ext_sum = np.zeros((groups, 3))
    np.add.at(pos_sum, labels, batch.position[obs] * weight[:, None])
    np.add.at(ext_sum, labels, batch.extent[obs] * weight[:, None])
    times = batch.timestamp[obs]
    t_min = np.full(groups, np.inf)
    t_max = np.full(groups, -np.inf)
    np.minimum.at(t_min, labels, times)
    np.maximum.at(t_max, labels, times)
    by_conf = np.lexsort((-times, -batch.confidence[obs], labels))
    by_time = np.lexsort((-times, labels))
    starts = np.searchsorted(labels[by_conf], np.arange(groups))
    return {
        "weight": np.bincount(labels, weights=weight, minlength=groups),
        "pos_sum": pos_sum, "ext_sum": ext_sum,
        "count": np.bincount(labels, minlength=groups),
        "t_min": t_min, "t_max": t_max,
        "best": obs[by_conf[starts]],
        "latest": obs[by_time[np.searchsorted(labels[by_time], np.arange(groups))]],
    }


class TextTable:
    """Distinct leaf texts, keyed by (category id, caption id), with float16 embeddings."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.vectors = np.zeros((0, dim), dtype=np.float16)
        self.keys = np.zeros((0, 2), dtype=np.int32)
        self._rows: dict[tuple[int, int], int] = {}

    def rows(self, category: np.ndarray, caption: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Rows of these texts, adding the ones not seen yet with the given vectors."""
        out = np.empty(len(category), dtype=np.int32)
        new_keys, new_vectors = [], []
        for i, key in enumerate(zip(category.tolist(), caption.tolist(), strict=True)):
            row = self._rows.get(key)
            if row is None:
                row = self.n + len(new_keys)
                self._rows[key] = row
                new_keys.append(key)
                new_vectors.append(vectors[i])
            out[i] = row
        if new_keys:
            self.append(np.asarray(new_keys, dtype=np.int32), np.asarray(new_vectors))
        return out

    def append(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows (used by :meth:`rows` and the store loader; keys must be new)."""
        count = len(keys)
        if self.n + count > len(self.vectors):
            cap = max(self.n + count, int(len(self.vectors) * 1.5) + 1024)
            for name in ("vectors", "keys"):
                old = getattr(self, name)
                grown = np.zeros((cap, old.shape[1]), dtype=old.dtype)
                grown[: self.n] = old[: self.n]
                setattr(self, name, grown)
        self.vectors[self.n: self.n + count] = vectors
        self.keys[self.n: self.n + count] = keys
        for offset, key in enumerate(map(tuple, keys.tolist())):
            self._rows.setdefault(key, self.n + offset)
        self.n += count


class Interner:
    """Strings <-> dense integer ids (categories, captions, room ids)."""

    def __init__(self, items: list[str] | None = None) -> None:
        self.items: list[str] = []
        self._ids: dict[str, int] = {}
        for item in items or []:
            self.add(item)

    def add(self, item: str) -> int:
        found = self._ids.get(item)
        if found is None:
            found = len(self.items)
            self._ids[item] = found
            self.items.append(item)
        return found

    def get(self, item: str) -> int | None:
        return self._ids.get(item)

    def __getitem__(self, index: int) -> str:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)
