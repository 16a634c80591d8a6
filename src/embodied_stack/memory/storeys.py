"""A spatial context over several storeys: one floor plan (room segmentation, navigable map) per
storey, picked by a point's height.

A robot surveys a two-storey house one floor at a time and builds one floor plan per floor; the
plans overlap in (x, y), so "which room is this point in" needs the height. The memory asks
:meth:`StoreySpatial.room_of_xyz` when its context has it (``SemanticMemory._rooms_for``). Room
ids are prefixed with the storey (``"1/room_3"``) so rooms of different floors never share an id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class StoreySpatial:
    """Per-storey contexts (each with ``room_of``, ``room_category``, ``nearest_navigable``) and the
    floor height of each, lowest first."""

    def __init__(self, contexts: Sequence[Any], floors_z: Sequence[float], tolerance_m: float = 0.5) -> None:
        if len(contexts) != len(floors_z) or not contexts:
            raise ValueError(f"StoreySpatial needs one floor height per context, got {len(contexts)} and {len(floors_z)}")
        self.contexts = list(contexts)
        self.floors = np.asarray(floors_z, dtype=np.float64)
        self.tolerance_m = tolerance_m

    def storey_of(self, z: np.ndarray) -> np.ndarray:
        """Storey index of heights: the highest floor at most ``tolerance_m`` above each."""
        index = np.searchsorted(self.floors, np.asarray(z, dtype=np.float64) + self.tolerance_m, side="right") - 1
        return np.clip(index, 0, len(self.floors) - 1)

    def room_of_xyz(self, xyz: np.ndarray) -> list[str | None]:
        points = np.atleast_2d(np.asarray(xyz, dtype=np.float64))
        storey = self.storey_of(points[:, 2])
        out: list[str | None] = [None] * len(points)
        for k, context in enumerate(self.contexts):
            rows = np.flatnonzero(storey == k)
            if len(rows):
                for row, room in zip(rows.tolist(), context.room_of(points[rows, :2]), strict=True):
                    out[row] = f"{k}/{room}" if room else None
        return out

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        """Without a height: the lowest storey's rooms."""
        return [f"0/{r}" if r else None for r in self.contexts[0].room_of(xy)]

    def room_category(self, room_id: str) -> str:
        storey, _, room = room_id.partition("/")
        if not storey.isdigit() or int(storey) >= len(self.contexts):
            return ""
        return self.contexts[int(storey)].room_category(room)

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        """Without a height: the lowest storey's map (answers keep the hit's own height)."""
        return self.contexts[0].nearest_navigable(xy)
