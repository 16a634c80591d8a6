"""From a detection's pixels to a 3D box in ``map``: back-projection, voxel grid, outlier removal.

Conventions (``embodied_stack.sim.env``): depth is planar z in the camera optical frame (+z
forward, +x right, +y down); a pixel (u = column, v = row) with depth d is the camera point
((u - cx) d / fx, (v - cy) d / fy, d), mapped to ``map`` by ``T_map_camera``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embodied_stack._deps import require
from embodied_stack.types import CameraIntrinsics


@dataclass(frozen=True, eq=False)
class ObjectGeometry:
    """An object's cleaned points summarised: axis-aligned box in ``map`` (metres)."""

    min_xyz: np.ndarray
    max_xyz: np.ndarray
    n_points: int

    @property
    def center(self) -> np.ndarray:
        return (self.min_xyz + self.max_xyz) / 2.0

    @property
    def extent(self) -> np.ndarray:
        return self.max_xyz - self.min_xyz


def backproject(
    pixels: np.ndarray, depth_m: np.ndarray, intrinsics: CameraIntrinsics, T_map_camera: np.ndarray
) -> np.ndarray:
    """Map points (N, 3) of flat (row-major) pixel indices with their depths (metres).

    The caller passes only pixels whose depth is valid; vectorised over all of them.
    """
    width = depth_m.shape[1]
    rows, cols = np.divmod(pixels, width)
    z = depth_m.reshape(-1)[pixels].astype(np.float64)
    cam = np.empty((pixels.size, 3), dtype=np.float64)
    cam[:, 0] = (cols - intrinsics.cx) * z / intrinsics.fx
    cam[:, 1] = (rows - intrinsics.cy) * z / intrinsics.fy
    cam[:, 2] = z
    return cam @ T_map_camera[:3, :3].T + T_map_camera[:3, 3]


def box_foreground(
    box_rc: tuple[int, int, int, int], depth_m: np.ndarray, valid: np.ndarray, band_m: float
) -> np.ndarray:
    """Flat indices of the pixels of a box that belong to the object at the box centre.

    The object's depth is the median valid depth of the central half of the box; pixels
    within ``band_m`` of it are kept (the wall or floor behind and in front are dropped).

    Args:
        box_rc: ``(row0, row1, col0, col1)`` clipped to the image, ends exclusive.
    """
    r0, r1, c0, c1 = box_rc
    if r1 <= r0 or c1 <= c0:
        return np.empty(0, dtype=np.int64)
    sub = depth_m[r0:r1, c0:c1]
    sub_valid = valid[r0:r1, c0:c1]
    h, w = sub.shape
    centre = sub[h // 4 : h - h // 4, w // 4 : w - w // 4]
    centre_valid = sub_valid[h // 4 : h - h // 4, w // 4 : w - w // 4]
    if not centre_valid.any():
        return np.empty(0, dtype=np.int64)
    d0 = float(np.median(centre[centre_valid]))
    rows, cols = np.nonzero(sub_valid & (np.abs(sub - d0) <= band_m))
    return (rows + r0).astype(np.int64) * depth_m.shape[1] + (cols + c0)


MASK_DEPTH_GAP_M = 0.15
"""Depth gap (metres, along the view) that separates an object's pixels from what its mask
wrongly took in: a mask dilated at its edges reaches the wall or floor behind the object, and
those pixels lie across a jump in depth from the object's own."""


def depth_cluster(z: np.ndarray, gap_m: float) -> np.ndarray:
    """Boolean mask of the depths ``z`` in the most populated run of sorted depths without a jump
    larger than ``gap_m`` (the object; the background a dilated mask reached is cut off)."""
    if z.size < 2:
        return np.ones(z.size, dtype=bool)
    order = np.argsort(z, kind="stable")
    runs = np.concatenate([[0], np.cumsum(np.diff(z[order]) > gap_m)])
    best = int(np.argmax(np.bincount(runs)))
    keep = np.zeros(z.size, dtype=bool)
    keep[order[runs == best]] = True
    return keep


def even_subsample(indices: np.ndarray, max_count: int) -> np.ndarray:
    """At most ``max_count`` of ``indices``, evenly spread (deterministic, keeps the shape)."""
    if indices.size <= max_count:
        return indices
    return indices[np.linspace(0, indices.size - 1, max_count).astype(np.int64)]


def clean_points(
    points: np.ndarray, *, voxel_size_m: float, neighbors: int, std_ratio: float
) -> np.ndarray:
    """Voxel-downsample then remove statistical outliers with open3d.

    Outlier removal needs more points than ``neighbors``; smaller clouds are only downsampled.
    Returns the cleaned points (M, 3), metres, in the input frame.
    """
    o3d = require("open3d")
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud = cloud.voxel_down_sample(voxel_size_m)
    if neighbors > 0 and len(cloud.points) > neighbors:
        cloud, _ = cloud.remove_statistical_outlier(nb_neighbors=neighbors, std_ratio=std_ratio)
    return np.asarray(cloud.points)


def object_geometry(
    pixels: np.ndarray,
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    T_map_camera: np.ndarray,
    *,
    max_points: int,
    voxel_size_m: float,
    neighbors: int,
    std_ratio: float,
    min_z_m: float | None = None,
    depth_gap_m: float | None = MASK_DEPTH_GAP_M,
) -> ObjectGeometry | None:
    """Back-project an object's valid-depth pixels and summarise the cleaned cloud as a box.

    With ``depth_gap_m`` only the pixels of the most populated depth run are kept
    (:func:`depth_cluster`: the background behind a dilated mask's edge is dropped).
    ``min_z_m`` (map frame) drops the points below it first (the floor under a box detection).
    Returns None when no point survives.
    """
    pixels = even_subsample(pixels, max_points)
    if depth_gap_m is not None and depth_gap_m > 0:
        pixels = pixels[depth_cluster(depth_m.reshape(-1)[pixels], depth_gap_m)]
    points = backproject(pixels, depth_m, intrinsics, T_map_camera)
    if min_z_m is not None:
        points = points[points[:, 2] >= min_z_m]
    if points.shape[0] == 0:
        return None
    cleaned = clean_points(points, voxel_size_m=voxel_size_m, neighbors=neighbors, std_ratio=std_ratio)
    if cleaned.shape[0] == 0:
        return None
    return ObjectGeometry(cleaned.min(axis=0), cleaned.max(axis=0), int(cleaned.shape[0]))
