"""Strict scoring of a memory answer against the scene (the scorer's side only).

An answer's top-1 position is right when it lies inside a target room, or within
:data:`STRICT_RADIUS_M` (1.0 m, horizontal) of a target object's *box* (its rotated footprint),
not 1.5 m of its centre as FORMATS.md's default rule has it: a big object is right anywhere
near its edge, and a small one is no longer right because something else stands 1.4 m away.
:func:`proximity_only` flags answers that are right by this rule although the object the
answer points at is another one: the nearest scene object to the answer is not a target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

STRICT_RADIUS_M = 1.0


def footprint_distance_m(xy: np.ndarray, footprint: np.ndarray) -> float:
    """Horizontal distance from a point to a convex polygon (0 inside)."""
    a = np.asarray(footprint, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum("ij,ij->i", xy - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0.0, 1.0)
    edge = float(np.min(np.linalg.norm(a + t[:, None] * ab - xy, axis=1)))
    cross = ab[:, 0] * (xy[1] - a[:, 1]) - ab[:, 1] * (xy[0] - a[:, 0])
    inside = bool(np.all(cross >= 0) or np.all(cross <= 0))
    return 0.0 if inside else edge


def _targets(scene: Any, query: Any) -> list[Any]:
    objects = [o for c in query.target_categories for o in scene.objects_of_category(c)]
    return objects + [scene.object_by_id(i) for i in query.target_objects]


def strict_distance_m(scene: Any, query: Any, position_xyz: Sequence[float] | np.ndarray) -> float:
    """0 inside a target room, else the horizontal distance to the nearest target object's box
    (``inf`` without a finite position or when only rooms are targeted and missed)."""
    xy = np.asarray(position_xyz, dtype=np.float64).reshape(-1)[:2]
    if not np.all(np.isfinite(xy)):
        return math.inf
    for room_id in query.target_rooms:
        if bool(scene.room_by_id(room_id).contains(xy[None])[0]):
            return 0.0
    distances = [footprint_distance_m(xy, np.asarray(o.footprint())) for o in _targets(scene, query)]
    return min(distances) if distances else math.inf


def proximity_only(scene: Any, query: Any, position_xyz: Sequence[float] | np.ndarray) -> bool:
    """True when an object answer (no target room holds it) is nearest to a scene object that is
    not a target: it would be scored right only because a target stands close by."""
    xy = np.asarray(position_xyz, dtype=np.float64).reshape(-1)[:2]
    if not np.all(np.isfinite(xy)) or not scene.objects:
        return False
    if any(bool(scene.room_by_id(r).contains(xy[None])[0]) for r in query.target_rooms):
        return False
    found = _targets(scene, query)
    if not found or min(footprint_distance_m(xy, np.asarray(o.footprint())) for o in found) == 0.0:
        return False  # no target object, or the answer lies on one
    targets = {id(o) for o in found}
    nearest = min(scene.objects, key=lambda o: footprint_distance_m(xy, np.asarray(o.footprint())))
    return id(nearest) not in targets
