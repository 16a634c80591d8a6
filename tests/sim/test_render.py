"""Ray-cast rendering: depths of known walls, ids at known pixels, door openings, shading."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simb_scenes import AWS_HOUSE, box, hall_scene, two_rooms

from embodied_stack.sim.mesh import (
    KIND_CEILING,
    KIND_FLOOR,
    KIND_WALL,
    build_scene_mesh,
    triangulate_polygon,
)
from embodied_stack.sim.render import Renderer, camera_pose_matrix
from embodied_stack.sim.scene import load_scene, polygon_signed_area
from embodied_stack.types import CameraIntrinsics, Pose2D

pytest.importorskip("open3d")

K = CameraIntrinsics.from_hfov(81, 61, math.radians(79.0))  # odd sizes: pixel (30, 40) is on the axis


def _render(scene, pose: Pose2D, **kwargs):  # noqa: ANN001, ANN202
    return Renderer.from_scene(scene, nthreads=1, **kwargs).render(K, camera_pose_matrix(pose, 0.88))


@pytest.fixture(params=[False, True], ids=["exact", "adaptive"])
def adaptive(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_depth_of_a_wall_is_planar_z_depth(adaptive: bool) -> None:
    out = _render(hall_scene(), Pose2D(1.0, 0.0, 0.0), adaptive=adaptive)
    # the far wall's face is half the 0.1 m wall thickness in front of x = 4
    assert out.depth[30, 40] == pytest.approx(2.95, abs=2e-3)
    # off-axis pixel on the same wall: planar depth stays 2.95 (the ray itself is ~3.6 m long)
    dx = (5 - K.cx) / K.fx
    assert 2.95 * abs(dx) < 4.9  # that ray still lands on the far wall, not a side wall
    assert out.depth[30, 5] == pytest.approx(2.95, abs=2e-3)
    assert out.instance[30, 40] == -1 and out.semantic[30, 40] == -1


def test_depth_back_projects_to_the_wall() -> None:
    pose = Pose2D(1.0, 0.5, math.radians(20.0))
    out = _render(hall_scene(), pose)
    t = camera_pose_matrix(pose, 0.88)
    v, u = 20, 60
    d = float(out.depth[v, u])
    point = t @ np.array([(u - K.cx) * d / K.fx, (v - K.cy) * d / K.fy, d, 1.0])
    assert point[0] == pytest.approx(3.95, abs=3e-3)


def test_instance_and_category_at_image_centre(adaptive: bool) -> None:
    scene = hall_scene([box("lamp_1", "lamp", [3.0, 3.0, 0.5], [0.3, 0.3, 1.0]),
                        box("chair_1", "chair", [3.0, 0.0, 0.88], [0.4, 0.4, 0.6])])
    out = _render(scene, Pose2D(1.0, 0.0, 0.0), adaptive=adaptive)
    assert out.instance[30, 40] == 1  # index of chair_1 in scene.objects
    mesh = build_scene_mesh(scene)
    assert mesh.categories == ("chair", "lamp")
    assert out.semantic[30, 40] == 0
    assert out.depth[30, 40] == pytest.approx(1.8, abs=2e-3)
    assert set(np.unique(out.instance)) <= {-1, 0, 1}
    assert np.array_equal(out.instance >= 0, out.semantic >= 0)


def test_door_opening_and_lintel(adaptive: bool) -> None:
    out = _render(two_rooms(), Pose2D(0.5, 2.0, 0.0), adaptive=adaptive)
    assert out.depth[30, 40] == pytest.approx(7.45, abs=3e-3)  # through the door to the far wall
    assert out.depth[20, 40] == pytest.approx(7.45, abs=3e-3)  # still under the 2.0 m door height
    assert out.depth[10, 40] == pytest.approx(3.45, abs=3e-3)  # the lintel above the door
    assert out.depth[30, 26] == pytest.approx(3.45, abs=3e-3)  # solid wall beside the opening


def test_image_types_and_shading() -> None:
    out = _render(hall_scene(), Pose2D(1.0, 0.0, 0.0))
    assert out.rgb.shape == (61, 81, 3) and out.rgb.dtype == np.uint8
    assert out.depth.dtype == np.float32 and out.instance.dtype == np.int32 and out.semantic.dtype == np.int32
    assert (out.depth > 0).all()  # a closed room: every ray hits something within 10 m
    assert not np.array_equal(out.rgb[30, 40], out.rgb[60, 40])  # wall and floor differ


def test_walls_of_different_orientation_are_shaded_differently() -> None:
    r = Renderer.from_scene(hall_scene(), nthreads=1)
    front = r.render(K, camera_pose_matrix(Pose2D(1.0, 0.0, 0.0), 0.88)).rgb[30, 40]
    side = r.render(K, camera_pose_matrix(Pose2D(1.0, 0.0, math.pi / 2), 0.88)).rgb[30, 40]
    assert int(np.abs(front.astype(int) - side.astype(int)).sum()) > 10


def test_depth_range_zero_or_clamp() -> None:
    zeroed = _render(hall_scene(), Pose2D(1.0, 0.0, 0.0), max_depth_m=2.0)
    clamped = _render(hall_scene(), Pose2D(1.0, 0.0, 0.0), max_depth_m=2.0, clamp_depth=True)
    assert zeroed.depth[30, 40] == 0.0
    assert clamped.depth[30, 40] == pytest.approx(2.0)
    near = _render(hall_scene(), Pose2D(1.0, 0.0, 0.0), min_depth_m=1.6)
    assert near.depth[60, 40] == 0.0  # the bottom row sees the floor 1.44 m ahead
    assert near.depth[30, 40] == pytest.approx(2.95, abs=2e-3)
    with pytest.raises(ValueError, match="depth range"):
        Renderer.from_scene(hall_scene(), min_depth_m=3.0, max_depth_m=2.0)


def test_rays_are_cached_and_have_unit_z() -> None:
    r = Renderer.from_scene(hall_scene(), nthreads=1)
    rays = r.camera_rays(K)
    assert rays.shape == (81 * 61, 3)
    assert np.all(rays[:, 2] == 1.0)
    assert r._pixel_rays(K) is r._pixel_rays(K)


def test_pitch_tilts_the_view_down() -> None:
    level = camera_pose_matrix(Pose2D(0.0, 0.0, 0.0), 0.88)
    down = camera_pose_matrix(Pose2D(0.0, 0.0, 0.0), 0.88, pitch_rad=math.radians(30))
    assert np.allclose(level[:3, 2], [1, 0, 0]) and np.allclose(level[:3, 1], [0, 0, -1])
    assert down[2, 2] == pytest.approx(-0.5)
    assert np.allclose(down[:3, :3] @ down[:3, :3].T, np.eye(3)) and np.linalg.det(down[:3, :3]) == pytest.approx(1.0)


@pytest.mark.parametrize("poly", [
    [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]],  # L
    [[0, 0], [4, 0], [4, 3], [3, 1], [2, 3], [1, 1], [0, 3]],  # comb: three reflex vertices
    [[0, 0], [1, 0], [2, 0], [2, 2], [0, 2]],  # a collinear vertex
])
def test_triangulation_covers_polygon(poly: list[list[float]]) -> None:
    pts = np.array(poly, dtype=float)
    tris = triangulate_polygon(pts)
    areas = [polygon_signed_area(pts[t]) for t in tris]
    assert all(a > 0 for a in areas)
    assert sum(areas) == pytest.approx(polygon_signed_area(pts))


def test_mesh_labels_and_normals() -> None:
    scene = two_rooms()
    mesh = build_scene_mesh(scene)
    normals = mesh.normals
    assert np.all(normals[mesh.kinds == KIND_FLOOR][:, 2] > 0.99)
    assert np.all(normals[mesh.kinds == KIND_CEILING][:, 2] < -0.99)
    assert (mesh.kinds == KIND_WALL).any()
    obj = mesh.instance_ids >= 0
    centroids = mesh.vertices[mesh.triangles].mean(axis=1)
    centres = np.array([o.center for o in scene.objects])[mesh.instance_ids[obj]]
    outward = np.einsum("ij,ij->i", normals[obj], centroids[obj] - centres)
    assert np.all(outward > 0)


def test_aws_house_renders_closed_and_sees_the_fridge() -> None:
    if not AWS_HOUSE.exists():
        pytest.skip(f"shared data not present: {AWS_HOUSE}")
    scene = load_scene(AWS_HOUSE)
    r = Renderer.from_scene(scene, nthreads=1, max_depth_m=30.0)
    fridge = next(i for i, o in enumerate(scene.objects) if o.id == "fridge_1")
    out = r.render(K, camera_pose_matrix(Pose2D(7.0, -1.0, 0.0), 0.88))
    assert out.instance[30, 40] == fridge
    assert (out.depth > 0).all() and np.isfinite(out.depth).all()
    assert scene.categories[out.semantic[30, 40]] == "fridge"


@pytest.mark.parametrize("size", [(81, 61), (64, 48), (5, 4)])
def test_adaptive_matches_exact(size: tuple[int, int]) -> None:
    scene = two_rooms()
    k = CameraIntrinsics.from_hfov(size[0], size[1], math.radians(79.0))
    exact = Renderer.from_scene(scene, nthreads=1)
    fast = Renderer.from_scene(scene, nthreads=1, adaptive=True)
    rng = np.random.default_rng(0)
    same_px = total = 0
    for _ in range(8):
        pose = camera_pose_matrix(Pose2D(*rng.uniform([0.5, 0.5], [7.5, 3.5]), rng.uniform(-np.pi, np.pi)), 0.88)
        a, b = exact.render(k, pose), fast.render(k, pose)
        same = (a.instance == b.instance) & np.all(a.rgb == b.rgb, axis=-1) & (a.semantic == b.semantic)
        assert np.allclose(a.depth[same], b.depth[same], atol=1e-4)
        same_px += int(same.sum())
        total += same.size
    assert same_px / total >= 0.999


def test_sim_render_command(tmp_path) -> None:  # noqa: ANN001
    from PIL import Image

    from embodied_stack.cli import main
    from embodied_stack.sim.scene import save_scene

    scene = tmp_path / "rooms.scene.json"
    save_scene(two_rooms(), scene)
    out = tmp_path / "view.png"
    assert main(["sim", "render", str(scene), "--pose", "1", "2", "0", "--width", "40", "--height", "30",
                 "--out", str(out)]) == 0
    assert Image.open(out).size == (120, 30)
