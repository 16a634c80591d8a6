"""Retrieval over the forest: leaf k-NN fused with a top-down beam search, then a re-rank.

- Leaf k-NN: the FAISS index returns ``knn_candidates`` leaves by cosine.
- Beam search (Embodied-RAG's BFS, scored by embeddings instead of an LLM): from the root, keep
  the ``beam_width`` best children of every frontier node per level (at most
  ``beam_max_frontier`` nodes per level) down to the leaves; each level is one product of the
  query with the stacked children's embeddings. An optional :class:`NodeScorer` (e.g. a local
  LLM) can re-score the children the embedding keeps.
- Re-rank: every leaf first gets the flat score (below); the forest adds what only the
  hierarchy knows: the cosine of the leaf's zone and room summaries with the question (weight
  by query kind) and, for needs, the room's support (how well another kind of thing its room
  node holds serves the need: a shower backed by a towel rack and a washbasin). So the forest
  is flat's ranking plus region context, never flat's ranking with terms taken away.
  Global queries rank parent nodes instead (rooms first), with the same room/category bonuses,
  the share of the named things a room holds, and the rooms holding them as candidates
  whatever the beam kept; a room answer points at the leaf in it that best answers the
  question (the bed of "which room do I sleep in?"), unless the question is about the named
  room itself ("what is in the kitchen?": its medoid).
- Flat mode (the fair baseline): the same leaves, embedder, knowledge and keyword terms: the
  leaf's cosine, a bonus when the query names its category or the room type it is in, minus a
  small term for distance from the robot; for needs, the best match between the need and one
  use of the leaf's category (which outweighs the room context) and the activity of the room
  type its sightings were labelled with, and the named-category bonus only for a named
  category whose uses serve the need. It ranks leaves only: no beam search, no zone or room
  context, no region answers. Forest minus flat measures the hierarchy alone.
- Leaves retired by negative evidence (:mod:`.absence`: looked at, not there) rank lower in
  both modes.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from embodied_stack.memory.errors import QueryError
from embodied_stack.memory.keyindex import top_per_group
from embodied_stack.memory.knowledge import KnowledgeMatcher
from embodied_stack.memory.nodes import BUILDING, ROOM, SITE, ZONE
from embodied_stack.memory.results import QueryKind
from embodied_stack.memory.state import MemoryState
from embodied_stack.memory.temporal import TEMPORAL_CUES
from embodied_stack.memory.types import MAX_TEXT_CHARS
from embodied_stack.text.embedders import cosines
from embodied_stack.types import Pose2D

_GLOBAL_CUES = re.compile(
    r"\b(how many|which rooms?|what rooms?|which part|what part|which area|what area|rooms|areas|zones|regions|"
    r"what is in|what's in|what is inside|what are in|what can i find in|what do you know about|describe|"
    r"overview|summar\w*|layout|floor plan|the whole (?:house|place|home|apartment|site|building))\b"
)
_MOST = re.compile(r"\b(the most|most of the|more \w+ than|the largest number)\b")
_ROOM_WORD = re.compile(r"\b(room|area|zone|region|part of the (?:house|home|apartment))\b")
_WHOLE_PLACE = re.compile(r"\b(how many rooms|the whole|whole (?:house|place|home|apartment|site)|overview|"
                          r"layout|floor plan|everything|all the rooms|entire)\b")
_EXPLICIT_CUES = re.compile(r"\b(where is|where are|where's|find|locate|go to|take me to|show me|bring me|"
                            r"navigate to|the nearest|is there an?|any|looking for|have you seen|did you see|"
                            r"where did)\b")
_IMPLICIT_CUES = re.compile(
    r"\b(i'm|i am|im|i feel|i need|i want|i'd like|i would like|somewhere|something to|a place to|"
    r"where (?:can|could|should|do|would) i|help me|i have to|i must|let me|my)\b"
)
_MATCHERS: dict[tuple[str, int], KnowledgeMatcher] = {}
# Without a named thing or a cue word, a question is a need or about a region.
_PROTOTYPES = {
    QueryKind.IMPLICIT: ["I am hungry", "I need somewhere to sit down", "I want to relax",
                         "I'd like to freshen up"],
    QueryKind.GLOBAL: ["which room is this?", "describe the apartment", "what areas are there?"],
}


MAX_K = 1000


def check_query(text: object, kind: object, k: object, mode: object, robot_pose: object) -> QueryKind | None:
    """Validate query arguments; returns the requested kind (None: detect it).

    Raises:
        QueryError: empty, huge or non-string text; k outside [1, 1000]; unknown kind or mode.
    """
    if not isinstance(text, str) or not text.strip():
        raise QueryError(f"query text must be a non-empty string, got {text!r}")
    if len(text) > MAX_TEXT_CHARS:
        raise QueryError(f"query text is {len(text)} characters; at most {MAX_TEXT_CHARS} are accepted")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer in [1, {MAX_K}], got {k!r}")
    if mode not in ("forest", "flat"):
        raise QueryError(f"mode must be 'forest' or 'flat', got {mode!r}")
    if robot_pose is not None and not isinstance(robot_pose, Pose2D):
        raise QueryError(f"robot_pose must be a Pose2D, got {type(robot_pose).__name__}")
    if kind is None:
        return None
    try:
        return QueryKind(kind.value if isinstance(kind, QueryKind) else str(kind).lower())
    except ValueError as err:
        raise QueryError(f"unknown query kind {kind!r}; expected one of {[q.value for q in QueryKind]}") from err


def nodes_names(retriever: Retriever, categories: list[str]) -> list[str]:
    """The memory's own category names that the given (canonical) categories stand for."""
    canon = retriever.canonical_categories()
    return [name for name, c in zip(retriever.m.vocab.categories.items, canon, strict=True) if c in categories]


class NodeScorer(Protocol):
    """Re-scores candidate nodes for a query (e.g. an LLM judging relevance), higher is better."""

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class Ranked:
    """Ranked candidate ids (leaf indices or node ids) with scores."""

    ids: np.ndarray
    scores: np.ndarray
    is_leaf: bool
    focus: np.ndarray | None = None
    """Region answers: per node, the leaf under it that best answers the question (-1 none);
    the answer points there (the bed of the bedroom), not at the region's medoid."""


class Retriever:
    """Query machinery over a :class:`~embodied_stack.memory.state.MemoryState`'s leaves, forest and index."""

    def __init__(self, memory: MemoryState, scorer: NodeScorer | None = None) -> None:
        self.m = memory
        self.scorer = scorer
        self._canon: list[str] = []
        self._room_names: tuple[int, int, list[str]] = (-1, 0, [])
        self._vocabulary: tuple[int, frozenset[str]] = (-1, frozenset())
        self._prototypes: tuple[np.ndarray, list[QueryKind]] | None = None
        self._held: tuple[int, dict[int, np.ndarray]] = (-1, {})

    # --- kinds --------------------------------------------------------------------------

    def mentions(self, text: str) -> tuple[list[str], list[str]]:
        """(categories, room types) a query names; category phrases are removed before looking
        for room types, so "bathroom sink" is a sink, not a bathroom."""
        knowledge = self.m.knowledge
        names = self.m.vocab.categories.items
        if self._vocabulary[0] != len(names):
            self._vocabulary = (len(names), frozenset(names))
        categories = knowledge.find_categories(text, self._vocabulary[1])
        rest = text.lower()
        for phrase in sorted(self._phrases(categories), key=len, reverse=True):
            rest = re.sub(rf"\b{re.escape(phrase)}(?:s|es)?\b", " ", rest)
        return categories, knowledge.find_room_types(rest)

    def _phrases(self, categories: list[str]) -> list[str]:
        phrases = []
        for name in categories:
            info = self.m.knowledge.categories.get(name)
            phrases.extend([name, *(info.synonyms if info else ())])
        return phrases

    def detect_kind(self, text: str, embedding: np.ndarray | None = None) -> QueryKind:
        """Rules first (time words, region words, things the memory holds, needs), then the
        nearest of a few prototype questions (needs vs regions) by embedding."""
        lowered = text.lower()
        if TEMPORAL_CUES.search(lowered):
            return QueryKind.TEMPORAL
        categories, room_types = self.mentions(lowered)
        # A thing the memory has never seen ("a glass of red") names a need, not a target, unless
        # the question asks where it is ("where did I leave my laundry basket?").
        unseen = bool(categories)
        categories = [c for c in categories if self._named([c]).any()]
        unseen = unseen and not categories
        implicit_cue = bool(_IMPLICIT_CUES.search(lowered))
        if _GLOBAL_CUES.search(lowered) or (_ROOM_WORD.search(lowered) and not categories and not implicit_cue):
            return QueryKind.GLOBAL
        if room_types and not categories and not implicit_cue:
            return QueryKind.GLOBAL
        if categories:
            if implicit_cue and not _EXPLICIT_CUES.search(lowered):
                return QueryKind.IMPLICIT
            return QueryKind.EXPLICIT
        if unseen and _EXPLICIT_CUES.search(lowered):
            return QueryKind.EXPLICIT
        if implicit_cue:
            return QueryKind.IMPLICIT
        if _EXPLICIT_CUES.search(lowered):
            return QueryKind.EXPLICIT
        if embedding is None:
            return QueryKind.IMPLICIT
        if self._prototypes is None:
            texts = [t for kind in _PROTOTYPES for t in _PROTOTYPES[kind]]
            kinds = [kind for kind in _PROTOTYPES for _ in _PROTOTYPES[kind]]
            self._prototypes = (self.m.embedder.embed(texts), kinds)
        vectors, kinds = self._prototypes
        nearest = kinds[int(np.argmax(vectors @ embedding))]
        # A question about a region names one (a room word, a room type or a region cue, all
        # handled above); without any, "we want to lounge as a group" is a need, not a region.
        if nearest == QueryKind.GLOBAL and not _ROOM_WORD.search(lowered):
            return QueryKind.IMPLICIT
        return nearest

    # --- ranking ------------------------------------------------------------------------

    def _named(self, categories: list[str]) -> np.ndarray:
        """Per category id of the memory: does the query name it (by its own name or the table's)?"""
        canon = np.asarray(self.canonical_categories(), dtype=object)
        raw = np.asarray(self.m.vocab.categories.items, dtype=object)
        return np.isin(canon, categories) | np.isin(raw, categories)

    def canonical_categories(self) -> list[str]:
        names = self.m.vocab.categories.items
        while len(self._canon) < len(names):
            name = names[len(self._canon)]
            self._canon.append(self.m.knowledge.canonical(name) or name)
        return self._canon

    def room_names(self, limit: int) -> tuple[int, list[str]]:
        """How many room nodes there are and the first ``limit`` of their names alphabetically
        (kept until the forest changes: a million-leaf site has tens of thousands of rooms)."""
        nodes = self.m.forest.nodes
        version, cached_limit, names = self._room_names
        if version != nodes.version or cached_limit != limit:
            rooms = nodes.ids(ROOM)
            names = heapq.nsmallest(limit, (nodes.info[r].name for r in rooms.tolist()))
            self._room_names = (nodes.version, limit, names)
        return len(nodes.ids(ROOM)), list(names)

    def beam(self, q: np.ndarray, query: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-down beam search, one vectorised step per level.

        Returns:
            (ids of every parent node scored, their cosines with ``q``, the leaves reached).
        """
        nodes, cfg = self.m.forest.nodes, self.m.config
        empty = np.zeros(0, dtype=np.int64)
        frontier = self.m.forest.roots()
        if len(frontier) == 0:
            return empty, np.zeros(0, dtype=np.float32), empty
        scores = cosines(nodes.vectors(frontier), q)
        scored_ids, scored_cos = [frontier], [scores]
        frontier = frontier[np.argsort(-scores, kind="stable")[: cfg.beam_max_frontier]]
        reached: list[np.ndarray] = []
        while len(frontier):
            zone = nodes.level[frontier] == ZONE
            if zone.any():
                kids, owner = self._children(frontier[zone])
                kid_scores = cosines(self.m.leaves.vectors(kids), q)
                reached.append(kids[top_per_group(owner, kid_scores, cfg.beam_width)])
            kids, owner = self._children(frontier[~zone])
            if len(kids) == 0:
                break
            kid_cos = cosines(nodes.vectors(kids), q)
            scored_ids.append(kids)
            scored_cos.append(kid_cos)
            kid_scores = kid_cos
            if self.scorer is not None and query:
                texts = [nodes.info[c].text for c in kids.tolist()]
                kid_scores = kid_cos + np.asarray(self.scorer.score(query, texts), dtype=np.float32)
            best = top_per_group(owner, kid_scores, cfg.beam_width)
            frontier = kids[best][np.argsort(-kid_scores[best], kind="stable")[: cfg.beam_max_frontier]]
        leaves = np.unique(np.concatenate(reached)) if reached else empty
        return np.concatenate(scored_ids), np.concatenate(scored_cos), leaves

    def _children(self, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The children of some parents stacked, and the position in ``parents`` of each one's parent."""
        info = self.m.forest.nodes.info
        kids = [info[p].children for p in parents.tolist()]
        if not kids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        owner = np.repeat(np.arange(len(kids)), [len(k) for k in kids])
        return np.concatenate(kids).astype(np.int64, copy=False), owner

    def matcher(self) -> KnowledgeMatcher:
        key = (self.m.embedder.name, id(self.m.knowledge))
        found = _MATCHERS.get(key)
        if found is None:
            found = KnowledgeMatcher(self.m.knowledge, self.m.embedder.embed)
            _MATCHERS[key] = found
        return found

    def affordances(self, q: np.ndarray) -> np.ndarray:
        """Per category id of the memory: how well its uses meet the query (-1 when unknown)."""
        table = self.matcher().affordance(q)
        return np.array([table.get(c, -1.0) for c in self.canonical_categories()], dtype=np.float64)

    def _category_leaves(self, category_ids: np.ndarray, q: np.ndarray, robot_xy: np.ndarray | None) -> np.ndarray:
        """Up to ``category_candidates`` leaves per given category: all when that few, else the
        nearest to the robot, else the best by cosine among the most recently seen."""
        m = self.m
        if len(category_ids) == 0:
            return np.zeros(0, dtype=np.int64)
        found = m.leaves.with_category(category_ids)
        cap = m.config.category_candidates * len(category_ids)
        if len(found) <= cap:
            return found
        if robot_xy is not None:
            distance = np.linalg.norm(m.leaves.position[found, :2] - robot_xy, axis=1)
            return found[np.argpartition(distance, cap - 1)[:cap]]
        recent = found[np.argpartition(-m.leaves.last_seen[found], min(len(found), 4 * cap) - 1)[: 4 * cap]]
        sem = cosines(m.leaves.vectors(recent), q)
        return recent[np.argpartition(-sem, cap - 1)[:cap]]

    def rank_leaves(self, q: np.ndarray, kind: QueryKind, k: int, *, mode: str, categories: list[str],
                    room_types: list[str], robot_xy: np.ndarray | None, query: str = "",
                    allowed: np.ndarray | None = None) -> Ranked:
        """Leaves by the fused score (forest) or by cosine alone (flat)."""
        m, cfg = self.m, self.m.config
        if m.leaves.n == 0:
            return Ranked(np.zeros(0, dtype=np.int64), np.zeros(0), True)
        aff = self.affordances(q)
        if allowed is not None and len(allowed) > 16 * cfg.knn_candidates:
            _, near = m.index.search(q, 16 * cfg.knn_candidates)
            named = np.flatnonzero(self._named(categories)) if categories else np.zeros(0, dtype=np.int64)
            pool = np.concatenate([near, self._category_leaves(named, q, robot_xy)])
            ids = pool[np.isin(pool, allowed)]
        elif allowed is not None:
            ids = allowed
        else:
            _, ids = m.index.search(q, max(cfg.knn_candidates, 4 * k))
            wanted = np.flatnonzero(self._named(categories)) if categories else np.zeros(0, dtype=np.int64)
            if kind == QueryKind.IMPLICIT and len(aff):
                wanted = np.union1d(wanted, np.argsort(-aff, kind="stable")[:3])
            extra = [self._category_leaves(wanted, q, robot_xy)]
            if mode == "forest":
                extra.append(self.beam(q, query)[2])
            ids = np.concatenate([ids, *extra])
        ids = np.unique(ids.astype(np.int64))
        sem = cosines(m.leaves.vectors(ids), q).astype(np.float64)
        # The flat score, shared by both modes: the leaf's own cosine and, for needs, the best
        # use of its category and the activity of the room type its sightings were labelled with.
        label_types, label_names = self._label_types(ids)
        if kind == QueryKind.IMPLICIT:
            ctx = sem
            if label_names:
                activity = self.matcher().activity(q)
                by_type = np.array([activity.get(t, -1.0) for t in label_names] + [-1.0])
                act = by_type[label_types]
                ctx = np.where((label_types >= 0) & (act > -1.0), (sem + act) / 2.0, sem)
            w_ctx, w_aff = cfg.context_weight_implicit, cfg.affordance_weight
            leaf_aff = np.where(aff[m.leaves.category[ids]] >= 0, aff[m.leaves.category[ids]], sem)
            score = (1.0 - w_ctx - w_aff) * sem + w_ctx * ctx + w_aff * leaf_aff
        else:
            score = sem.copy()
        types, type_names = label_types, label_names
        if mode == "forest":
            # What only the hierarchy knows, added on top of the flat score (so the forest is at
            # least flat's ranking): the cosine of the leaf's zone and room summaries with the
            # question and, for needs, how well the other kinds of things in its room serve it.
            nodes = m.forest.nodes
            zones = m.forest.leaf_parent[ids]
            rooms = np.where(zones >= 0, nodes.parent[np.maximum(zones, 0)], -1)
            region = self._region_context(q, zones, rooms, sem)
            if kind == QueryKind.IMPLICIT:
                score += cfg.context_weight_implicit * region
                score += cfg.support_weight * self._room_support(aff, rooms, m.leaves.category[ids])
            else:
                score += cfg.context_weight_explicit * region
            node_types = np.where(rooms >= 0, nodes.room_type[np.maximum(rooms, 0)], -1)
            type_names = nodes.room_types
            types = node_types
        if categories:
            named = self._named(categories)
            if kind == QueryKind.IMPLICIT:
                # A need that names a thing ("I need more printer paper") is met by what serves
                # it (a paper shelf), not by the thing named: the bonus goes only to named
                # categories whose uses match the need about as well as the best category's.
                named &= (aff < 0) | (aff >= aff.max() - cfg.affordance_margin)
            score += cfg.category_match_bonus * named[m.leaves.category[ids]]
        if room_types:
            named_types = [type_names.index(t) for t in room_types if t in type_names]
            score += cfg.room_match_bonus * np.isin(types, named_types)
        retired = m.absence.retired(m.leaves.n)[ids]
        score -= cfg.retired_penalty * retired
        if robot_xy is not None:
            distance = np.linalg.norm(m.leaves.position[ids, :2] - robot_xy, axis=1)
            score -= cfg.proximity_weight * np.minimum(distance / 20.0, 1.0)
        order = np.lexsort((ids, -score))[:k]
        return Ranked(ids[order], score[order], True)

    def _label_types(self, ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Per leaf: the index (into the returned names, -1 none) of the room type its sightings
        were labelled with (the spatial context's room, not a forest node)."""
        vocab = self.m.vocab
        names = sorted(set(vocab.room_types.values()))
        rooms = self.m.leaves.room[ids]
        if not names or len(ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64), names
        top = max(max(vocab.room_types), int(rooms.max()), 0) + 1
        lookup = np.full(top + 1, -1, dtype=np.int64)
        for room, name in vocab.room_types.items():
            if room >= 0:
                lookup[room] = names.index(name)
        return lookup[np.where(rooms >= 0, rooms, top)], names

    def _region_context(self, q: np.ndarray, zones: np.ndarray, rooms: np.ndarray, sem: np.ndarray) -> np.ndarray:
        """Per leaf: the mean cosine of its zone and room with the query (its own where it has neither)."""
        nodes = self.m.forest.nodes
        total = np.zeros(len(zones))
        count = np.zeros(len(zones))
        for level_ids in (zones, rooms):
            ok = level_ids >= 0
            total[ok] += cosines(nodes.vectors(level_ids[ok]), q)
            count[ok] += 1
        return np.where(count > 0, total / np.maximum(count, 1), sem)

    def _room_categories(self, room: int) -> np.ndarray:
        """The memory's category ids a room node holds (kept until the forest changes)."""
        nodes = self.m.forest.nodes
        if self._held[0] != nodes.version:
            self._held = (nodes.version, {})
        found = self._held[1].get(room)
        if found is None:
            get = self.m.vocab.categories.get
            held = (get(name) for name in nodes.info[room].category_counts)
            found = np.array(sorted(c for c in held if c is not None), dtype=np.int64)
            self._held[1][room] = found
        return found

    def _room_support(self, aff: np.ndarray, rooms: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """Per leaf: the best match between the need and a use of another kind of thing in its
        room (from the room node's category counts; 0 when it holds nothing else that serves it):
        a bathtub in a room that also has a shower and a towel rack beats one in a store room."""
        support = np.zeros(len(rooms))
        unique, inverse = np.unique(rooms, return_inverse=True)
        if len(aff) == 0 or not (unique >= 0).any():
            return support
        held = [self._room_categories(int(r)) if r >= 0 else np.zeros(0, dtype=np.int64) for r in unique.tolist()]
        owner = np.repeat(np.arange(len(unique)), [len(h) for h in held])
        cats = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
        value = np.maximum(aff[cats], 0.0)
        # The best and second-best category of each room (the best being another kind of thing
        # than the leaf's, or a second kind tied with it, gives the best; else the second best).
        best = np.zeros(len(unique))
        np.maximum.at(best, owner, value)
        top = value >= best[owner]
        first = np.full(len(unique), -1, dtype=np.int64)
        np.maximum.at(first, owner[top], cats[top])
        second = np.zeros(len(unique))
        other = cats != first[owner]
        np.maximum.at(second, owner[other], value[other])
        own_best = categories == first[inverse]
        return np.where(rooms >= 0, np.where(own_best, second[inverse], best[inverse]), 0.0)

    def _activity_by_type(self, q: np.ndarray) -> np.ndarray:
        """Per room type of the forest: the best match between the query and one of its
        activities (-1 when the table knows none)."""
        activity = self.matcher().activity(q)
        return np.array([activity.get(t, -1.0) for t in self.m.forest.nodes.room_types], dtype=np.float64)

    def _room_activity(self, q: np.ndarray, rooms: np.ndarray) -> np.ndarray:
        """Per room node: the best match between the query and an activity of its room type,
        scaled by how sure the room's type is (its cosine where the type is unknown)."""
        nodes = self.m.forest.nodes
        by_type = np.append(self._activity_by_type(q), -1.0)
        act = by_type[nodes.room_type[rooms]] * nodes.room_confidence[rooms]
        return np.where(nodes.room_type[rooms] >= 0, act, cosines(nodes.vectors(rooms), q))

    def rank_nodes(self, q: np.ndarray, k: int, *, categories: list[str], room_types: list[str],
                   query: str, robot_xy: np.ndarray | None) -> Ranked:
        """Parent nodes for global queries. Candidates: every node the beam search scored, plus
        the rooms of the room types the query names or whose activities match it best (at most
        ``category_candidates`` of each, nearest the robot or best by cosine) and the rooms that
        hold leaves of the categories it names; then each gets its
        cosine mixed with its room type's activity match, a level prior, and the bonuses."""
        m, cfg = self.m, self.m.config
        nodes = m.forest.nodes
        scored, scored_cos, _ = self.beam(q, query)
        by_type = self._activity_by_type(q)
        wanted = [i for i, t in enumerate(nodes.room_types) if t in room_types]
        wanted += [int(i) for i in np.argsort(-by_type, kind="stable")[:3]] if len(by_type) else []
        rooms = nodes.ids(ROOM)
        rooms = rooms[np.isin(nodes.room_type[rooms], wanted)]
        more = [self._best_rooms(rooms, q, robot_xy)]
        if categories:
            # The rooms that hold the named things are candidates whatever the beam kept.
            holding = self._category_leaves(np.flatnonzero(self._named(categories)), q, robot_xy)
            zones = m.forest.leaf_parent[holding]
            parents = nodes.parent[zones[zones >= 0]]
            parents = parents[parents >= 0]
            more.append(parents[nodes.level[parents] == ROOM])
        extra = np.setdiff1d(np.concatenate(more).astype(np.int64), scored)
        ids, first = np.unique(np.concatenate([scored, extra]), return_index=True)
        if len(ids) == 0:
            return Ranked(np.zeros(0, dtype=np.int64), np.zeros(0), False)
        cosine = np.concatenate([scored_cos, cosines(nodes.vectors(extra), q)])[first].astype(np.float64)
        types = nodes.room_type[ids]
        act = np.where(types >= 0, by_type[np.maximum(types, 0)] if len(by_type) else -1.0, -1.0)
        w = cfg.activity_weight
        score = np.where(act >= 0, (1.0 - w) * cosine + w * act * nodes.room_confidence[ids], cosine)
        levels = nodes.level[ids]
        whole = bool(_WHOLE_PLACE.search(query.lower()))
        score += np.select([levels == ROOM, levels == ZONE, levels == BUILDING, levels == SITE],
                           [0.05, -0.05, -0.05, 0.3 if whole else -0.1])
        if room_types:
            score += cfg.room_match_bonus * np.isin(types, [nodes.room_types.index(t) for t in room_types
                                                            if t in nodes.room_types])
        if categories:
            # Region-level reasoning from the rooms' category counts: the share of the named
            # things a room holds ("which room has both a desk and a bookshelf?") and, when the
            # question asks for the most, how many it holds against the best room.
            wanted_names = [{c, *nodes_names(self, [c])} for c in categories]
            is_room = levels == ROOM
            share = np.zeros(len(ids))
            count = np.zeros(len(ids))
            for row in np.flatnonzero(is_room).tolist():
                held = nodes.info[int(ids[row])].category_counts
                share[row] = np.mean([not names.isdisjoint(held) for names in wanted_names])
                count[row] = sum(held.get(n, 0) for names in wanted_names for n in names)
            # Twice the leaves' bonus: a room holding every named thing beats one holding half
            # of them by a whole bonus, more than the activity and cosine terms ever differ by.
            score += 2.0 * cfg.category_match_bonus * share
            if _MOST.search(query.lower()) and count.max() > 0:
                score += cfg.category_match_bonus * count / count.max()
        if robot_xy is not None:
            distance = np.linalg.norm(nodes.position[ids, :2] - robot_xy, axis=1)
            score -= cfg.proximity_weight * np.minimum(distance / 20.0, 1.0)
        order = np.lexsort((ids, -score))[:k]
        # A question about a region itself ("what's in the living room?") is answered at the
        # region's medoid; one that asks for a thing or a need in it at that thing.
        about_region = bool(room_types) and not categories and bool(_GLOBAL_CUES.search(query.lower()))
        focus = None if about_region else self.focus_leaves(q, ids[order], categories=categories, query=query)
        return Ranked(ids[order], score[order], False, focus)

    def focus_leaves(self, q: np.ndarray, node_ids: np.ndarray, *, categories: list[str], query: str) -> np.ndarray:
        """Per region (a zone or room node; -1 for other levels): the leaf under it that best
        answers the question, ranked as flat ranks leaves (the named things when the question
        names any, else as a need), over the leaves of all the regions at once."""
        forest, nodes = self.m.forest, self.m.forest.nodes
        focus = np.full(len(node_ids), -1, dtype=np.int64)
        regions = [(row, forest.descendant_leaves(int(node))) for row, node in enumerate(node_ids.tolist())
                   if ZONE <= int(nodes.level[node]) <= ROOM]
        regions = [(row, under) for row, under in regions if len(under)]
        if not regions:
            return focus
        pool = np.unique(np.concatenate([under for _, under in regions]))
        kind = QueryKind.EXPLICIT if categories else QueryKind.IMPLICIT
        ranked = self.rank_leaves(q, kind, len(pool), mode="flat", categories=categories, room_types=[],
                                  robot_xy=None, query=query, allowed=pool)
        position = np.full(self.m.leaves.n, len(pool), dtype=np.int64)
        position[ranked.ids] = np.arange(len(ranked.ids))
        for row, under in regions:
            focus[row] = int(under[np.argmin(position[under])])
        return focus

    def _best_rooms(self, rooms: np.ndarray, q: np.ndarray, robot_xy: np.ndarray | None) -> np.ndarray:
        """At most ``category_candidates`` of these rooms: the nearest to the robot, else the best by cosine."""
        cap = self.m.config.category_candidates
        if len(rooms) <= cap:
            return rooms
        nodes = self.m.forest.nodes
        if robot_xy is not None:
            key = np.linalg.norm(nodes.position[rooms, :2] - robot_xy, axis=1)
        else:
            key = -cosines(nodes.vectors(rooms), q)
        return rooms[np.argpartition(key, cap - 1)[:cap]]

