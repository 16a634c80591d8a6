"""Synthetic RGB-D frames for perception tests: axis-aligned boxes on a floor, ray cast in numpy.

The camera follows ``embodied_stack.sim.env``: ``T_map_camera`` of the optical frame (+z
forward, +x right, +y down), planar z-depth in metres, instance ids (-1 = floor/background).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embodied_stack.types import CameraIntrinsics, InstanceInfo

# Optical axes expressed in the body frame (x forward, y left, z up).
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in ``map``: centre and full size (metres), sRGB colour 0-255."""

    instance_id: int
    category: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: tuple[int, int, int] = (200, 200, 200)
    room: str | None = None

    @property
    def info(self) -> InstanceInfo:
        return InstanceInfo(self.instance_id, f"{self.category}_{self.instance_id}", self.category, self.room)


def camera_pose(x: float, y: float, yaw: float, height: float = 0.88, pitch: float = 0.0) -> np.ndarray:
    """``T_map_camera`` of a camera at (x, y, height) facing ``yaw`` (CCW from +x), tilted down by ``pitch``."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    r_yaw = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    r_pitch = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    T = np.eye(4)
    T[:3, :3] = r_yaw @ r_pitch @ R_BODY_OPTICAL
    T[:3, 3] = (x, y, height)
    return T


def intrinsics(width: int = 160, height: int = 120, hfov_deg: float = 79.0) -> CameraIntrinsics:
    return CameraIntrinsics.from_hfov(width, height, math.radians(hfov_deg))


def render(
    boxes: list[Box], pose: np.ndarray, camera: CameraIntrinsics, *, max_depth_m: float = 10.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray cast boxes and the floor (z = 0). Returns rgb (HxWx3 uint8), depth (HxW float32 m), instance (HxW int32)."""
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    dirs_cam = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)
    dirs = dirs_cam.reshape(-1, 3) @ pose[:3, :3].T
    origin = pose[:3, 3]
    n = dirs.shape[0]
    best_t = np.full(n, np.inf)
    instance = np.full(n, -1, dtype=np.int32)
    rgb = np.zeros((n, 3), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(dirs[:, 2] < 0, -origin[2] / dirs[:, 2], np.inf)
    best_t = np.minimum(best_t, t_floor)
    rgb[np.isfinite(t_floor)] = (120, 110, 100)
    shade = np.array([0.95, 0.85, 1.0])
    for box in boxes:
        lo = np.asarray(box.center) - np.asarray(box.size) / 2
        hi = np.asarray(box.center) + np.asarray(box.size) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (lo - origin) / dirs
            t2 = (hi - origin) / dirs
        t_near = np.minimum(t1, t2)
        t_far = np.maximum(t1, t2)
        t_near = np.where(np.isnan(t_near), -np.inf, t_near)
        t_far = np.where(np.isnan(t_far), np.inf, t_far)
        enter = t_near.max(axis=1)
        axis = t_near.argmax(axis=1)
        leave = t_far.min(axis=1)
        hit = (enter <= leave) & (enter > 0) & (enter < best_t)
        best_t[hit] = enter[hit]
        instance[hit] = box.instance_id
        rgb[hit] = np.asarray(box.color, dtype=np.float64) * shade[axis[hit]][:, None]
    depth = np.where(np.isfinite(best_t) & (best_t <= max_depth_m), best_t, 0.0)
    rgb[depth == 0] = 0
    shape = (camera.height, camera.width)
    return (
        np.clip(rgb, 0, 255).astype(np.uint8).reshape(*shape, 3),
        depth.astype(np.float32).reshape(shape),
        instance.reshape(shape),
    )
