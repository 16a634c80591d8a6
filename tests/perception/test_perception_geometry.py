"""Back-projection against known geometry, outlier removal and box foreground selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from perception_synth import camera_pose, intrinsics

from embodied_stack.perception.geometry import (
    backproject,
    box_foreground,
    clean_points,
    even_subsample,
    object_geometry,
)

pytest.importorskip("open3d")


def test_fronto_parallel_plane_at_known_depth_lands_on_the_plane() -> None:
    camera = intrinsics(64, 48)
    pose = camera_pose(1.0, 2.0, 0.0, height=0.5)
    depth = np.full((48, 64), 2.0, dtype=np.float32)
    points = backproject(np.arange(48 * 64), depth, camera, pose)
    # Facing +x from x = 1: the plane 2 m ahead is x = 3; right of the image is -y, down is -z.
    assert np.allclose(points[:, 0], 3.0)
    half_width = (64 - 1) / 2 / camera.fx * 2.0
    half_height = (48 - 1) / 2 / camera.fy * 2.0
    assert points[:, 1].max() == pytest.approx(2.0 + half_width)
    assert points[:, 1].min() == pytest.approx(2.0 - half_width)
    assert points[:, 2].max() == pytest.approx(0.5 + half_height)
    first = points[0]  # top-left pixel: left (+y) and up (+z)
    assert first[1] > 2.0 and first[2] > 0.5


def test_single_pixel_back_projects_through_the_intrinsics_and_a_rotated_pose() -> None:
    camera = intrinsics(64, 48)
    pose = camera_pose(0.0, 0.0, math.pi / 2, height=1.0)  # facing +y
    depth = np.zeros((48, 64), dtype=np.float32)
    u, v = 50, 10
    depth[v, u] = 3.0
    (point,) = backproject(np.array([v * 64 + u]), depth, camera, pose)
    right = (u - camera.cx) * 3.0 / camera.fx
    down = (v - camera.cy) * 3.0 / camera.fy
    # Heading +y, the camera's right (optical +x) is map +x and its down (optical +y) is map -z.
    assert point == pytest.approx((right, 3.0, 1.0 - down))


def test_tilted_plane_points_satisfy_the_plane_equation() -> None:
    camera = intrinsics(40, 30)
    pose = camera_pose(0.0, 0.0, 0.3, height=1.2, pitch=0.4)
    # Ray-plane intersection with the floor z = 0 gives each pixel's planar depth.
    v, u = np.mgrid[0:30, 0:40].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1)
    dz = (rays.reshape(-1, 3) @ pose[:3, :3].T)[:, 2]
    t = np.where(dz < 0, -1.2 / dz, 0.0)
    depth = t.reshape(30, 40).astype(np.float32)
    pixels = np.flatnonzero(depth > 0)
    assert pixels.size > 100
    points = backproject(pixels, depth, camera, pose)
    assert np.abs(points[:, 2]).max() < 1e-4


def test_statistical_outlier_removal_drops_far_points_and_keeps_the_object() -> None:
    rng = np.random.default_rng(0)
    cube = rng.uniform([1.0, 1.0, 0.0], [1.5, 1.4, 0.8], size=(3000, 3))
    outliers = np.array([[4.0, 4.0, 2.0], [-3.0, 1.0, 0.5], [1.2, 6.0, 0.3]])
    cleaned = clean_points(np.vstack([cube, outliers]), voxel_size_m=0.02, neighbors=20, std_ratio=2.0)
    assert cleaned.max(axis=0) == pytest.approx([1.5, 1.4, 0.8], abs=0.03)
    assert cleaned.min(axis=0) == pytest.approx([1.0, 1.0, 0.0], abs=0.03)
    assert cleaned.shape[0] < 3000  # voxel grid thinned the cloud


def test_object_geometry_box_of_a_frontal_square() -> None:
    camera = intrinsics(64, 48)
    pose = camera_pose(0.0, 0.0, 0.0, height=1.0)
    depth = np.full((48, 64), 3.0, dtype=np.float32)
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:30, 20:40] = True
    depth[mask] = 2.0
    geometry = object_geometry(
        np.flatnonzero(mask), depth, camera, pose, max_points=4000, voxel_size_m=0.01, neighbors=10, std_ratio=2.0
    )
    assert geometry is not None
    assert geometry.center[0] == pytest.approx(2.0, abs=1e-6)
    expected_width = 19 * 2.0 / camera.fx
    assert geometry.extent[1] == pytest.approx(expected_width, abs=0.02)
    assert geometry.extent[0] == pytest.approx(0.0, abs=1e-6)


def test_box_foreground_keeps_the_object_not_the_wall_behind() -> None:
    depth = np.full((40, 40), 4.0, dtype=np.float32)
    depth[10:30, 12:28] = 1.5
    valid = depth > 0
    picked = box_foreground((5, 35, 5, 35), depth, valid, band_m=0.5)
    rows, cols = np.divmod(picked, 40)
    assert picked.size == 20 * 16
    assert rows.min() == 10 and rows.max() == 29 and cols.min() == 12 and cols.max() == 27


def test_even_subsample_caps_and_spreads() -> None:
    idx = np.arange(10_000)
    sub = even_subsample(idx, 100)
    assert sub.size == 100 and sub[0] == 0 and sub[-1] == 9_999
    assert even_subsample(idx[:50], 100).size == 50
