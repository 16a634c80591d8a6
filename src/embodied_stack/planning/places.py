"""How likely a target is at a place, from what the memory knows (semantic-frontier value).

The value of a point for a target category comes from the robot's memory only, as in VLFM, ESC
and L3MVN: the room the memory holds there and that room's inferred type (a fridge is usually in
a kitchen: commonsense from :mod:`embodied_stack.memory.knowledge`), and the things the memory saw
nearby (keys lie near a console table more often than near a bathtub: categories that share
typical rooms). Space outside every room the memory knows (never surveyed) gets a fixed prior,
since anything may be there. Rooms the memory knows were looked at already; their value is
discounted but not zero (the target may have been moved there since, or missed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from embodied_stack.memory.knowledge import Knowledge, default_knowledge, normalize_phrase

ROOM_LEVEL = 2


@dataclass(frozen=True)
class RankerConfig:
    """Weights of the place value (tuned on the dev scenes; see docs/evaluation.md).

    ``unknown_value``: the prior of space outside every known room. ``seen_discount``: factor on
    a known room's prior (it was looked at). ``room_margin_m``: a room's box grows by this when
    asking whether a point is in it. ``object_radius_m`` / ``object_weight``: what the memory
    saw this close to a point adds up to ``object_weight`` times the co-occurrence of its
    category with the target. ``use_rooms``/``use_objects`` switch the two cues (ablations).
    """

    unknown_value: float = 0.5
    seen_discount: float = 0.6
    room_margin_m: float = 0.5
    object_radius_m: float = 2.0
    object_weight: float = 0.3
    use_rooms: bool = True
    use_objects: bool = True


@dataclass(frozen=True)
class RoomPlace:
    """A room the memory holds: its id, inferred type, a point inside and its box (xy)."""

    key: str
    room_type: str | None
    position: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    type_confidence: float = 1.0  # how sure the memory is of ``room_type`` (1: sure, or not said)


def target_categories(knowledge: Knowledge, label: str, extra: Iterable[str] = ()) -> list[str]:
    """The categories a target phrase names ("the laundry basket" -> ["laundry basket"])."""
    return knowledge.find_categories(label, extra=frozenset(extra))


UNTYPED_PRIOR = 0.3
"""The prior of a room of unknown type."""


def room_prior(knowledge: Knowledge, categories: list[str], room_type: str | None) -> float:
    """How typical a room type is for any of the categories: 1.0 for a category's first listed
    room, 0.6 for another listed one, 0.1 for an unlisted one, ``UNTYPED_PRIOR`` when unknown."""
    if room_type is None or not categories:
        return UNTYPED_PRIOR
    room = knowledge.canonical_room(room_type) or normalize_phrase(room_type)
    best = 0.1
    for category in categories:
        typical = [knowledge.canonical_room(r) or normalize_phrase(r) for r in knowledge.typical_rooms(category)]
        if typical and typical[0] == room:
            return 1.0
        if room in typical:
            best = max(best, 0.6)
    return best


def cooccurrence(knowledge: Knowledge, a: str, categories: list[str]) -> float:
    """Overlap (Jaccard) of the typical rooms of category ``a`` and the target categories."""
    rooms_a = {knowledge.canonical_room(r) or r for r in knowledge.typical_rooms(a)}
    if not rooms_a:
        return 0.0
    best = 0.0
    for category in categories:
        rooms_t = {knowledge.canonical_room(r) or r for r in knowledge.typical_rooms(category)}
        if rooms_t:
            best = max(best, len(rooms_a & rooms_t) / len(rooms_a | rooms_t))
    return best


class PlaceRanker:
    """Values points for a target from the memory's rooms and objects (see the module docstring).

    ``memory`` is a :class:`~embodied_stack.memory.semantic_memory.SemanticMemory` (rooms and
    leaves read through ``iter_nodes``/``iter_leaves``) or anything with ``query`` (a ROS
    service client): then the rooms come from a global query's room-level hits.
    """

    def __init__(self, memory: Any, categories: list[str], config: RankerConfig | None = None,
                 knowledge: Knowledge | None = None) -> None:
        self.memory = memory
        self.categories = categories
        self.config = config or RankerConfig()
        self.knowledge = knowledge or default_knowledge()
        self.rooms: list[RoomPlace] = []
        self._room_values = np.zeros(0)
        self._objects = np.zeros((0, 2))
        self._object_values = np.zeros(0)
        self.refresh()

    def refresh(self) -> None:
        """Read the memory again (call after each batch of new observations)."""
        self.rooms = list(_memory_rooms(self.memory, self.categories))
        # a room typed with little confidence is partly a room of unknown type: the expected prior
        self._room_values = np.array([
            r.type_confidence * room_prior(self.knowledge, self.categories, r.room_type)
            + (1.0 - r.type_confidence) * UNTYPED_PRIOR for r in self.rooms])
        xy, values = [], []
        leaves = getattr(self.memory, "iter_leaves", None)
        if callable(leaves) and self.config.use_objects:
            weights: dict[str, float] = {}
            targets = {self.knowledge.canonical(c) or normalize_phrase(c) for c in self.categories}
            for leaf in leaves():
                name = str(leaf.name)
                if name not in weights:
                    canonical = self.knowledge.canonical(normalize_phrase(name)) or normalize_phrase(name)
                    # the target's own sightings are the planner's to try; one the search is
                    # asked about proved stale (or was never confirmed): no pull toward it
                    weights[name] = 0.0 if canonical in targets else cooccurrence(self.knowledge, name,
                                                                                   self.categories)
                if weights[name] > 0:
                    xy.append(leaf.position[:2])
                    values.append(weights[name])
        self._objects = np.array(xy, dtype=np.float64).reshape(-1, 2)
        self._object_values = np.array(values, dtype=np.float64)

    def room_value(self, index: int) -> float:
        return float(self._room_values[index])

    def values(self, xy: np.ndarray) -> np.ndarray:
        """Value of each (N, 2) point: room prior (known rooms discounted, unknown space the
        fixed prior) plus the nearby-object bonus."""
        cfg = self.config
        pts = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        out = np.full(len(pts), cfg.unknown_value)
        if cfg.use_rooms and self.rooms:
            lo = np.array([r.bbox_min for r in self.rooms]) - cfg.room_margin_m
            hi = np.array([r.bbox_max for r in self.rooms]) + cfg.room_margin_m
            inside = np.all((pts[:, None, :] >= lo[None]) & (pts[:, None, :] <= hi[None]), axis=2)
            known = inside.any(axis=1)
            best = np.where(inside, self._room_values[None, :], -np.inf).max(axis=1, initial=-np.inf)
            out[known] = cfg.seen_discount * best[known]
        if cfg.use_objects and len(self._objects):
            d = np.linalg.norm(pts[:, None, :] - self._objects[None], axis=2)
            near = np.where(d <= cfg.object_radius_m, self._object_values[None, :], 0.0)
            out += cfg.object_weight * near.max(axis=1)
        return out


def _memory_rooms(memory: Any, categories: list[str]) -> Iterable[RoomPlace]:
    nodes = getattr(memory, "iter_nodes", None)
    if callable(nodes):
        # the robot's own rooms say how sure their type is (rooms.RoomMap.room_confidence)
        confidence = getattr(getattr(memory, "spatial", None), "room_confidence", None)
        for node in nodes(ROOM_LEVEL):
            sure = 1.0
            if callable(confidence) and getattr(node, "room", None) and node.category:
                sure = float(np.clip(confidence(node.room), 0.0, 1.0))
            yield RoomPlace(node.node_id, node.category, np.asarray(node.position[:2], dtype=np.float64),
                            np.asarray(node.bbox_min[:2], dtype=np.float64), np.asarray(node.bbox_max[:2], dtype=np.float64),
                            sure)
        return
    text = f"which room would have {categories[0]}" if categories else "which rooms are there"
    result = memory.query(text, kind="global", k=10)
    for hit in result.hits:
        if int(hit.level) == ROOM_LEVEL:
            xy = np.asarray(hit.position[:2], dtype=np.float64)
            yield RoomPlace(str(hit.node_id), getattr(hit, "category", None), xy, xy - 2.0, xy + 2.0)
