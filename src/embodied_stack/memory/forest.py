"""The semantic forest: leaves clustered into zones, rooms, buildings and a site root.

Level by level (Embodied-RAG's bottom-up build, made local and incremental):

1. zones: complete linkage of leaves within one (room, cell) partition; a partition never
   spans two rooms, so with a room segmentation no zone straddles a wall;
2. rooms: one node per known room; zones with no known room are clustered in larger cells;
3. floors (the ``BUILDING`` level): complete linkage of rooms of one storey (floor(z / storey
   height)) in still larger cells; no node below the site spans two storeys;
4. the site: one root over all buildings.

Each node's partition code names the part of its level it was clustered in. ``refresh(dirty)``
recomputes only the partitions that hold a changed leaf, then only the partitions above that
hold a changed node, and so on up: one new leaf touches one partition per level. Clusters are
matched to existing nodes by their members so that ids (and unchanged summaries) survive.
Members are ordered by position before clustering, so an incremental update and a full rebuild
of the same leaves give the same forest (up to node ids).

Positions: a parent's ``position`` is the position of the member nearest the centroid of the
leaves under it, so it always lies in the parent's own region (never in a wall or the room
next door). Zone embeddings are the normalised mean of their leaves' embeddings (free to
compute at scale); rooms and above embed their summary text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embodied_stack.memory.clustering import cluster_nodes
from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.keyindex import top_per_group
from embodied_stack.memory.leaves import Interner, LeafTable
from embodied_stack.memory.nodes import BUILDING, ROOM, SITE, ZONE, ChildNames, NodeTable
from embodied_stack.memory.summarise import NodeDigest, Summariser
from embodied_stack.text.embedders import Embedder

_CELL_OFFSET = 1 << 21
_ZONE_CHUNK = 65_536
_ROOM_SHIFT = 44
_STOREY_SHIFT = 61
_MAX_STOREY = 3


def storeys(z: np.ndarray, storey_height_m: float) -> np.ndarray:
    """The storey index of heights (floor(z / storey height), clipped to 0-3)."""
    return np.clip(np.floor(np.asarray(z, dtype=np.float64) / storey_height_m), 0, _MAX_STOREY).astype(np.int64)


@dataclass
class ChangeSet:
    """Node ids written (created or changed) and deleted by a refresh."""

    upserted: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    late: tuple[np.ndarray, Callable[[], np.ndarray]] | None = None
    """With ``refresh(defer=True)``: the building and site nodes whose embeddings are still
    being computed, and the function that waits for them (the caller sets them)."""

    def merge(self, other: ChangeSet) -> None:
        self.upserted = (self.upserted | other.upserted) - other.deleted
        self.deleted = (self.deleted | other.deleted) - other.upserted


@dataclass
class Vocab:
    """Strings the leaf and node columns refer to by id."""

    categories: Interner = field(default_factory=Interner)
    captions: Interner = field(default_factory=lambda: Interner([""]))
    rooms: Interner = field(default_factory=Interner)
    room_types: dict[int, str] = field(default_factory=dict)
    room_type_confidences: dict[int, float] = field(default_factory=dict)
    """How sure the spatial context is of each room's type (absent: certain, e.g. scene rooms)."""


class _Buckets:
    """Ids grouped by an int64 key (a partition code), kept up to date as keys change."""

    def __init__(self) -> None:
        self._lists: dict[int, list[int]] = {}

    def get(self, key: int) -> list[int]:
        return self._lists.get(key, [])

    def move(self, ids: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Move each id from its old key to its new one (-1: none)."""
        for item, before, after in zip(ids.tolist(), old.tolist(), new.tolist(), strict=True):
            if before == after:
                continue
            if before >= 0:
                bucket = self._lists[before]
                bucket.remove(item)
                if not bucket:
                    del self._lists[before]
            if after >= 0:
                self._lists.setdefault(after, []).append(item)

    def clear(self) -> None:
        self._lists.clear()


def partition_codes(room: np.ndarray, xy: np.ndarray, cell_m: float | None,
                    storey: np.ndarray | None = None) -> np.ndarray:
    """Partition code of points: (storey, room + 1, cell x, cell y) packed in an int64 (storey in
    bits 61-62, room in 44-60). A None cell means "the whole room" (cells are ignored)."""
    code = (room.astype(np.int64) + 1) << _ROOM_SHIFT
    if storey is not None:
        code |= np.clip(storey, 0, _MAX_STOREY).astype(np.int64) << _STOREY_SHIFT
    if cell_m is None:
        return code
    cells = np.floor(xy / cell_m).astype(np.int64) + _CELL_OFFSET
    return code | (cells[:, 0] << 22) | cells[:, 1]


class Forest:
    """Parent nodes over a :class:`LeafTable`, kept up to date incrementally."""

    def __init__(self, leaves: LeafTable, vocab: Vocab, config: MemoryConfig, embedder: Embedder,
                 summariser: Summariser) -> None:
        self.leaves = leaves
        self.vocab = vocab
        self.config = config
        self.embedder = embedder
        self.summariser = summariser
        self.nodes = NodeTable(leaves.dim)
        self.leaf_parent = np.zeros(0, dtype=np.int64)
        self.leaf_key = np.zeros(0, dtype=np.int64)
        # partition code -> leaves (zone level); per level: upkey -> nodes (the members of a
        # partition one level up) and key -> nodes (the nodes clustered in a partition)
        self._leaf_buckets = _Buckets()
        self._member_buckets = {level: _Buckets() for level in (ZONE, ROOM, BUILDING)}
        self._node_buckets = {level: _Buckets() for level in (ZONE, ROOM, BUILDING, SITE)}
        self._count_vectors: dict[int, np.ndarray] = {}

    def reindex(self) -> None:
        """Rebuild the partition buckets from the columns (after loading from a store)."""
        self._leaf_buckets.clear()
        for buckets in (*self._member_buckets.values(), *self._node_buckets.values()):
            buckets.clear()
        self._count_vectors.clear()
        n = self.leaves.n
        self._leaf_buckets.move(np.arange(n), np.full(n, -1), self.leaf_key[:n])
        for level in (ZONE, ROOM, BUILDING, SITE):
            ids = self.nodes.ids(level)
            for node in ids.tolist():
                info = self.nodes.info[node]
                self.nodes.set_room_type(node, info.room_type, info.room_confidence)
            self._node_buckets[level].move(ids, np.full(len(ids), -1), self.nodes.key[ids])
            if level in self._member_buckets:
                self._member_buckets[level].move(ids, np.full(len(ids), -1), self.nodes.upkey[ids])

    def grow_leaf_columns(self) -> None:
        n = self.leaves.n
        if len(self.leaf_parent) < n:
            cap = max(n, int(len(self.leaf_parent) * 1.5) + 1024)
            for name in ("leaf_parent", "leaf_key"):
                old = getattr(self, name)
                grown = np.full(cap, -1, dtype=np.int64)
                grown[: len(old)] = old
                setattr(self, name, grown)

    # --- incremental update ---------------------------------------------------------------

    def refresh(self, dirty_leaves: np.ndarray | None = None, *, full: bool = False,
                overlap: Callable[[], None] | None = None, defer: bool = False) -> ChangeSet:
        """Re-cluster, re-summarise and re-embed what the dirty leaves touch (or everything).

        ``overlap``: work unrelated to the forest, run (once) while the room texts embed, when
        the embedder can embed elsewhere meanwhile (an embedding worker). ``defer``: leave the
        building and site embeddings to the caller (``ChangeSet.late``; nothing in the forest
        clusters on them), which can go on working while they embed.
        """
        if overlap is None:
            return self._refresh(dirty_leaves, full=full, overlap=None, defer=defer)
        pending = [overlap]

        def once() -> None:
            if pending:
                pending.pop()()

        changes = self._refresh(dirty_leaves, full=full, overlap=once, defer=defer)
        once()  # no room changed: nothing to overlap it with
        return changes

    def _embed_later(self, texts: list[str]) -> Callable[[], np.ndarray]:
        later = getattr(self.embedder, "embed_later", None)
        if later is not None:
            return later(texts)
        vectors = self.embedder.embed(texts)
        return lambda: vectors

    def _refresh(self, dirty_leaves: np.ndarray | None, *, full: bool, overlap: Callable[[], None] | None,
                 defer: bool) -> ChangeSet:
        self.grow_leaf_columns()
        n = self.leaves.n
        changes = ChangeSet()
        if full:
            changes.deleted = set(self.nodes.ids().tolist())
            self.nodes.clear()
            self.leaf_parent[:n] = -1
            self.leaf_key[:n] = -1
            self.reindex()
            dirty_leaves = np.arange(n)
        dirty = np.unique(np.asarray(dirty_leaves if dirty_leaves is not None else [], dtype=np.int64))
        if len(dirty) == 0:
            return changes
        old_codes = self.leaf_key[dirty]
        new_codes = partition_codes(self.leaves.room[dirty], self.leaves.position[dirty, :2],
                                    self.config.level_cell_sizes_m[0],
                                    storeys(self.leaves.position[dirty, 2], self.config.storey_height_m))
        self.leaf_key[dirty] = new_codes
        self._leaf_buckets.move(dirty, old_codes, new_codes)
        codes = np.unique(np.concatenate([old_codes[old_codes >= 0], new_codes]))
        changed = dirty
        # Buildings and the site are embedded together at the end: nothing above them clusters
        # on their embeddings, and one batch is cheaper than two.
        pending: list[tuple[np.ndarray, list[str]]] = []
        for level in (ZONE, ROOM, BUILDING, SITE):
            if len(codes) == 0:
                break
            touched, deleted = self._reconcile(level, codes, changed)
            texts = self._update(level, touched)
            if level == ROOM:
                vectors = self._embed_later(texts)
                if overlap is not None:
                    overlap()
                self.nodes.set_embeddings(touched, vectors())
            elif level > ROOM:
                pending.append((touched, texts))
            changes.upserted.update(touched.tolist())
            changes.deleted.update(deleted)
            changes.upserted.difference_update(deleted)
            if level == SITE:
                break
            gone = np.asarray(deleted, dtype=np.int64)
            old_up = self.nodes.upkey[touched]
            new_up = self._node_codes(level + 1, touched)
            self.nodes.upkey[touched] = new_up
            self._member_buckets[level].move(touched, old_up, new_up)
            gone_up = self.nodes.upkey[gone]
            self._member_buckets[level].move(gone, gone_up, np.full(len(gone), -1))
            self.nodes.upkey[gone] = -1
            codes = np.unique(np.concatenate([old_up[old_up >= 0], gone_up[gone_up >= 0], new_up]))
            changed = touched
        if pending:
            ids = np.concatenate([ids for ids, _ in pending])
            vectors = self._embed_later([t for _, texts in pending for t in texts])
            if defer:
                changes.late = (ids, vectors)
            else:
                self.nodes.set_embeddings(ids, vectors())
        self.leaves.clustered_at[dirty] = self.leaves.position[dirty]
        self.nodes.version += 1
        return changes

    def _node_codes(self, level: int, ids: np.ndarray) -> np.ndarray:
        """Partition codes at ``level`` of nodes one level below."""
        if level == SITE:
            return np.zeros(len(ids), dtype=np.int64)
        rooms = np.array([self.nodes.info[i].room for i in ids], dtype=np.int64)
        xy = self.nodes.position[ids, :2]
        storey = storeys(self.nodes.position[ids, 2], self.config.storey_height_m)
        if level == ROOM:
            codes = partition_codes(np.full(len(ids), -1), xy, self.config.level_cell_sizes_m[1], storey)
            known = rooms >= 0
            codes[known] = partition_codes(rooms[known], xy[known], None, storey[known])
            return codes
        # the floor level: rooms of one storey (in cells, for sites of many buildings)
        return partition_codes(np.full(len(ids), -1), xy, self.config.level_cell_sizes_m[2], storey)

    def _members(self, level: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The children (leaves or nodes one level down) in the given partitions, and their codes."""
        buckets = self._leaf_buckets if level == ZONE else self._member_buckets[level - 1]
        ids, keys = [], []
        for code in codes.tolist():
            found = buckets.get(code)
            ids.extend(found)
            keys.extend([code] * len(found))
        return np.asarray(ids, dtype=np.int64), np.asarray(keys, dtype=np.int64)

    def _reconcile(self, level: int, codes: np.ndarray, changed: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Cluster each dirty partition and match clusters to existing nodes by membership."""
        nodes = self.nodes
        members, member_codes = self._members(level, codes)
        positions = self.leaves.position[members] if level == ZONE else nodes.position[members]
        order = np.lexsort((members, positions[:, 1], positions[:, 0], member_codes))
        members, member_codes, positions = members[order], member_codes[order], positions[order]
        by_code = {code: list(found) for code in codes.tolist() if (found := self._node_buckets[level].get(code))}
        changed_set = set(changed.tolist())
        touched: list[int] = []
        deleted: list[int] = []
        bounds = np.flatnonzero(np.diff(member_codes)) + 1
        for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(members)], strict=True):
            if start == stop:
                continue
            code = int(member_codes[start])
            group_members = members[start:stop]
            labels = self._cluster(level, code, group_members, positions[start:stop])
            candidates = by_code.pop(code, [])
            taken: set[int] = set()
            groups = [group_members[labels == g] for g in range(int(labels.max()) + 1)]
            candidate_set = set(candidates)
            # Votes: how many members of each cluster come from each existing node, as
            # {cluster: [(node, members), ...]} with nodes ascending.
            parents = self.leaf_parent[group_members] if level == ZONE else nodes.parent[group_members]
            pairs, counts = np.unique(np.stack([labels.astype(np.int64), parents]), axis=1, return_counts=True)
            votes: dict[int, list[tuple[int, int]]] = {}
            for (label, parent), count in zip(pairs.T.tolist(), counts.tolist(), strict=True):
                if parent in candidate_set:
                    votes.setdefault(label, []).append((parent, count))
            for label in sorted(range(len(groups)), key=lambda g: (-len(groups[g]), int(groups[g].min()))):
                group = groups[label]
                # The existing node most members come from (the lowest id on a tie) keeps its id.
                eligible = [(count, -parent) for parent, count in votes.get(label, ()) if parent not in taken]
                if eligible:
                    node = -max(eligible)[1]
                    is_new = False
                else:
                    node = nodes.new(level, code)
                    self._node_buckets[level].move(np.array([node]), np.array([-1]), np.array([code]))
                    is_new = True
                taken.add(node)
                children = np.sort(group)
                info = nodes.info[node]
                if is_new or not np.array_equal(info.children, children) \
                        or not changed_set.isdisjoint(children.tolist()):
                    info.children = children
                    touched.append(node)
                if level == ZONE:
                    self.leaf_parent[children] = node
                else:
                    nodes.parent[children] = node
            for node in candidates:
                if node not in taken:
                    deleted.append(node)
        for leftovers in by_code.values():
            deleted.extend(leftovers)
        for node in deleted:
            self._node_buckets[level].move(np.array([node]), nodes.key[[node]], np.array([-1]))
            self._count_vectors.pop(node, None)
            nodes.kill(node)
        return np.asarray(touched, dtype=np.int64), deleted

    def _cluster(self, level: int, code: int, members: np.ndarray, positions: np.ndarray) -> np.ndarray:
        whole_room = level == ROOM and (code >> _ROOM_SHIFT) > 0
        if level == SITE or whole_room or len(members) == 1:
            return np.zeros(len(members), dtype=np.int64)
        if level == ZONE:
            embeddings = self.leaves.vectors(members)
        else:
            embeddings = self.nodes.embedding[members]
        return cluster_nodes(positions, embeddings, threshold=self.config.level_thresholds[level - 1],
                             spatial_weight=self.config.level_spatial_weights[level - 1],
                             spatial_scale_m=self.config.level_spatial_scales_m[level - 1],
                             max_span_m=self.config.level_max_spans_m[level - 1],
                             max_size=self.config.max_partition_size)

    # --- node contents --------------------------------------------------------------------

    def _update(self, level: int, touched: np.ndarray) -> list[str]:
        """Recompute aggregates and summaries of touched nodes of one level (zone embeddings too);
        returns the texts to embed for the others."""
        if len(touched) == 0:
            return []
        nodes = self.nodes
        texts: list[str] = []
        zone_captions = self._zone_aggregates(touched) if level == ZONE else {}
        for node in touched.tolist():
            info = nodes.info[node]
            children = info.children
            if level == ZONE:
                captions = zone_captions[node]
            else:
                weights = nodes.n_leaves[children].astype(np.float64)
                centroid = (nodes.centroid[children] * weights[:, None]).sum(axis=0) / weights.sum()
                pos = nodes.position[children]
                nearest = int(np.argmin(np.linalg.norm(pos - centroid, axis=1)))
                nodes.position[node] = pos[nearest]
                nodes.medoid[node] = nodes.medoid[children[nearest]]
                nodes.bbox_min[node] = nodes.bbox_min[children].min(axis=0)
                nodes.bbox_max[node] = nodes.bbox_max[children].max(axis=0)
                info.category_counts = self._merge_counts(node, level, children)
                first = nodes.info[int(children[0])].room
                info.room = first if all(nodes.info[c].room == first for c in children.tolist()) else -1
                captions = []
                nodes.n_leaves[node] = int(weights.sum())
                nodes.centroid[node] = centroid
            summary = self.summariser.summarise(NodeDigest(
                level=level,
                category_counts=info.category_counts,
                n_leaves=int(nodes.n_leaves[node]),
                room_id=self.vocab.rooms[info.room] if info.room >= 0 and level >= ROOM else None,
                room_category=self.vocab.room_types.get(info.room) if level <= ROOM else None,
                room_category_confidence=self.vocab.room_type_confidences.get(info.room, 1.0),
                children_names=ChildNames(nodes.info, children) if level > ROOM else [],
                captions=captions,
                children_types=sorted({nodes.info[c].room_type or "" for c in children.tolist()} - {""})
                if level == BUILDING else [],
            ))
            info.name, info.summary, info.text = summary.name, summary.summary, summary.text
            nodes.set_room_type(node, summary.room_type, summary.room_confidence)
            texts.append(summary.text)
        return texts

    def _zone_aggregates(self, zones: np.ndarray) -> dict[int, list[str]]:
        """Position (the member nearest the centroid), centroid, box, counts, room and mean
        embedding of many zones at once (segment reductions over their concatenated members; a
        batch touches hundreds of zones); returns each zone's captions of its 4 most confident
        members. A full build goes through the zones in chunks of about ``_ZONE_CHUNK`` members
        (the float32 embeddings of a million members at once would take 1.5 GB)."""
        sizes = np.array([len(self.nodes.info[z].children) for z in zones.tolist()], dtype=np.int64)
        ends = np.searchsorted(np.cumsum(sizes), np.arange(_ZONE_CHUNK, int(sizes.sum()), _ZONE_CHUNK), side="left")
        captions: dict[int, list[str]] = {}
        for part, part_sizes in zip(np.split(zones, ends + 1), np.split(sizes, ends + 1), strict=True):
            if len(part):
                captions.update(self._zone_chunk(part, part_sizes))
        return captions

    def _zone_chunk(self, zones: np.ndarray, sizes: np.ndarray) -> dict[int, list[str]]:
        nodes, leaves, info = self.nodes, self.leaves, self.nodes.info
        kids = [info[z].children for z in zones.tolist()]
        members = np.concatenate(kids)
        seg = np.repeat(np.arange(len(zones)), sizes)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        pos = leaves.position[members]
        half = leaves.extent[members] / 2.0
        centroid = np.add.reduceat(pos, starts, axis=0) / sizes[:, None]
        distance = np.linalg.norm(pos - centroid[seg], axis=1)
        first = top_per_group(seg, -distance, 1)  # the nearest of each zone (np.argmin's choice)
        nodes.position[zones] = pos[first]
        nodes.medoid[zones] = members[first]
        nodes.centroid[zones] = centroid
        nodes.bbox_min[zones] = np.minimum.reduceat(pos - half, starts, axis=0)
        nodes.bbox_max[zones] = np.maximum.reduceat(pos + half, starts, axis=0)
        nodes.n_leaves[zones] = sizes
        mean = np.add.reduceat(leaves.vectors(members), starts, axis=0)
        nodes.embedding[zones] = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        categories = self.vocab.categories
        pairs, counts = np.unique(np.stack([seg, leaves.category[members].astype(np.int64)], axis=1), axis=0,
                                  return_counts=True)
        per_zone: list[dict[str, int]] = [{} for _ in range(len(zones))]
        for (z, c), k in zip(pairs.tolist(), counts.tolist(), strict=True):
            per_zone[z][categories[c]] = k
        best = top_per_group(seg, leaves.best_conf[members], 4)  # ties in member order
        rooms = leaves.room[members[starts]].tolist()
        captions: dict[int, list[str]] = {z: [] for z in zones.tolist()}
        zone_ids = zones.tolist()
        for row, caption in zip(seg[best].tolist(), leaves.caption[members[best]].tolist(), strict=True):
            captions[zone_ids[row]].append(self.vocab.captions[int(caption)])
        for row, zone in enumerate(zone_ids):
            info[zone].category_counts = per_zone[row]
            info[zone].room = int(rooms[row])
        return captions

    def _merge_counts(self, node: int, level: int, children: np.ndarray) -> dict[str, int]:
        """Category counts of a node from its children's: merged dicts for rooms (few children),
        sums of dense per-category vectors for buildings, and for the site (thousands of children
        at a million leaves, re-summarised on every insert) a count of every leaf, which is what
        those sums add up to: every leaf lies under the one site."""
        nodes, categories = self.nodes, self.vocab.categories
        if level == ROOM:
            merged: Counter[str] = Counter()
            for child in children.tolist():
                merged.update(nodes.info[child].category_counts)
            counts = dict(merged)
        elif level == SITE:
            total = np.bincount(self.leaves.category[: self.leaves.n], minlength=len(categories))
            counts = {categories[int(i)]: int(total[i]) for i in np.flatnonzero(total)}
        else:
            total = np.sum([self._vector(c) for c in children.tolist()], axis=0)
            counts = {categories[int(i)]: int(total[i]) for i in np.flatnonzero(total)}
        self._count_vectors.pop(node, None)
        return counts

    def _vector(self, node: int) -> np.ndarray:
        """A node's category counts as a dense vector over the category vocabulary (cached)."""
        size = len(self.vocab.categories)
        vector = self._count_vectors.get(node)
        if vector is None or len(vector) != size:
            vector = np.zeros(size, dtype=np.int64)
            for name, count in self.nodes.info[node].category_counts.items():
                vector[self.vocab.categories.get(name)] = count
            self._count_vectors[node] = vector
        return vector

    # --- queries on the structure ---------------------------------------------------------

    def roots(self) -> np.ndarray:
        """The nodes without a parent: the site (every refresh ends with one)."""
        site = self._node_buckets[SITE].get(0)
        return np.asarray(site, dtype=np.int64) if site else self.nodes.roots()

    def leaf_ancestors(self, leaf: int) -> list[int]:
        """Zone, room, building, site ids above a leaf (nearest first)."""
        zone = int(self.leaf_parent[leaf]) if leaf < len(self.leaf_parent) else -1
        return [zone, *self.nodes.ancestors(zone)] if zone >= 0 else []

    def descendant_leaves(self, node: int) -> np.ndarray:
        """All leaf indices under a node."""
        frontier = [node]
        leaves: list[np.ndarray] = []
        while frontier:
            level = int(self.nodes.level[frontier[0]])
            children = [self.nodes.info[i].children for i in frontier]
            if level == ZONE:
                leaves.extend(children)
                break
            frontier = np.concatenate(children).tolist() if children else []
        return np.sort(np.concatenate(leaves)) if leaves else np.zeros(0, dtype=np.int64)

    def levels(self) -> Sequence[int]:
        live = self.nodes.ids()
        return sorted(set(self.nodes.level[live].tolist()))
