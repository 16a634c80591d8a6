"""Rooms from the robot's own map: segmentation at doorways, a ``SpatialContext`` over it.

The input is what the robot mapped while exploring (from depth and its pose estimate, e.g.
:class:`embodied_stack.perception.mapping.FloorPlanMapper`), never the simulator's navigation
map: ``space`` (cells inside the building: floor or furniture seen there), ``walls`` (tall
structure) and ``free`` (floor the robot could stand on).

:func:`segment_rooms` splits ``space`` at narrow passages with the distance transform (after
the distance-transform / watershed family of room segmentation methods, Bormann et al. 2016):
the clearance of every cell (distance to the nearest wall or unknown cell) is swept from high
to low; each local maximum starts a region, and where two regions first touch (a saddle of the
clearance) they stay apart if the passage is narrower than a door (``2 * saddle <
door_width_m``) and clearly narrower than both (``saddle < merge_ratio * min(peaks)``), else
they are one room (an L-shaped room's corner is as wide as its arms). Small regions always
join their neighbour. Cells left over take the label of the nearest region reachable through
``space`` (a geodesic flood, one vectorised dilation per step).

:class:`RoomMap` answers the memory's questions (``room_of``, ``room_category``,
``nearest_navigable``) from that segmentation; room types come from what the robot saw in each
room (:mod:`embodied_stack.memory.room_types`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy import ndimage

from embodied_stack.memory.errors import SpatialContextError

_EIGHT = np.ones((3, 3), dtype=bool)


def segment_rooms(space: np.ndarray, resolution_m: float, *, door_width_m: float = 3.0, merge_ratio: float = 0.85,
                  min_room_area_m2: float = 1.0, step_m: float | None = None) -> np.ndarray:
    """Label the rooms of a map: (H, W) bool ``space`` -> (H, W) int32 labels (0 = no room).

    Args:
        space: cells inside the building (walls and unknown space are False).
        resolution_m: metres per cell.
        door_width_m: passages narrower than this may separate rooms.
        merge_ratio: two regions meeting at a saddle stay apart only if the saddle's clearance
            is below this share of the smaller region's peak clearance.
        min_room_area_m2: rooms smaller than this join their neighbour (as do regions whose
            core is under a quarter of it when they meet one).
        step_m: clearance step of the sweep (default: one cell).
    """
    space = np.asarray(space, dtype=bool)
    if space.ndim != 2:
        raise SpatialContextError(f"expected a 2D map, got shape {space.shape}")
    out = np.zeros(space.shape, dtype=np.int32)
    if not space.any():
        return out
    rows, cols = np.nonzero(space)
    window = (slice(max(rows.min() - 1, 0), rows.max() + 2), slice(max(cols.min() - 1, 0), cols.max() + 2))
    out[window] = _segment(space[window], resolution_m, door_width_m, merge_ratio, min_room_area_m2,
                           step_m or resolution_m)
    return out


def _segment(space: np.ndarray, resolution_m: float, door_width_m: float, merge_ratio: float,
             min_room_area_m2: float, step: float) -> np.ndarray:
    clearance = ndimage.distance_transform_edt(space) * resolution_m
    labels = np.zeros(space.shape, dtype=np.int64)
    peaks: dict[int, float] = {}
    parent: dict[int, int] = {}

    def find(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    next_id = 1
    min_cells = min_room_area_m2 / 4.0 / resolution_m ** 2
    for level in np.arange(float(clearance.max()), resolution_m * 0.5, -step).tolist():
        comp, n = ndimage.label(clearance >= level, structure=_EIGHT)
        if n == 0:
            continue
        inside = labels > 0
        keys = np.unique(comp[inside].astype(np.int64) * (next_id + 1) + labels[inside])
        owners: dict[int, set[int]] = {}
        for c, r in zip((keys // (next_id + 1)).tolist(), (keys % (next_id + 1)).tolist(), strict=True):
            owners.setdefault(c, set()).add(find(r))
        sizes = np.bincount(labels.ravel(), minlength=next_id)
        grow = np.zeros(n + 1, dtype=np.int64)
        for c in range(1, n + 1):
            roots = sorted(owners.get(c, ()))
            if not roots:
                parent[next_id] = next_id
                peaks[next_id] = level
                grow[c] = next_id
                next_id += 1
                continue
            for other in roots[1:]:
                a, b = find(roots[0]), find(other)
                if a == b:
                    continue
                narrow = 2.0 * level < door_width_m and level < merge_ratio * min(peaks[a], peaks[b])
                small = min(sizes[a], sizes[b]) < min_cells
                if not narrow or small:
                    parent[b] = a
                    peaks[a] = max(peaks[a], peaks[b])
                    sizes[a] += sizes[b]
            distinct = {find(r) for r in roots}
            grow[c] = find(roots[0]) if len(distinct) == 1 else 0
        new = (labels == 0) & (comp > 0)
        labels[new] = grow[comp[new]]
        if not grow[1:].all():  # several regions in one component: grow them into it together
            labels = _flood(labels, comp > 0, max_steps=4)
        roots_of = np.arange(next_id, dtype=np.int64)
        roots_of[1:] = [find(r) for r in range(1, next_id)]
        labels = roots_of[labels]
    labels = _flood(_compact(labels), space)
    areas = np.bincount(labels.ravel()) * resolution_m ** 2
    tiny = np.flatnonzero(areas < min_room_area_m2)
    tiny = tiny[tiny > 0]
    if tiny.size and tiny.size < len(areas) - 1:
        labels[np.isin(labels, tiny)] = 0
        labels = _flood(_compact(labels), space)
    return labels


def _compact(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    ids = ids[ids > 0]
    table = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    table[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return table[labels]


def _flood(labels: np.ndarray, space: np.ndarray, max_steps: int = 400) -> np.ndarray:
    """Give every unlabelled ``space`` cell the label of the nearest labelled cell reachable
    through ``space`` (one 3x3 grey dilation per step, vectorised)."""
    labels = labels.copy()
    for _ in range(max_steps):
        todo = space & (labels == 0)
        if not todo.any():
            break
        grown = ndimage.grey_dilation(labels, footprint=_EIGHT)
        fill = todo & (grown > 0)
        if not fill.any():
            break
        labels[fill] = grown[fill]
    return labels


class RoomMap:
    """A :class:`~embodied_stack.memory.spatial.SpatialContext` from the robot's own map.

    Args:
        space, walls, free: (H, W) bool grids (see the module docstring); cell ``[i, j]`` has its
            centre at ``origin_xy + (j, i) * resolution_m`` (row = y, column = x).
        resolution_m, origin_xy: the grid's geometry.
        robot_radius_m: free cells closer than this to a wall, obstacle or unknown cell are not
            where the robot stands.
        door_width_m, merge_ratio, min_room_area_m2: see :func:`segment_rooms`.

    Rooms are ``room_1``, ``room_2``, ...; :meth:`set_types` gives them types (and so names)
    with a confidence; :meth:`room_category` reports a type only when its confidence reaches
    ``min_type_confidence`` (below it, "" lets the memory vote from the room's objects).
    """

    def __init__(self, space: np.ndarray, walls: np.ndarray, free: np.ndarray, resolution_m: float,
                 origin_xy: tuple[float, float] | np.ndarray, *, robot_radius_m: float = 0.18,
                 door_width_m: float = 3.0, merge_ratio: float = 0.85, min_room_area_m2: float = 1.0,
                 min_type_confidence: float = 0.3) -> None:
        space, walls, free = (np.asarray(a, dtype=bool) for a in (space, walls, free))
        if space.ndim != 2 or space.shape != walls.shape or space.shape != free.shape:
            raise SpatialContextError(f"space, walls and free must be 2D grids of one shape, got "
                                      f"{space.shape}, {walls.shape}, {free.shape}")
        if not free.any():
            raise SpatialContextError("the robot's map has no free cell")
        self.resolution_m = float(resolution_m)
        self.origin_xy = np.asarray(origin_xy, dtype=np.float64).reshape(2)
        self.settings = {"robot_radius_m": robot_radius_m, "door_width_m": door_width_m, "merge_ratio": merge_ratio,
                         "min_room_area_m2": min_room_area_m2, "min_type_confidence": min_type_confidence}
        self.free = free
        self.space = space & ~walls
        self.walls = walls
        self.labels = segment_rooms(self.space, self.resolution_m, door_width_m=door_width_m,
                                    merge_ratio=merge_ratio, min_room_area_m2=min_room_area_m2)
        clearance = ndimage.distance_transform_edt(free) * self.resolution_m
        navigable = clearance > robot_radius_m
        self.navigable = navigable if navigable.any() else free
        _, self._nearest = ndimage.distance_transform_edt(~self.navigable, return_indices=True)
        self.min_type_confidence = float(min_type_confidence)
        self.types: dict[str, tuple[str, float]] = {}

    @property
    def room_ids(self) -> list[str]:
        return [f"room_{i}" for i in range(1, int(self.labels.max()) + 1)]

    def cells_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, inside) of the cells holding (N, 2) points (clipped to the grid)."""
        ij = np.rint((np.asarray(xy, dtype=np.float64).reshape(-1, 2) - self.origin_xy) / self.resolution_m)
        h, w = self.labels.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
        return np.clip(ij[:, 1], 0, h - 1).astype(np.int64), np.clip(ij[:, 0], 0, w - 1).astype(np.int64), inside

    def cell_centres(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.origin_xy + np.stack([cols, rows], axis=1) * self.resolution_m

    def room_of(self, xy: np.ndarray, *, snap_m: float = 0.5) -> list[str | None]:
        """Room of each point; a point on a wall or just outside the mapped space (an object
        against a wall) takes the nearest room within ``snap_m``."""
        rows, cols, inside = self.cells_of(xy)
        found = np.where(inside, self.labels[rows, cols], 0)
        missing = np.flatnonzero(found == 0)
        if missing.size:
            near = self._nearest_labels(snap_m)
            found[missing] = np.where(inside[missing], near[rows[missing], cols[missing]], 0)
        return [f"room_{int(v)}" if v > 0 else None for v in found]

    def _nearest_labels(self, snap_m: float) -> np.ndarray:
        cached = getattr(self, "_snap", None)
        if cached is None or cached[0] != snap_m:
            distance, (ri, ci) = ndimage.distance_transform_edt(self.labels == 0, return_indices=True)
            near = self.labels[ri, ci]
            near[distance * self.resolution_m > snap_m] = 0
            self._snap = (snap_m, near)
        return self._snap[1]

    def room_category(self, room_id: str) -> str:
        kind, confidence = self.types.get(room_id, ("", 0.0))
        return kind if confidence >= self.min_type_confidence else ""

    def room_confidence(self, room_id: str) -> float:
        return self.types.get(room_id, ("", 0.0))[1]

    def set_types(self, types: Mapping[str, tuple[str, float]]) -> None:
        """Room id -> (type, confidence in [0, 1])."""
        self.types = dict(types)

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        rows, cols, _ = self.cells_of(xy)
        return self.cell_centres(self._nearest[0, rows, cols], self._nearest[1, rows, cols])

    def room_areas_m2(self) -> dict[str, float]:
        counts = np.bincount(self.labels.ravel(), minlength=int(self.labels.max()) + 1)
        return {f"room_{i}": float(counts[i]) * self.resolution_m ** 2 for i in range(1, len(counts))}

    def room_shapes(self) -> dict[str, tuple[float, float]]:
        """Room id -> (area m^2, width m): the width is twice the largest clearance (distance to
        the room's edge) inside the room, so ``area / width^2`` is about a corridor's length
        over its width and about 1 for a square room."""
        n = int(self.labels.max())
        if n == 0:
            return {}
        inside = ndimage.distance_transform_edt(np.pad(self.labels > 0, 1))[1:-1, 1:-1]
        # clearance within each room: distance to any cell of another label or none
        edges = np.zeros(self.labels.shape, dtype=bool)
        edges[:-1] |= self.labels[:-1] != self.labels[1:]
        edges[1:] |= self.labels[1:] != self.labels[:-1]
        edges[:, :-1] |= self.labels[:, :-1] != self.labels[:, 1:]
        edges[:, 1:] |= self.labels[:, 1:] != self.labels[:, :-1]
        clearance = np.minimum(inside, ndimage.distance_transform_edt(~edges) + 0.5) * self.resolution_m
        index = np.arange(1, n + 1)
        widest = np.asarray(ndimage.maximum(clearance, self.labels, index), dtype=np.float64) * 2.0
        areas = np.bincount(self.labels.ravel(), minlength=n + 1)[1:] * self.resolution_m ** 2
        return {f"room_{i}": (float(a), float(w)) for i, a, w in zip(index.tolist(), areas, widest, strict=True)}

    def save(self, path: str | Path) -> None:
        """Write the map and the room types (``.npz``), enough to rebuild the same rooms."""
        np.savez_compressed(path, space=self.space, walls=self.walls, free=self.free,
                            resolution_m=self.resolution_m, origin_xy=self.origin_xy,
                            types=json.dumps(self.types), settings=json.dumps(self.settings))

    @classmethod
    def load(cls, path: str | Path) -> RoomMap:
        """Read a map written by :meth:`save` (its rooms are segmented again, identically)."""
        try:
            with np.load(path) as data:
                room_map = cls(data["space"], data["walls"], data["free"], float(data["resolution_m"]),
                               data["origin_xy"], **json.loads(str(data["settings"])))
                room_map.set_types({k: (v[0], float(v[1])) for k, v in json.loads(str(data["types"])).items()})
        except (OSError, KeyError, ValueError) as err:
            raise SpatialContextError(f"cannot read the room map ({err})", path=str(path)) from err
        return room_map
