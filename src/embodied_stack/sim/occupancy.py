"""The robot's own occupancy grid, built from the depth frames it sees (never from the scene file).

Cells hold two facts, both sticky (the world is static): seen free (a floor point, or crossed by
a ray before it ended) and seen occupied (a point higher than a small step above the floor but
not above the robot). Occupied evidence wins over free. Used by the frontier explorer
(:mod:`embodied_stack.sim.explore`) and anything that wants a robot-built map.
"""

from __future__ import annotations

import math

import numpy as np

from embodied_stack.types import CameraIntrinsics, Frame

FREE, UNKNOWN, OCCUPIED = 0, -1, 1


class OccupancyGrid:
    """The robot's own map: per cell, whether it was seen free and whether an obstacle was seen.

    Cell ``[i, j]`` has its centre at ``origin_xy + (j, i) * resolution_m`` (row = y, col = x),
    the same convention as :class:`~embodied_stack.sim.navmap.NavMap`. The grid is a square
    ``size_m`` wide centred on ``center_xy``; points outside it are dropped.
    """

    def __init__(self, center_xy: np.ndarray, size_m: float, resolution_m: float) -> None:
        n = int(math.ceil(size_m / resolution_m))
        self.resolution_m = float(resolution_m)
        self.origin_xy = np.asarray(center_xy, dtype=np.float64).reshape(2) - (n - 1) / 2.0 * self.resolution_m
        self.seen_free = np.zeros((n, n), dtype=bool)
        self.occupied = np.zeros((n, n), dtype=bool)
        self._rays: dict[tuple[CameraIntrinsics, int], tuple[np.ndarray, np.ndarray, tuple[slice, slice]]] = {}

    @property
    def shape(self) -> tuple[int, int]:
        return self.seen_free.shape  # type: ignore[return-value]

    def state(self) -> np.ndarray:
        """int8 image: ``FREE`` (0), ``UNKNOWN`` (-1) or ``OCCUPIED`` (1)."""
        out = np.full(self.shape, UNKNOWN, dtype=np.int8)
        out[self.seen_free] = FREE
        out[self.occupied] = OCCUPIED
        return out

    def known_free(self) -> np.ndarray:
        return self.seen_free & ~self.occupied

    def cells_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, inside) of the cells holding (N, 2) points."""
        ij = np.rint((np.atleast_2d(xy) - self.origin_xy) / self.resolution_m).astype(np.int64)
        h, w = self.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
        return ij[:, 1], ij[:, 0], inside

    def mark(self, xy: np.ndarray, *, occupied: bool) -> None:
        rows, cols, inside = self.cells_of(xy)
        target = self.occupied if occupied else self.seen_free
        target[rows[inside], cols[inside]] = True

    def integrate(self, frame: Frame, floor_z: float, *, obstacle_min_height_m: float = 0.1,
                  agent_height_m: float = 1.0, max_range_m: float = 5.0, max_rays: int = 3000) -> None:
        """Add one depth frame (about ``max_rays`` of its pixels, up to ``max_range_m``): points
        within ``obstacle_min_height_m`` of ``floor_z`` mark their cell free, points from there up
        to ``agent_height_m`` mark it occupied, higher points are ignored; the cells a ray crosses
        before a floor or obstacle point are free."""
        k = frame.intrinsics
        stride = max(1, int(round(math.sqrt(k.width * k.height / max_rays))))
        dx, dy, window = self._camera_rays(k, stride)
        depth = frame.depth[window].ravel()
        valid = (depth > 0) & (depth <= max_range_m)
        d = depth[valid]
        cam = np.stack([dx[valid] * d, dy[valid] * d, d], axis=1)
        pose = frame.camera_pose
        pts = cam @ pose[:3, :3].T + pose[:3, 3]
        height = pts[:, 2] - floor_z
        floor = height < obstacle_min_height_m
        obstacle = ~floor & (height <= agent_height_m)
        self.mark(pts[floor, :2], occupied=False)
        self.mark(pts[obstacle, :2], occupied=True)
        ends = pts[floor | obstacle, :2]
        # stop obstacle rays a cell short of the hit so the free trail never covers the obstacle
        stop_short = np.where(obstacle[floor | obstacle], self.resolution_m, 0.0)
        self._mark_rays(pose[:2, 3], ends, stop_short)

    def _mark_rays(self, origin: np.ndarray, ends: np.ndarray, stop_short: np.ndarray) -> None:
        if len(ends) == 0:
            return
        length = np.linalg.norm(ends - origin, axis=1)
        usable = np.maximum(length - stop_short, 0.0)
        step = 0.75 * self.resolution_m
        counts = np.floor(usable / step).astype(np.int64) + 1
        ray = np.repeat(np.arange(len(ends)), counts)
        first = np.cumsum(counts) - counts
        along = (np.arange(len(ray)) - first[ray]) * step
        unit = (ends - origin) / np.maximum(length, 1e-9)[:, None]
        self.mark(origin + unit[ray] * along[:, None], occupied=False)

    def _camera_rays(self, k: CameraIntrinsics, stride: int) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
        key = (k, stride)
        if key not in self._rays:
            window = (slice(stride // 2, None, stride), slice(stride // 2, None, stride))
            v, u = np.mgrid[0:k.height, 0:k.width]
            self._rays[key] = (((u[window] - k.cx) / k.fx).ravel(), ((v[window] - k.cy) / k.fy).ravel(), window)
        return self._rays[key]
