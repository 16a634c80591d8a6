"""A small hand-built apartment: rooms as axis-aligned rectangles, objects with known places."""

from __future__ import annotations

import numpy as np

from embodied_stack.memory.spatial import Room
from embodied_stack.memory.types import Observation

T0 = 1_714_546_800.0  # 2024-05-01 07:00 UTC

ROOMS = {
    "kitchen_1": ("kitchen", (0.0, 0.0, 4.0, 4.0)),
    "living_room_1": ("living room", (4.0, 0.0, 10.0, 4.0)),
    "bedroom_1": ("bedroom", (4.0, 4.0, 10.0, 8.0)),
    "bathroom_1": ("bathroom", (0.0, 4.0, 4.0, 8.0)),
}

# id: (category, caption, room, centre)
OBJECTS = {
    "fridge": ("fridge", "a tall white fridge", "kitchen_1", (0.5, 3.5, 0.9)),
    "stove": ("stove", "a black gas stove", "kitchen_1", (1.6, 3.7, 0.9)),
    "sink": ("sink", "a steel kitchen sink", "kitchen_1", (2.6, 3.7, 0.9)),
    "table": ("dining table", "a round wooden table", "kitchen_1", (2.0, 1.5, 0.4)),
    "chair": ("chair", "a wooden chair", "kitchen_1", (1.2, 1.5, 0.45)),
    "red_mug": ("mug", "a red ceramic mug", "kitchen_1", (2.1, 1.6, 0.8)),
    "sofa": ("sofa", "a grey three-seat sofa", "living_room_1", (7.0, 0.6, 0.45)),
    "tv": ("television", "a flat-screen tv", "living_room_1", (7.0, 3.8, 1.2)),
    "coffee_table": ("coffee table", "a low glass coffee table", "living_room_1", (7.0, 1.8, 0.2)),
    "blue_mug": ("mug", "a blue mug", "living_room_1", (7.2, 1.8, 0.45)),
    "bookshelf": ("bookshelf", "a tall bookshelf full of novels", "living_room_1", (9.7, 2.0, 1.0)),
    "bed": ("bed", "a double bed with a blue duvet", "bedroom_1", (8.0, 6.6, 0.3)),
    "nightstand": ("nightstand", "a white nightstand", "bedroom_1", (9.3, 7.4, 0.3)),
    "wardrobe": ("wardrobe", "a tall oak wardrobe", "bedroom_1", (5.0, 7.6, 1.0)),
    "toilet": ("toilet", "a white toilet", "bathroom_1", (0.5, 7.5, 0.4)),
    "shower": ("shower", "a glass shower cabin", "bathroom_1", (3.3, 7.3, 1.0)),
    "washbasin": ("bathroom sink", "a small washbasin with a mirror", "bathroom_1", (1.6, 7.7, 0.85)),
}


def rooms() -> list[Room]:
    out = []
    for room_id, (category, (x0, y0, x1, y1)) in ROOMS.items():
        out.append(Room(room_id, category, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)))
    return out


def room_of_point(x: float, y: float) -> str | None:
    for room_id, (_, (x0, y0, x1, y1)) in ROOMS.items():
        if x0 <= x < x1 and y0 <= y < y1:
            return room_id
    return None


def apartment_observations(seed: int = 0, *, with_rooms: bool = True, sightings: int = 2) -> list[Observation]:
    """Each object seen ``sightings`` times (a few cm of noise), 20 s apart, from 07:00 UTC.

    The red mug is seen last at 07:00 + 2 h (a second patrol)."""
    rng = np.random.default_rng(seed)
    out = []
    t = T0
    for _ in range(sightings):
        for category, caption, room, centre in OBJECTS.values():
            t += 20.0
            pos = np.asarray(centre) + rng.normal(0.0, 0.03, 3)
            out.append(Observation(category=category, caption=caption, position=tuple(pos.tolist()),
                                   extent=(0.5, 0.5, 0.5), confidence=0.8, timestamp=t,
                                   room=room if with_rooms else None,
                                   source_pose=(centre[0], centre[1] - 1.0 if centre[1] > 1.2 else centre[1] + 1.0,
                                                1.0, 0.0, 0.0, 0.0, 1.0)))
    out.append(Observation(category="mug", caption="a red ceramic mug", position=OBJECTS["red_mug"][3],
                           extent=(0.1, 0.1, 0.1), confidence=0.9, timestamp=T0 + 7200.0,
                           room="kitchen_1" if with_rooms else None))
    return out
