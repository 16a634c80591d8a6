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
                 *, temperature: float = 0.05, vote_weight: float = 0.85, evidence: str = "noisy_or") -> None:
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

    def type_rooms(self, rooms: Mapping[str, Sequence[RoomObject]]) -> dict[str, RoomType]:
        """Room id -> :class:`RoomType` for every room with at least one object."""
        found: dict[str, tuple[str, float, int]] = {}
        for room_id, objects in rooms.items():
            if not objects:
                continue
            dist = self.distribution(objects)
            order = np.argsort(dist)[::-1]
            best, second = float(dist[order[0]]), float(dist[order[1]]) if len(order) > 1 else 0.0
            found[room_id] = (self.types[int(order[0])], best / max(best + second, 1e-12), len(objects))
        counts = Counter(kind for kind, _, _ in found.values())
        seen: Counter[str] = Counter()
        result = {}
        for room_id in sorted(found, key=lambda r: (found[r][0], -found[r][1], r)):
            kind, confidence, n = found[room_id]
            seen[kind] += 1
            name = f"{kind} {seen[kind]}" if counts[kind] > 1 else kind
            result[room_id] = RoomType(room_id, kind, round(confidence, 4), name, n)
        return result

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
