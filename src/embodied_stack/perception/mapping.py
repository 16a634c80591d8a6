"""The robot's floor plan from its depth frames and its pose estimate (never the scene file).

Each frame's depth pixels (about ``max_points``, an even subsample up to ``max_range_m``) are
back-projected with the *estimated* camera pose. Heights are measured from the floor, which is
``camera_height_m`` below the camera. Per cell of a square grid the mapper counts:

- floor hits (points within ``floor_max_m`` of the floor): where the robot could stand;
- obstacle hits (above that, up to ``wall_min_m``): furniture, still inside a room;
- wall hits (between ``wall_min_m`` (1.1 m) and ``wall_max_m`` (1.95 m)): tall structure. The band stops below
  door height (2.0 m in the simulator), so lintels above open doorways do not close them;
  tall furniture against a wall (wardrobes, shelves) counts as wall, which is harmless.

:meth:`FloorPlanMapper.grids` returns ``space`` / ``walls`` / ``free`` boolean grids for
:class:`embodied_stack.memory.rooms.RoomMap`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from embodied_stack.types import CameraIntrinsics


class FloorPlanMapper:
    """Accumulates floor, obstacle and wall evidence per grid cell (see module docstring).

    Args:
        center_xy: the grid's centre (the robot's start), metres in ``map``.
        size_m, resolution_m: a square grid ``size_m`` wide.
        camera_height_m: height of the camera above the floor.
    """

    def __init__(self, center_xy: np.ndarray | tuple[float, float], *, size_m: float = 60.0,
                 resolution_m: float = 0.05, camera_height_m: float = 0.88, floor_max_m: float = 0.08,
                 wall_min_m: float = 1.1, wall_max_m: float = 1.95, max_range_m: float = 5.0,
                 max_points: int = 8000, min_wall_hits: int = 1) -> None:
        n = int(math.ceil(size_m / resolution_m))
        self.resolution_m = float(resolution_m)
        self.origin_xy = np.asarray(center_xy, dtype=np.float64).reshape(2) - (n - 1) / 2.0 * self.resolution_m
        self.camera_height_m = float(camera_height_m)
        self.floor_max_m, self.wall_min_m, self.wall_max_m = float(floor_max_m), float(wall_min_m), float(wall_max_m)
        self.max_range_m = float(max_range_m)
        self.max_points = int(max_points)
        self.min_wall_hits = int(min_wall_hits)
        self.floor = np.zeros((n, n), dtype=np.int32)
        self.obstacle = np.zeros((n, n), dtype=np.int32)
        self.wall = np.zeros((n, n), dtype=np.int32)
        self.frames = 0

    def integrate(self, depth_m: np.ndarray, intrinsics: CameraIntrinsics, T_map_camera: np.ndarray) -> None:
        """Add one depth frame seen from the (estimated) camera pose ``T_map_camera``."""
        k = intrinsics
        stride = max(1, int(round(math.sqrt(k.width * k.height / self.max_points))))
        v, u = np.mgrid[stride // 2:k.height:stride, stride // 2:k.width:stride]
        d = np.asarray(depth_m, dtype=np.float64)[v, u]
        ok = np.isfinite(d) & (d > 0) & (d <= self.max_range_m)
        d, u, v = d[ok], u[ok], v[ok]
        cam = np.stack([(u - k.cx) / k.fx * d, (v - k.cy) / k.fy * d, d], axis=1)
        pts = cam @ T_map_camera[:3, :3].T + T_map_camera[:3, 3]
        height = pts[:, 2] - (T_map_camera[2, 3] - self.camera_height_m)
        self.frames += 1
        for grid, keep in ((self.floor, height < self.floor_max_m),
                           (self.obstacle, (height >= self.floor_max_m) & (height < self.wall_min_m)),
                           (self.wall, (height >= self.wall_min_m) & (height <= self.wall_max_m))):
            self._add(grid, pts[keep, :2])

    def _add(self, grid: np.ndarray, xy: np.ndarray) -> None:
        ij = np.rint((xy - self.origin_xy) / self.resolution_m).astype(np.int64)
        n = grid.shape[0]
        ok = (ij >= 0).all(axis=1) & (ij < n).all(axis=1)
        np.add.at(grid.reshape(-1), ij[ok, 1] * n + ij[ok, 0], 1)

    def grids(self, *, close_walls_m: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(space, walls, free) boolean grids: walls are cells with ``min_wall_hits`` wall hits,
        closed over gaps up to ``close_walls_m`` (sparse samples of a far wall); space is every
        cell seen as floor or obstacle, holes inside it filled; free is floor not marked as an
        obstacle or wall."""
        walls = self.wall >= self.min_wall_hits
        steps = int(round(close_walls_m / self.resolution_m))
        if steps:
            walls = ndimage.binary_closing(walls, iterations=steps)
        seen = (self.floor > 0) | (self.obstacle > 0)
        space = ndimage.binary_fill_holes(seen | walls) & ~walls
        space = ndimage.binary_opening(space, iterations=1)
        free = (self.floor > 0) & (self.obstacle < 2) & ~walls
        return space, walls, free
