"""Geometry and tf: points, quaternions, poses, transforms, velocity commands, odometry.

Conventions: quaternions are xyzw (ROS order); planar poses are x, y (metres) and yaw (radians,
counter-clockwise from +x) in the frame their header names; 4x4 matrices are ``T_parent_child``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from embodied_stack.bags.tf import matrix_to_quaternion, quaternion_to_matrix
from embodied_stack.types import Pose2D
from embodied_stack_ros.conversions.base import header_from_ros, header_to_ros
from embodied_stack_ros.conversions.base import new_message as _new

__all__ = [
    "matrix_to_pose7", "odometry_from_ros", "odometry_to_ros", "point_from_ros", "point_to_ros",
    "pose2d_from_matrix", "pose2d_from_ros", "pose2d_to_matrix", "pose2d_to_ros", "pose7_from_ros",
    "pose7_to_ros", "pose_stamped_from_ros", "pose_stamped_to_ros", "quaternion_from_ros", "quaternion_to_ros",
    "transform_box", "transform_from_ros", "transform_pose7", "transform_stamped_from_ros",
    "transform_stamped_to_ros", "transform_to_ros", "twist_from_ros", "twist_stamped_from_ros",
    "twist_stamped_to_ros", "twist_to_ros", "vector3_from_ros", "vector3_to_ros", "velocity_from_ros",
    "yaw_from_quaternion", "yaw_to_quaternion",
]

def point_to_ros(xyz: Sequence[float]) -> Any:
    return _new("geometry_msgs/msg/Point", x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def point_from_ros(msg: Any) -> tuple[float, float, float]:
    return float(msg.x), float(msg.y), float(msg.z)


def vector3_to_ros(xyz: Sequence[float]) -> Any:
    return _new("geometry_msgs/msg/Vector3", x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def vector3_from_ros(msg: Any) -> tuple[float, float, float]:
    return float(msg.x), float(msg.y), float(msg.z)


def quaternion_to_ros(q_xyzw: Sequence[float]) -> Any:
    x, y, z, w = (float(v) for v in q_xyzw)
    return _new("geometry_msgs/msg/Quaternion", x=x, y=y, z=z, w=w)


def quaternion_from_ros(msg: Any) -> tuple[float, float, float, float]:
    return float(msg.x), float(msg.y), float(msg.z), float(msg.w)


def yaw_to_quaternion(yaw_rad: float) -> tuple[float, float, float, float]:
    """Rotation about +z by ``yaw_rad`` as xyzw."""
    return 0.0, 0.0, math.sin(yaw_rad / 2.0), math.cos(yaw_rad / 2.0)


def yaw_from_quaternion(q_xyzw: Sequence[float]) -> float:
    """Heading (rotation about +z) of a quaternion xyzw, in (-pi, pi]; roll and pitch ignored."""
    x, y, z, w = (float(v) for v in q_xyzw)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def pose2d_to_ros(pose: Pose2D, z_m: float = 0.0) -> Any:
    """Planar pose -> ``geometry_msgs/Pose`` (at height ``z_m``)."""
    return _new(
        "geometry_msgs/msg/Pose",
        position=point_to_ros((pose.x, pose.y, z_m)),
        orientation=quaternion_to_ros(yaw_to_quaternion(pose.yaw)),
    )


def pose2d_from_ros(msg: Any) -> Pose2D:
    """``geometry_msgs/Pose`` -> planar pose (z, roll and pitch dropped); ValueError on NaN."""
    return Pose2D(float(msg.position.x), float(msg.position.y), yaw_from_quaternion(quaternion_from_ros(msg.orientation)))


def pose_stamped_to_ros(pose: Pose2D, frame_id: str, stamp_s: float) -> Any:
    return _new("geometry_msgs/msg/PoseStamped", header=header_to_ros(frame_id, stamp_s), pose=pose2d_to_ros(pose))


def pose_stamped_from_ros(msg: Any) -> tuple[Pose2D, str, float]:
    """``(pose, frame_id, stamp seconds)``."""
    frame_id, stamp = header_from_ros(msg.header)
    return pose2d_from_ros(msg.pose), frame_id, stamp


def pose7_to_ros(pose: Sequence[float]) -> Any:
    """``(x, y, z, qx, qy, qz, qw)`` -> ``geometry_msgs/Pose``."""
    return _new("geometry_msgs/msg/Pose", position=point_to_ros(pose[:3]), orientation=quaternion_to_ros(pose[3:7]))


def pose7_from_ros(msg: Any) -> tuple[float, float, float, float, float, float, float]:
    return (*point_from_ros(msg.position), *quaternion_from_ros(msg.orientation))


def matrix_to_pose7(mat: np.ndarray) -> tuple[float, float, float, float, float, float, float]:
    """Rigid 4x4 transform -> ``(x, y, z, qx, qy, qz, qw)``."""
    t = np.asarray(mat, dtype=np.float64)
    q = matrix_to_quaternion(t[:3, :3])
    return (float(t[0, 3]), float(t[1, 3]), float(t[2, 3]), float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def transform_to_ros(mat: np.ndarray) -> Any:
    """Rigid 4x4 ``T_parent_child`` -> ``geometry_msgs/Transform``."""
    pose = matrix_to_pose7(mat)
    return _new("geometry_msgs/msg/Transform", translation=vector3_to_ros(pose[:3]), rotation=quaternion_to_ros(pose[3:]))


def transform_from_ros(msg: Any) -> np.ndarray:
    """``geometry_msgs/Transform`` -> 4x4; ValueError when not finite or the quaternion is not unit."""
    t = np.array(vector3_from_ros(msg.translation))
    q = np.array(quaternion_from_ros(msg.rotation))
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
        raise ValueError(f"transform has non-finite values: translation {t.tolist()}, rotation {q.tolist()}")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > 0.01:
        raise ValueError(f"transform rotation (xyzw) has norm {norm:.4f}, expected a unit quaternion")
    mat = np.eye(4)
    mat[:3, :3] = quaternion_to_matrix(q / norm)
    mat[:3, 3] = t
    return mat


def pose2d_from_matrix(mat: np.ndarray) -> Pose2D:
    """Planar pose of a 4x4 transform: its x, y and heading (the x axis's angle about +z)."""
    t = np.asarray(mat, dtype=np.float64)
    return Pose2D(float(t[0, 3]), float(t[1, 3]), math.atan2(float(t[1, 0]), float(t[0, 0])))


def pose2d_to_matrix(pose: Pose2D, z_m: float = 0.0) -> np.ndarray:
    """4x4 transform of a planar pose (at height ``z_m``)."""
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    mat = np.eye(4)
    mat[:2, :2] = [[c, -s], [s, c]]
    mat[:3, 3] = (pose.x, pose.y, z_m)
    return mat


def transform_stamped_to_ros(mat: np.ndarray, parent: str, child: str, stamp_s: float) -> Any:
    return _new(
        "geometry_msgs/msg/TransformStamped",
        header=header_to_ros(parent, stamp_s),
        child_frame_id=str(child),
        transform=transform_to_ros(mat),
    )


def transform_stamped_from_ros(msg: Any) -> tuple[np.ndarray, str, str, float]:
    """``(T_parent_child, parent, child, stamp seconds)``."""
    parent, stamp = header_from_ros(msg.header)
    return transform_from_ros(msg.transform), parent, str(msg.child_frame_id), stamp


def twist_to_ros(linear_mps: float, angular_radps: float) -> Any:
    """Planar velocity command -> ``geometry_msgs/Twist`` (x forward, yaw rate about +z)."""
    return _new(
        "geometry_msgs/msg/Twist",
        linear=vector3_to_ros((linear_mps, 0.0, 0.0)),
        angular=vector3_to_ros((0.0, 0.0, angular_radps)),
    )


def twist_from_ros(msg: Any) -> tuple[float, float]:
    """``(linear x m/s, angular z rad/s)``; ValueError when not finite."""
    v, omega = float(msg.linear.x), float(msg.angular.z)
    if not (math.isfinite(v) and math.isfinite(omega)):
        raise ValueError(f"velocity command must be finite, got linear.x={v}, angular.z={omega}")
    return v, omega


def odometry_to_ros(
    pose: Pose2D, linear_mps: float, angular_radps: float, frame_id: str, child_frame_id: str, stamp_s: float
) -> Any:
    """Planar odometry: pose in ``frame_id``, twist in ``child_frame_id`` (REP-105)."""
    return _new(
        "nav_msgs/msg/Odometry",
        header=header_to_ros(frame_id, stamp_s),
        child_frame_id=str(child_frame_id),
        pose=_new("geometry_msgs/msg/PoseWithCovariance", pose=pose2d_to_ros(pose), covariance=[0.0] * 36),
        twist=_new("geometry_msgs/msg/TwistWithCovariance", twist=twist_to_ros(linear_mps, angular_radps), covariance=[0.0] * 36),
    )


def odometry_from_ros(msg: Any) -> tuple[Pose2D, float, float, str, float]:
    """``(pose, linear m/s, angular rad/s, frame_id, stamp seconds)``."""
    frame_id, stamp = header_from_ros(msg.header)
    v, omega = twist_from_ros(msg.twist.twist)
    return pose2d_from_ros(msg.pose.pose), v, omega, frame_id, stamp



def twist_stamped_to_ros(linear_mps: float, angular_radps: float, frame_id: str, stamp_s: float) -> Any:
    """Planar velocity command -> ``geometry_msgs/TwistStamped`` (Jazzy's diff_drive_controller)."""
    return _new("geometry_msgs/msg/TwistStamped", header=header_to_ros(frame_id, stamp_s),
                twist=twist_to_ros(linear_mps, angular_radps))


def twist_stamped_from_ros(msg: Any) -> tuple[float, float]:
    """``(linear x m/s, angular z rad/s)`` of a ``TwistStamped``; ValueError when not finite."""
    return twist_from_ros(msg.twist)


def velocity_from_ros(msg: Any) -> tuple[float, float]:
    """``(linear, angular)`` of a ``Twist`` or a ``TwistStamped``."""
    return twist_from_ros(msg.twist if hasattr(msg, "twist") else msg)


def transform_pose7(mat: np.ndarray, pose: Sequence[float]) -> tuple[float, float, float, float, float, float, float]:
    """``(x, y, z, qx, qy, qz, qw)`` in the child frame of ``mat`` -> the same pose in its parent."""
    T = np.eye(4)
    T[:3, :3] = quaternion_to_matrix(np.asarray(pose[3:7], dtype=np.float64))
    T[:3, 3] = pose[:3]
    return matrix_to_pose7(np.asarray(mat, dtype=np.float64) @ T)


def transform_box(mat: np.ndarray, center: Sequence[float], extent: Sequence[float]
                  ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """An axis-aligned box (centre, full size) in the child frame of ``mat`` -> the axis-aligned
    box that holds it in the parent frame (its rotated corners' bounds)."""
    T = np.asarray(mat, dtype=np.float64)
    c = T[:3, :3] @ np.asarray(center, dtype=np.float64) + T[:3, 3]
    size = np.abs(T[:3, :3]) @ np.asarray(extent, dtype=np.float64)
    return (float(c[0]), float(c[1]), float(c[2])), (float(size[0]), float(size[1]), float(size[2]))
