"""Frames and motion of the simulated robot as tf publishes them (REP-103/105), without ROS.

The simulator reports the camera as ``T_map_optical`` (optical frame: +z forward, +x right,
+y down) and the robot as a planar pose. The bridge publishes ``map -> odom`` (identity: the
simulator's odometry is perfect), ``odom -> base_link`` (the planar pose), and the static mount
``base_link -> camera_link -> camera optical frame`` (``camera_link``: x forward, y left, z up,
the REP-103 body convention of camera drivers).
"""

from __future__ import annotations

import math

import numpy as np

from embodied_stack.types import Pose2D
from embodied_stack_ros.conversions import pose2d_to_matrix

# Rotation taking optical-frame coordinates to camera_link coordinates: optical x (right) is
# link -y, optical y (down) is link -z, optical z (forward) is link x.
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _rigid_inverse(mat: np.ndarray) -> np.ndarray:
    inv = np.eye(4)
    inv[:3, :3] = mat[:3, :3].T
    inv[:3, 3] = -mat[:3, :3].T @ mat[:3, 3]
    return inv


def camera_mount(T_map_optical: np.ndarray, robot: Pose2D) -> tuple[np.ndarray, np.ndarray]:
    """``(T_base_cameralink, T_cameralink_optical)`` from a rendered frame's camera pose and the
    robot pose it was rendered at (base_link on the floor plane z = 0 of ``map``)."""
    T_base_optical = _rigid_inverse(pose2d_to_matrix(robot)) @ np.asarray(T_map_optical, dtype=np.float64)
    T_link_optical = np.eye(4)
    T_link_optical[:3, :3] = R_LINK_OPTICAL
    return T_base_optical @ _rigid_inverse(T_link_optical), T_link_optical


def planar_velocity(before: Pose2D, after: Pose2D, dt_s: float) -> tuple[float, float]:
    """(forward m/s along the heading at ``before``, yaw rate rad/s) of a move over ``dt_s``."""
    if dt_s <= 0.0:
        return 0.0, 0.0
    dx, dy = after.x - before.x, after.y - before.y
    forward = dx * math.cos(before.yaw) + dy * math.sin(before.yaw)
    dyaw = (after.yaw - before.yaw + math.pi) % (2.0 * math.pi) - math.pi
    return forward / dt_s, dyaw / dt_s
