"""Habitat (y up) <-> ``map`` (z up) conversions, pure numpy so they are tested without habitat_sim.

Habitat's world is y up and an agent looks down its local -Z axis; FORMATS.md's ``map`` is z up
(REP-103), yaw counter-clockwise about +z with 0 facing +x. The two worlds are related by a
+90 degree rotation about x:

    (x, y, z)_map = (x_h, -z_h, y_h)        (x_h, y_h, z_h) = (x, z, -y)_map

An agent rotated by theta about +y_h faces (-sin theta, 0, -cos theta) in Habitat, i.e.
(-sin theta, cos theta) in the map plane, so ``yaw = theta + pi/2``. Habitat cameras use the
OpenGL convention (+x right, +y up, looking down -z); our optical frame is +x right, +y down,
+z forward, a flip of y and z.

Quaternions here are ``(x, y, z, w)`` arrays: the ROS order and the order of habitat_sim's
``quat_to_coeffs`` / ``quat_from_coeffs``.
"""

from __future__ import annotations

import math

import numpy as np

from embodied_stack.types import Pose2D

HABITAT_TO_MAP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""Rotation taking Habitat world vectors to ``map`` vectors."""

GL_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])
"""Rotation from an OpenGL camera frame to the optical frame (both right-handed)."""


def map_from_habitat(points_h: np.ndarray) -> np.ndarray:
    """Habitat world points (..., 3) -> ``map`` points (..., 3)."""
    p = np.asarray(points_h, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def habitat_from_map(points: np.ndarray) -> np.ndarray:
    """``map`` points (..., 3) -> Habitat world points (..., 3)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def quaternion_to_matrix(q_xyzw: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` -> 3x3 rotation matrix (normalised first)."""
    x, y, z, w = np.asarray(q_xyzw, dtype=np.float64) / np.linalg.norm(q_xyzw)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion ``(x, y, z, w)`` with ``w >= 0``."""
    m = np.asarray(rot, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] >= m[1, 1] and m[0, 0] >= m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] >= m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    out = np.array(q) / np.linalg.norm(q)
    return -out if out[3] < 0 else out


def habitat_quaternion_from_yaw(yaw_rad: float) -> np.ndarray:
    """The Habitat agent rotation ``(x, y, z, w)`` (about +y_h) for a ``map`` yaw."""
    half = 0.5 * (yaw_rad - math.pi / 2.0)
    return np.array([0.0, math.sin(half), 0.0, math.cos(half)])


def yaw_from_habitat_quaternion(q_xyzw: np.ndarray) -> float:
    """The ``map`` yaw of a Habitat rotation: the heading of its -Z (forward) axis projected
    on the floor (any tilt is ignored), in [-pi, pi)."""
    forward_h = quaternion_to_matrix(q_xyzw) @ np.array([0.0, 0.0, -1.0])
    forward = HABITAT_TO_MAP @ forward_h
    yaw = math.atan2(forward[1], forward[0])
    return (yaw + math.pi) % (2.0 * math.pi) - math.pi


def pose2d_from_habitat(position_h: np.ndarray, q_xyzw: np.ndarray) -> Pose2D:
    """A Habitat agent state (position, rotation) -> planar ``map`` pose."""
    p = map_from_habitat(np.asarray(position_h, dtype=np.float64).reshape(3))
    return Pose2D(float(p[0]), float(p[1]), yaw_from_habitat_quaternion(q_xyzw))


def habitat_state_from_pose2d(pose: Pose2D, floor_z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A planar ``map`` pose on a floor at ``floor_z`` -> Habitat (position, rotation ``(x, y, z, w)``)."""
    position = habitat_from_map(np.array([pose.x, pose.y, floor_z]))
    return position, habitat_quaternion_from_yaw(pose.yaw)


def optical_pose_from_habitat_sensor(position_h: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """A Habitat sensor's world pose (OpenGL camera) -> ``T_map_camera`` (4x4) of our optical frame."""
    t = np.eye(4)
    t[:3, :3] = HABITAT_TO_MAP @ quaternion_to_matrix(q_xyzw) @ GL_TO_OPTICAL
    t[:3, 3] = map_from_habitat(np.asarray(position_h, dtype=np.float64).reshape(3))
    return t
