"""Synthetic observations for benchmarks: many houses of furnished rooms, seen on a long patrol.

Houses sit on a grid (12 m x 10 m each, 16 m apart); each has 6-9 rooms of common types laid
out in a 3 x 3 grid; each room holds objects of categories that the commonsense table says
belong there (the typical ones more often). Captions come from a finite but realistic
vocabulary ("a small red mug by the window"), so the number of distinct texts stays far
below the number of leaves and the embedding cache can do its job; benchmarks report how many
distinct texts there were. Each object is seen 1-3 times with a few centimetres of noise.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from embodied_stack.memory.knowledge import Knowledge, default_knowledge
from embodied_stack.memory.types import Observation

HOUSE_W_M, HOUSE_H_M, HOUSE_PITCH_M = 12.0, 10.0, 16.0
ROOM_TYPES = ("kitchen", "living room", "bedroom", "bathroom", "dining room", "office", "hallway", "laundry room",
              "gym", "garage", "balcony", "nursery", "storage room")
_CORE_ROOMS = ("kitchen", "living room", "bedroom", "bathroom", "hallway")
COLORS = ("white", "black", "grey", "red", "blue", "green", "yellow", "brown", "beige", "orange", "silver", "pink")
SIZES = ("small", "large", "old", "", "")
PLACES = ("by the window", "in the corner", "", "", "")


@dataclass(frozen=True)
class SyntheticObject:
    category: str
    caption: str
    room: str
    position: tuple[float, float, float]
    extent: tuple[float, float, float]


class SyntheticWorld:
    """A deterministic world of ``n_objects`` objects (the leaves a perfect fusion would make)."""

    def __init__(self, n_objects: int, *, seed: int = 0, objects_per_room: int = 30,
                 knowledge: Knowledge | None = None) -> None:
        self.knowledge = knowledge or default_knowledge()
        self.n_objects = n_objects
        self.seed = seed
        self.objects_per_room = objects_per_room
        by_room: dict[str, tuple[list[str], np.ndarray]] = {}
        for room in ROOM_TYPES:
            names, weights = [], []
            for info in self.knowledge.categories.values():
                if room in info.rooms:
                    names.append(info.name)
                    weights.append(3.0 if info.rooms[0] == room else 1.0)
            by_room[room] = (names, np.asarray(weights) / np.sum(weights))
        self._by_room = by_room
        self.n_rooms = max(1, -(-n_objects // objects_per_room))
        self.houses = max(1, -(-self.n_rooms // 8))
        self.side = int(np.ceil(np.sqrt(self.houses)))

    def room_plan(self, house: int) -> list[tuple[str, str, float, float]]:
        """(room id, type, x0, y0) of a house's rooms (cells of 4 m x 3.33 m)."""
        rng = np.random.default_rng((self.seed, house))
        extra = [r for r in ROOM_TYPES if r not in _CORE_ROOMS]
        types = list(_CORE_ROOMS) + list(rng.choice(extra, size=int(rng.integers(1, 5)), replace=False))
        hx, hy = (house % self.side) * HOUSE_PITCH_M, (house // self.side) * HOUSE_PITCH_M
        plan = []
        for index, room in enumerate(types[:9]):
            plan.append((f"h{house}_{room.replace(' ', '_')}_{index}", room, hx + (index % 3) * 4.0,
                         hy + (index // 3) * (HOUSE_H_M / 3.0)))
        return plan

    def objects(self) -> Iterator[SyntheticObject]:
        """Every object, house by house and room by room."""
        made = 0
        house = 0
        while made < self.n_objects:
            for room_id, room, x0, y0 in self.room_plan(house):
                rng = np.random.default_rng((self.seed, house, zlib.crc32(room_id.encode("utf-8"))))
                names, weights = self._by_room[room]
                count = min(self.objects_per_room, self.n_objects - made)
                picks = rng.choice(len(names), size=count, p=weights)
                xy = np.column_stack([x0 + rng.uniform(0.3, 3.7, count), y0 + rng.uniform(0.3, 3.0, count)])
                z = rng.uniform(0.1, 1.6, count)
                sizes = rng.uniform(0.1, 0.9, (count, 3))
                words = rng.integers(0, [len(SIZES), len(COLORS), len(PLACES)], size=(count, 3))
                for i in range(count):
                    parts = [SIZES[words[i, 0]], COLORS[words[i, 1]], names[picks[i]], PLACES[words[i, 2]]]
                    caption = "a " + " ".join(p for p in parts if p)
                    yield SyntheticObject(names[picks[i]], caption, room_id, (float(xy[i, 0]), float(xy[i, 1]),
                                          float(z[i])), tuple(float(v) for v in sizes[i]))
                made += count
                if made >= self.n_objects:
                    return
            house += 1

    def observations(self, *, start_s: float = 1.7e9, noise_m: float = 0.05) -> Iterator[Observation]:
        """Sightings of every object (1-3 each), in patrol order, about 2 s apart."""
        rng = np.random.default_rng((self.seed, 7))
        t = start_s
        for obj in self.objects():
            for _ in range(int(rng.integers(1, 4))):
                t += float(rng.uniform(0.5, 3.5))
                jitter = rng.normal(0.0, noise_m, 3)
                yield Observation(
                    category=obj.category, caption=obj.caption, position=tuple(np.add(obj.position, jitter).tolist()),
                    extent=obj.extent, confidence=float(rng.uniform(0.5, 1.0)), timestamp=t, room=obj.room,
                    source_pose=(obj.position[0] - 1.0, obj.position[1], 1.0, 0.0, 0.0, 0.0, 1.0),
                )

    def extent_m(self) -> tuple[float, float]:
        """Width and height of the site (metres)."""
        return self.side * HOUSE_PITCH_M, self.side * HOUSE_PITCH_M


def bench_queries(world: SyntheticWorld, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """(kind, text) queries of all four kinds over the world's vocabulary."""
    rng = np.random.default_rng((seed, 11))
    categories = sorted({c for names, _ in world._by_room.values() for c in names})
    needs = ["I'm thirsty", "I want to take a nap", "somewhere to sit and read", "I need to wash my hands",
             "I'm hungry", "where can I work out?", "I need to print a document", "I'd like to watch a movie",
             "I feel cold", "I need to do the laundry", "somewhere to put my coat", "I want to cook pasta"]
    rooms = ["kitchen", "living room", "bedroom", "bathroom", "office", "gym", "garage"]
    out = []
    for i in range(count):
        kind = ("explicit", "implicit", "global", "temporal")[i % 4]
        if kind == "explicit":
            text = f"where is the {COLORS[rng.integers(len(COLORS))]} {categories[rng.integers(len(categories))]}?"
        elif kind == "implicit":
            text = needs[rng.integers(len(needs))]
        elif kind == "global":
            room = rooms[rng.integers(len(rooms))]
            text = ["which room would I cook in?", f"what is in the {room}?", "how many rooms are there?",
                    f"describe the {room}"][int(rng.integers(4))]
        else:
            text = f"when did you last see the {categories[rng.integers(len(categories))]}?"
        out.append((kind, text))
    return out
