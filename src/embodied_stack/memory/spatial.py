"""Optional spatial knowledge for the memory: which room a point is in, and where the robot can stand.

:class:`SpatialContext` is deliberately tiny so that a simulator's navigable grid, a ROS map
server map, or a room segmentation can each implement it. With one, clusters never straddle
rooms (walls), rooms get their categories, and target poses are reachable standoff points.

Implementations here:

- :class:`RoomPolygons`: room polygons only (e.g. a scene file's rooms); no navigability.
- :class:`OccupancyMapContext`: a ROS ``map_server`` occupancy map (``map.yaml`` + PGM), with
  room polygons when given or a room segmentation computed from the map otherwise (free space
  shrunk by half a door width splits into room cores; every cell joins its nearest core).

All points are (N, 2) arrays of ``map``-frame x, y in metres.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import yaml

from embodied_stack.memory.errors import SpatialContextError


@runtime_checkable
class SpatialContext(Protocol):
    """A navigable map and/or room segmentation the memory may use (all optional knowledge)."""

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        """Room id of each (N, 2) ``map`` point, or None where no room holds it."""
        ...

    def room_category(self, room_id: str) -> str:
        """The room's category ("kitchen"); "" when unknown."""
        ...

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        """Nearest point where the robot can stand, (N, 2); NaN rows where none is known."""
        ...


@dataclass(frozen=True)
class Room:
    """A room: id, category and a simple polygon (K, 2) in the ``map`` floor plane."""

    id: str
    category: str
    polygon: np.ndarray

    def contains(self, xy: np.ndarray) -> np.ndarray:
        return points_in_polygon(xy, self.polygon)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over points and edges; (N, 2), (K, 2) -> (N,) bool."""
    x = xy[:, 0:1]
    y = xy[:, 1:2]
    x0, y0 = polygon[:, 0][None, :], polygon[:, 1][None, :]
    x1, y1 = np.roll(polygon[:, 0], -1)[None, :], np.roll(polygon[:, 1], -1)[None, :]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return np.count_nonzero(crosses & (x < x_at), axis=1) % 2 == 1


def rooms_from_scene(path: str | Path) -> list[Room]:
    """The rooms of an ``embodied-stack.scene/1`` file (FORMATS.md)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SpatialContextError(f"cannot read ({err.strerror})", path=str(path)) from err
    except json.JSONDecodeError as err:
        raise SpatialContextError(f"not valid JSON ({err.msg})", path=str(path)) from err
    if not isinstance(data, dict) or not isinstance(data.get("rooms"), list):
        raise SpatialContextError("expected a scene object with a 'rooms' list", path=str(path), field="rooms")
    rooms = []
    for i, entry in enumerate(data["rooms"]):
        where = f"rooms[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise SpatialContextError("expected an object with a string 'id'", path=str(path), field=where)
        polygon = np.asarray(entry.get("polygon"), dtype=np.float64) if isinstance(entry.get("polygon"), list) else None
        if polygon is None or polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3 \
                or not np.all(np.isfinite(polygon)):
            raise SpatialContextError("expected a polygon of >= 3 finite [x, y] points",
                                      path=str(path), field=f"{where}.polygon")
        category = entry.get("category", "")
        if not isinstance(category, str):
            raise SpatialContextError("expected a string", path=str(path), field=f"{where}.category")
        rooms.append(Room(entry["id"], category, polygon))
    return rooms


class RoomPolygons:
    """Room segmentation from polygons, with no navigability knowledge."""

    def __init__(self, rooms: Sequence[Room]) -> None:
        self.rooms = list(rooms)
        self._category = {room.id: room.category for room in self.rooms}

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        return _rooms_of(self.rooms, np.asarray(xy, dtype=np.float64).reshape(-1, 2))

    def room_category(self, room_id: str) -> str:
        return self._category.get(room_id, "")

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        return np.full((len(np.asarray(xy).reshape(-1, 2)), 2), np.nan)


class OccupancyMapContext:
    """A ROS occupancy grid (free / occupied / unknown) plus rooms.

    Args:
        free: (H, W) bool, True where the map is free; row 0 is the image's top (max y).
        resolution_m: metres per cell.
        origin_xy: ``map`` coordinates of the lower-left corner of the lower-left cell.
        rooms: room polygons; when None, rooms are segmented from the map (ids ``region_N``,
            category "").
        robot_radius_m: cells closer than this to an obstacle or unknown space are not navigable.
        door_width_m: openings narrower than this separate automatically segmented rooms.
    """

    def __init__(self, free: np.ndarray, resolution_m: float, origin_xy: tuple[float, float], *,
                 rooms: Sequence[Room] | None = None, robot_radius_m: float = 0.18,
                 door_width_m: float = 1.0) -> None:
        from scipy import ndimage

        if free.ndim != 2 or not free.any():
            raise SpatialContextError("the occupancy map has no free cell")
        self.resolution_m = float(resolution_m)
        self.origin_xy = (float(origin_xy[0]), float(origin_xy[1]))
        self.free = free.astype(bool)
        clearance = ndimage.distance_transform_edt(self.free) * self.resolution_m
        self.navigable = clearance > robot_radius_m
        if not self.navigable.any():
            raise SpatialContextError(f"no free cell is more than {robot_radius_m} m from an obstacle")
        _, indices = ndimage.distance_transform_edt(~self.navigable, return_indices=True)
        self._nearest = indices.astype(np.int32)
        self.rooms = list(rooms) if rooms is not None else []
        self._labels: np.ndarray | None = None
        if rooms is None:
            self._labels = _segment_rooms(self.free, clearance, door_width_m / 2.0, self.resolution_m)
        self._category = {room.id: room.category for room in self.rooms}

    @classmethod
    def from_map_yaml(cls, path: str | Path, *, rooms: Sequence[Room] | None = None,
                      robot_radius_m: float = 0.18, door_width_m: float = 1.0) -> OccupancyMapContext:
        """Load a ``map_server`` map (``image``, ``resolution``, ``origin``, ``negate``,
        ``occupied_thresh``, ``free_thresh``; trinary mode)."""
        from PIL import Image, UnidentifiedImageError

        path = Path(path)
        try:
            meta = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise SpatialContextError(f"cannot read ({err.strerror})", path=str(path)) from err
        except yaml.YAMLError as err:
            raise SpatialContextError(f"not valid YAML ({err})", path=str(path)) from err
        if not isinstance(meta, dict):
            raise SpatialContextError("expected a mapping", path=str(path))
        for key in ("image", "resolution", "origin"):
            if key not in meta:
                raise SpatialContextError("is required", path=str(path), field=key)
        resolution = meta["resolution"]
        if not isinstance(resolution, (int, float)) or not (0.0 < resolution < 10.0):
            raise SpatialContextError(f"expected metres per cell in (0, 10), got {resolution!r}",
                                      path=str(path), field="resolution")
        origin = meta["origin"]
        if not (isinstance(origin, list) and len(origin) == 3
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in origin)):
            raise SpatialContextError(f"expected [x, y, yaw], got {origin!r}", path=str(path), field="origin")
        if abs(origin[2]) > 1e-6:
            raise SpatialContextError(f"rotated map origins are not supported (yaw {origin[2]!r})",
                                      path=str(path), field="origin")
        image_path = (path.parent / str(meta["image"])).resolve()
        try:
            with Image.open(image_path) as image:
                pixels = np.asarray(image.convert("L"), dtype=np.float64)
        except (OSError, UnidentifiedImageError) as err:
            raise SpatialContextError(f"cannot read the map image {image_path} ({err})", path=str(path),
                                      field="image") from err
        occupancy = pixels / 255.0 if meta.get("negate", 0) else (255.0 - pixels) / 255.0
        free = occupancy < float(meta.get("free_thresh", 0.196))
        return cls(free, float(resolution), (float(origin[0]), float(origin[1])), rooms=rooms,
                   robot_radius_m=robot_radius_m, door_width_m=door_width_m)

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = self.free.shape
        cols = np.floor((xy[:, 0] - self.origin_xy[0]) / self.resolution_m).astype(np.int64)
        rows = height - 1 - np.floor((xy[:, 1] - self.origin_xy[1]) / self.resolution_m).astype(np.int64)
        return np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)

    def _centres(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        height = self.free.shape[0]
        x = self.origin_xy[0] + (cols + 0.5) * self.resolution_m
        y = self.origin_xy[1] + (height - 1 - rows + 0.5) * self.resolution_m
        return np.stack([x, y], axis=1)

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self._labels is None:
            return _rooms_of(self.rooms, xy)
        rows, cols = self._cells(xy)
        labels = self._labels[rows, cols]
        return [f"region_{int(v)}" if v > 0 else None for v in labels]

    def room_category(self, room_id: str) -> str:
        return self._category.get(room_id, "")

    def nearest_navigable(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        rows, cols = self._cells(xy)
        return self._centres(self._nearest[0, rows, cols], self._nearest[1, rows, cols])

    def is_navigable(self, xy: np.ndarray) -> np.ndarray:
        rows, cols = self._cells(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
        return self.navigable[rows, cols]


def _rooms_of(rooms: Sequence[Room], xy: np.ndarray) -> list[str | None]:
    found = np.full(len(xy), -1, dtype=np.int64)
    for index, room in enumerate(rooms):
        inside = (found < 0) & room.contains(xy)
        found[inside] = index
    return [rooms[i].id if i >= 0 else None for i in found]


def _segment_rooms(free: np.ndarray, clearance_m: np.ndarray, core_clearance_m: float,
                   resolution_m: float, min_area_m2: float = 1.0) -> np.ndarray:
    """Label rooms: free cells farther than half a door width from walls form cores; small
    cores are dropped; every cell takes the label of its nearest core. 0 = no room."""
    from scipy import ndimage

    core = free & (clearance_m > core_clearance_m)
    labels, count = ndimage.label(core, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros(free.shape, dtype=np.int32)
    sizes = np.bincount(labels.ravel(), minlength=count + 1) * resolution_m ** 2
    keep = sizes >= min_area_m2
    keep[0] = False
    relabel = np.zeros(count + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = relabel[labels]
    if not keep.any():
        return labels
    _, indices = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    expanded = labels[indices[0], indices[1]]
    # Cells of unknown space far outside the mapped area belong to no room.
    reach = ndimage.distance_transform_edt(~free) * resolution_m
    expanded[reach > 1.0] = 0
    return expanded
