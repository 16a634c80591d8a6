"""Room types from what a room holds: the robot names its rooms from the objects it saw there.

The evidence is the room's *label distribution*: every fused object contributes its whole label
distribution (not its argmax) times its confidence, and a label seen on several objects counts
once, as a noisy-OR of their probabilities (``evidence="noisy_or"``): five duplicate tracks of
one pantry shelf in a kitchen are one pantry shelf, not five votes against the stove, sink and
kettle. Two terms over the knowledge table's room types are then mixed:

- **votes** (weight ``vote_weight``, 0.85): every label votes for the rooms the table says it is
  usually found in (the first listed twice as much, as :meth:`Knowledge.vote_room` does);
- **embeddings** (the rest): each room type is described in words (its activities and the
  things typically found there), each label is compared with every description by text-embedding
  cosine, and the evidence-weighted mean goes through a softmax (``temperature`` 0.05). Alone it
  confuses rooms whose descriptions share words (a bed, a dresser and two dining chairs scored
  "dining room"); it breaks ties between votes.

The weights were chosen on the dev scenes' surveys only (home_0001, home_0011, office_0003: typing
accuracy 0.55 with equal weights, sum evidence and temperature 0.02; 0.725 with these).
Two kinds of context then reshape the distribution:

- **the site** (``site_context``): the vote mass of *all* the site's objects on room types
  that only homes have (bedroom, laundry room, ...) or only workplaces have (meeting room,
  printer room, lobby, server room) says how much the site is a workplace, ``w`` in 0..1
  (:meth:`RoomTyper.site_kind`; the dev surveys read 0.29 and 0.24 for the homes, 0.76 for the
  office). A home-only type then keeps ``1 - w`` of its mass and hands ``w`` to its workplace
  counterpart (``HOME_ONLY``: kitchen -> break room, living room -> lobby, study -> office),
  and a workplace-only type hands ``1 - w`` to its home counterpart (``WORK_ONLY``: office ->
  study, meeting room -> dining room): a fridge, a sink and a coffee maker are a kitchen in a
  home and a break room in an office building.
- **the shape** (:meth:`~embodied_stack.memory.rooms.RoomMap.room_shapes`): a room at least
  three times as long as wide and under 2 m wide gets up to ``CORRIDOR_WEIGHT`` of its mass on
  "hallway" (:func:`corridor_likelihood`), and such a room without objects is typed hallway.

On the dev surveys (the same tracks and maps, re-typed offline) these took typing accuracy from
17 to 21 of 24 scene rooms (office_0003 0.375 -> 0.75: the break room, the reception and the
corridor; home_0011 0.8 -> 0.9: the study); what is left is a storage room and a restroom
the robot never entered, and a laundry room holding a washing machine and a bathroom cabinet.

The type is the distribution's mode. Its confidence is the mode's share of the top two,
``p1 / (p1 + p2)`` (how clearly it beats the runner-up), not ``p1`` itself: spread over 25 room
types, ``p1`` averaged 0.50 on the dev rooms while 74 % of them were typed right; the share
tracks the accuracy (dev rooms with a share under 0.66 / 0.66-0.75 / over 0.75 were right 3/6,
6/8 and 8/9 times). It reaches the forest, where a room typed with little confidence weighs less
in retrieval. A type shared by
several rooms gets numbered names ("bedroom 1", "bedroom 2").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from embodied_stack.memory.knowledge import Knowledge, default_knowledge


@dataclass(frozen=True)
class RoomObject:
    """An object the robot saw: floor position, label distribution, confidence."""

    xy: tuple[float, float]
    labels: Mapping[str, float]
    confidence: float = 1.0


@dataclass(frozen=True)
class RoomType:
    """A room's inferred type, its confidence, display name and the objects it rests on."""

    room_id: str
    type: str
    confidence: float
    name: str
    objects: int


HOME_ONLY: dict[str, str | None] = {
    "kitchen": "break room", "living room": "lobby", "dining room": "break room", "study": "office",
    "pantry": "break room", "bedroom": None, "nursery": None, "playroom": None,
    "laundry room": "storage room", "garage": "storage room", "balcony": None, "garden": None,
    "game room": "break room",
}
"""Room types found in homes and not in workplaces, each with the workplace room that plays its
part (a kitchen's part in an office building is the break room's, a living room's the lobby's)."""

WORK_ONLY: dict[str, str | None] = {
    "office": "study", "printer room": "study", "server room": "storage room", "break room": "kitchen",
    "meeting room": "dining room", "lobby": "entrance",
}
"""Room types found in workplaces and not in homes, each with the home room that plays its part.
Types in neither (bathroom, hallway, storage room, gym, studio) are found in both."""

SITE_MARKS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("bedroom", "nursery", "playroom", "laundry room", "garage", "balcony", "garden", "game room"),
    ("printer room", "server room", "meeting room", "lobby"),
)
"""(home, workplace) room types that only one kind of site has at all: the site's kind is read
from the vote mass of its objects on these (a kitchen, a living room or an office with a desk
turn up in both kinds, so they do not say which)."""


CORRIDOR_WEIGHT = 0.6
"""Share of a room's type distribution given to "hallway" by its shape (times
:func:`corridor_likelihood`); its objects keep the rest."""


def corridor_likelihood(area_m2: float, width_m: float, *, min_ratio: float = 3.0, max_width_m: float = 2.0) -> float:
    """How much a room's shape says corridor (0..1): a room at least ``min_ratio`` times as long
    as it is wide (``area / width^2``), and no wider than ``max_width_m``, ramping to 1 at twice
    that ratio."""
    if width_m <= 0.0 or width_m > max_width_m:
        return 0.0
    ratio = area_m2 / width_m ** 2
    return float(np.clip((ratio - min_ratio) / min_ratio, 0.0, 1.0))


def describe_room_types(knowledge: Knowledge, max_things: int = 15) -> dict[str, str]:
    """One description per room type of the table: activities and typical things."""
    things: dict[str, list[str]] = defaultdict(list)
    for info in knowledge.categories.values():
        if info.rooms:
            things[info.rooms[0]].append(info.name)
    return {name: f"{name}: a room where people {', '.join(info.activities)}; with "
                  f"{', '.join(things.get(name, [])[:max_things]) or 'things'}"
            for name, info in knowledge.rooms.items()}


class RoomTyper:
    """Types rooms from their objects (see the module docstring).

    Args:
        embed: texts -> (N, D) embeddings (the memory's text embedder); without one only the
            votes count.
        knowledge: the commonsense table (default: the packaged one).
        temperature: softmax temperature of the embedding scores (cosines).
        vote_weight: weight of the vote distribution (the embedding one gets the rest).
        evidence: ``noisy_or`` (a label counts once however many objects carry it) or ``sum``
            (every object counts).
    """

    def __init__(self, embed: Callable[[list[str]], np.ndarray] | None = None, knowledge: Knowledge | None = None,
                 *, temperature: float = 0.05, vote_weight: float = 0.85, evidence: str = "noisy_or",
                 site_context: bool = True) -> None:
        if evidence not in ("sum", "noisy_or"):
            raise ValueError(f"RoomTyper: evidence must be 'sum' or 'noisy_or', got {evidence!r}")
        self.evidence = evidence
        self.knowledge = knowledge or default_knowledge()
        self.embed = embed
        self.temperature = float(temperature)
        self.vote_weight = float(vote_weight) if embed is not None else 1.0
        descriptions = describe_room_types(self.knowledge)
        self.types = list(descriptions)
        self._type_vectors = _unit(embed(list(descriptions.values()))) if embed is not None else None
        self._label_vectors: dict[str, np.ndarray] = {}
        self.site_context = bool(site_context)
        index = {t: i for i, t in enumerate(self.types)}
        home = [t for t in HOME_ONLY if t in index]
        work = [t for t in WORK_ONLY if t in index]
        self._home = np.array([index[t] for t in home], dtype=np.int64)
        self._work = np.array([index[t] for t in work], dtype=np.int64)
        self._home_marks = np.array([index[t] for t in SITE_MARKS[0] if t in index], dtype=np.int64)
        self._work_marks = np.array([index[t] for t in SITE_MARKS[1] if t in index], dtype=np.int64)
        # counterparts (-1: none; its moved mass is dropped, the rest renormalised)
        self._home_to = np.array([index.get(HOME_ONLY[t] or "", -1) for t in home], dtype=np.int64)
        self._work_to = np.array([index.get(WORK_ONLY[t] or "", -1) for t in work], dtype=np.int64)

    def distribution(self, objects: Sequence[RoomObject]) -> np.ndarray:
        """(T,) probabilities over :attr:`types` for a room holding ``objects``."""
        weights: Counter[str] = Counter()
        if self.evidence == "sum":
            for obj in objects:
                for label, p in obj.labels.items():
                    weights[label] += p * obj.confidence
        else:
            missing: dict[str, float] = {}
            for obj in objects:
                for label, p in obj.labels.items():
                    missing[label] = missing.get(label, 1.0) * (1.0 - min(1.0, p * obj.confidence))
            weights.update({label: 1.0 - m for label, m in missing.items() if m < 1.0})
        if not weights:
            return np.full(len(self.types), 1.0 / len(self.types))
        votes = np.zeros(len(self.types))
        index = {t: i for i, t in enumerate(self.types)}
        for label, w in weights.items():
            rooms = [r for r in self.knowledge.typical_rooms(label) if r in index]
            if rooms:
                share = np.array([2.0] + [1.0] * (len(rooms) - 1))
                votes[[index[r] for r in rooms]] += w * share / share.sum()
        votes = votes / votes.sum() if votes.sum() > 0 else np.full(len(self.types), 1.0 / len(self.types))
        if self._type_vectors is None:
            return votes
        labels = list(weights)
        vectors = np.stack([self._label_vector(label) for label in labels])
        w = np.array([weights[label] for label in labels])
        score = (w @ (vectors @ self._type_vectors.T)) / w.sum()
        soft = np.exp((score - score.max()) / self.temperature)
        soft /= soft.sum()
        return self.vote_weight * votes + (1.0 - self.vote_weight) * soft

    def type_rooms(self, rooms: Mapping[str, Sequence[RoomObject]],
                   shapes: Mapping[str, tuple[float, float]] | None = None) -> dict[str, RoomType]:
        """Room id -> :class:`RoomType` for every room with at least one object (or, given its
        shape, a long narrow room without objects: a corridor).

        Args:
            rooms: room id -> the objects seen in it.
            shapes: room id -> (area m^2, width m) (:meth:`RoomMap.room_shapes`); a long narrow
                room leans to a hallway (:func:`corridor_likelihood`).
        """
        found: dict[str, tuple[str, float, int]] = {}
        everything = [obj for objects in rooms.values() for obj in objects]
        site = self.site_kind(everything) if self.site_context else None
        hallway = self.types.index("hallway") if "hallway" in self.types else None
        for room_id, objects in rooms.items():
            corridor = corridor_likelihood(*shapes[room_id]) if shapes and room_id in shapes else 0.0
            if not objects and (corridor <= 0.0 or hallway is None):
                continue
            dist = self.distribution(objects) if objects else np.zeros(len(self.types))
            if site is not None and objects:
                dist = self.in_site(dist, site)
            if hallway is not None and corridor > 0.0:
                dist = (1.0 - CORRIDOR_WEIGHT * corridor) * dist
                dist[hallway] += CORRIDOR_WEIGHT * corridor
            order = np.argsort(dist)[::-1]
            best, second = float(dist[order[0]]), float(dist[order[1]]) if len(order) > 1 else 0.0
            confidence = best / max(best + second, 1e-12)
            if not objects:  # typed by its shape alone: as sure as the shape is
                confidence = min(confidence, CORRIDOR_WEIGHT * corridor)
            found[room_id] = (self.types[int(order[0])], confidence, len(objects))
        counts = Counter(kind for kind, _, _ in found.values())
        seen: Counter[str] = Counter()
        result = {}
        for room_id in sorted(found, key=lambda r: (found[r][0], -found[r][1], r)):
            kind, confidence, n = found[room_id]
            seen[kind] += 1
            name = f"{kind} {seen[kind]}" if counts[kind] > 1 else kind
            result[room_id] = RoomType(room_id, kind, round(confidence, 4), name, n)
        return result

    def site_kind(self, objects: Sequence[RoomObject]) -> float | None:
        """How much the whole site looks like a workplace rather than a home (0..1), from the
        vote mass of all its objects on workplace-only and home-only room types; None when
        neither has any."""
        if not objects:
            return None
        dist = self.distribution(objects)
        home = float(dist[self._home_marks].sum())
        work = float(dist[self._work_marks].sum())
        return work / (work + home) if work + home > 0 else None

    def in_site(self, dist: np.ndarray, work: float) -> np.ndarray:
        """A room's type distribution in a site that is a workplace with probability ``work``:
        a home-only type keeps the share ``1 - work`` of its mass and hands the rest to its
        workplace counterpart (a kitchen in an office building is its break room), and the
        other way round."""
        out = dist.copy()
        moved_home = dist[self._home] * work
        moved_work = dist[self._work] * (1.0 - work)
        out[self._home] -= moved_home
        out[self._work] -= moved_work
        for to, moved in ((self._home_to, moved_home), (self._work_to, moved_work)):
            has = to >= 0  # a type without a counterpart loses the mass (the rest is renormalised)
            np.add.at(out, to[has], moved[has])
        return out / out.sum() if out.sum() > 0 else dist

    def _label_vector(self, label: str) -> np.ndarray:
        vec = self._label_vectors.get(label)
        if vec is None:
            assert self.embed is not None
            vec = _unit(self.embed([f"a {label}"]))[0]
            self._label_vectors[label] = vec
        return vec


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
