"""Wall geometry of a scene: every room polygon edge, split where door openings cross it.

FORMATS.md: walls run along every polygon edge from ``floor_z`` to ``ceiling_z`` except where a
door's opening (``width`` wide, centred on ``center``, 2.0 m high) crosses that edge. The
navigable map (walls block the whole opening-free length) and the renderer (which also draws the
lintel above each opening) both build on :func:`wall_segments`, so they agree on where walls are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embodied_stack.sim.scene import Scene

DOOR_ON_EDGE_TOL_M = 0.15
"""A door opens an edge when its centre lies within this distance of the edge (metres)."""

_MIN_PIECE_M = 1e-3


@dataclass(frozen=True)
class WallSegment:
    """A straight piece of wall in ``map`` (metres).

    ``opening`` is True for the part of an edge cut out by a door: there the wall only exists
    above the door height (``door_height_m``), from which the renderer draws a lintel.
    """

    start: tuple[float, float]
    end: tuple[float, float]
    room_id: str
    floor_z: float
    ceiling_z: float
    opening: bool = False
    door_height_m: float = 0.0

    @property
    def length_m(self) -> float:
        return float(np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1]))


def wall_segments(scene: Scene, *, include_openings: bool = False, dedupe: bool = True) -> list[WallSegment]:
    """Solid wall pieces of every room edge (and, optionally, the door openings).

    With ``dedupe`` an edge shared by two rooms appears once (the first room's copy is kept);
    without it every room gets its own pieces, in the direction of its counter-clockwise polygon
    (so the room's inside is on the left of ``start -> end``). A door opens every
    edge whose line passes within :data:`DOOR_ON_EDGE_TOL_M` of its centre and whose extent
    contains the centre's projection, over ``[t - width/2, t + width/2]`` along the edge.
    """
    out: list[WallSegment] = []
    seen: set[tuple[float, ...]] = set()
    door_centers = np.array([d.center for d in scene.doors], dtype=np.float64).reshape(-1, 2)
    door_half = np.array([d.width / 2.0 for d in scene.doors], dtype=np.float64)
    door_height = np.array([d.height for d in scene.doors], dtype=np.float64)
    for room in scene.rooms:
        poly = room.polygon_array
        for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
            key = _edge_key(a, b)
            if dedupe and key in seen:
                continue
            seen.add(key)
            length = float(np.hypot(*(b - a)))
            if length < _MIN_PIECE_M:
                continue
            direction = (b - a) / length
            rel = door_centers - a
            t = rel @ direction
            perp = np.abs(rel[:, 0] * direction[1] - rel[:, 1] * direction[0])
            hits = (perp <= DOOR_ON_EDGE_TOL_M) & (t >= -DOOR_ON_EDGE_TOL_M) & (t <= length + DOOR_ON_EDGE_TOL_M)
            cuts = sorted(
                (max(0.0, float(t[k] - door_half[k])), min(length, float(t[k] + door_half[k])), float(door_height[k]))
                for k in np.flatnonzero(hits)
            )
            for lo, hi, opening, height in _split(length, cuts):
                out.append(
                    WallSegment(
                        start=tuple(a + lo * direction),  # type: ignore[arg-type]
                        end=tuple(a + hi * direction),  # type: ignore[arg-type]
                        room_id=room.id,
                        floor_z=room.floor_z,
                        ceiling_z=room.ceiling_z,
                        opening=opening,
                        door_height_m=height,
                    )
                )
    return [s for s in out if include_openings or not s.opening]


def _edge_key(a: np.ndarray, b: np.ndarray) -> tuple[float, ...]:
    pa, pb = tuple(np.round(a, 4)), tuple(np.round(b, 4))
    return (*min(pa, pb), *max(pa, pb))


def _split(length: float, cuts: list[tuple[float, float, float]]) -> list[tuple[float, float, bool, float]]:
    """Partition ``[0, length]`` into solid pieces and (merged) openings, in order along the edge."""
    pieces: list[tuple[float, float, bool, float]] = []
    pos = 0.0
    for lo, hi, height in cuts:
        if hi <= pos:
            continue
        lo = max(lo, pos)
        if lo - pos > _MIN_PIECE_M:
            pieces.append((pos, lo, False, 0.0))
        if pieces and pieces[-1][2] and lo - pieces[-1][1] <= _MIN_PIECE_M:
            prev = pieces.pop()
            pieces.append((prev[0], hi, True, max(prev[3], height)))
        elif hi - lo > _MIN_PIECE_M:
            pieces.append((lo, hi, True, height))
        pos = hi
    if length - pos > _MIN_PIECE_M:
        pieces.append((pos, length, False, 0.0))
    return pieces
