"""Every conversion between core objects and ROS messages, as ``x_to_ros`` / ``x_from_ros`` pairs.

Pure functions: no node, no clock, no rclpy. Message classes are looked up by name through
:func:`ros_type` (``"geometry_msgs/msg/Pose"``), which imports the generated ROS module on first
use; tests install another resolver with :func:`set_type_resolver` (classes generated from the
``.msg`` files by ``rosbags``), so this module imports no ROS package at import time.

Conventions: times are float seconds on the core side and ``builtin_interfaces/Time`` on the
wire; quaternions are xyzw (ROS order); planar poses are ``map``-frame x, y (metres) and yaw
(radians, counter-clockwise from +x). Messages are built with keyword arguments only and with
plain Python scalars and lists, which is what rclpy's generated setters accept.
"""

from __future__ import annotations

import array
import importlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from embodied_stack.bags import images
from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.bags.tf import matrix_to_quaternion, quaternion_to_matrix
from embodied_stack.memory.errors import InvalidObservationError
from embodied_stack.memory.types import MAP_FRAME, Observation
from embodied_stack.planning.types import (
    FeedbackStatus,
    HitRef,
    Plan,
    PlannerState,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalStatus,
    SubgoalType,
)
from embodied_stack.sim.env import Action, CameraIntrinsics, InstanceInfo, Pose2D

IFACE = "embodied_stack_interfaces"

_resolver: Callable[[str], Any] | None = None


def _import_ros_type(name: str) -> Any:
    package, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), cls)


def ros_type(name: str) -> Any:
    """The message class called ``name`` (``"package/msg/Type"``)."""
    return (_resolver or _import_ros_type)(name)


def set_type_resolver(resolver: Callable[[str], Any] | None) -> None:
    """Use ``resolver(name) -> class`` instead of importing generated ROS modules (None: default)."""
    global _resolver
    _resolver = resolver


def _new(type_name: str, /, **fields: Any) -> Any:
    return ros_type(type_name)(**fields)


# -- time and header --------------------------------------------------------------------------


def time_to_ros(t_s: float) -> Any:
    """Seconds (>= 0) -> ``builtin_interfaces/Time``, rounded to the nanosecond."""
    total_ns = int(round(float(t_s) * 1e9))
    if total_ns < 0:
        raise ValueError(f"time must be >= 0 s, got {t_s}")
    return _new("builtin_interfaces/msg/Time", sec=total_ns // 1_000_000_000, nanosec=total_ns % 1_000_000_000)


def time_from_ros(msg: Any) -> float:
    return int(msg.sec) + int(msg.nanosec) * 1e-9


def header_to_ros(frame_id: str, stamp_s: float) -> Any:
    return _new("std_msgs/msg/Header", stamp=time_to_ros(stamp_s), frame_id=str(frame_id))


def header_from_ros(msg: Any) -> tuple[str, float]:
    """``(frame_id, stamp seconds)``."""
    return str(msg.frame_id), time_from_ros(msg.stamp)


# -- geometry ---------------------------------------------------------------------------------


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


# -- camera -----------------------------------------------------------------------------------


def camera_info_to_ros(intrinsics: CameraIntrinsics, frame_id: str, stamp_s: float) -> Any:
    """Pinhole intrinsics (no distortion) -> ``sensor_msgs/CameraInfo``."""
    k = intrinsics
    return _new(
        "sensor_msgs/msg/CameraInfo",
        header=header_to_ros(frame_id, stamp_s),
        height=int(k.height),
        width=int(k.width),
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[float(k.fx), 0.0, float(k.cx), 0.0, float(k.fy), float(k.cy), 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[float(k.fx), 0.0, float(k.cx), 0.0, 0.0, float(k.fy), float(k.cy), 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def camera_info_from_ros(msg: Any) -> CameraIntrinsics:
    """``sensor_msgs/CameraInfo`` -> pinhole intrinsics from K; ValueError on an unusable K or size."""
    k = [float(v) for v in msg.k]
    if len(k) != 9 or not all(math.isfinite(v) for v in k):
        raise ValueError(f"camera_info K must be 9 finite numbers, got {k}")
    return CameraIntrinsics(int(msg.width), int(msg.height), k[0], k[4], k[2], k[5])


def image_to_ros(pixels: np.ndarray, frame_id: str, stamp_s: float, depth_encoding: str = "32FC1") -> Any:
    """``(H, W, 3) uint8`` RGB -> ``rgb8``; ``(H, W)`` float depth metres -> ``depth_encoding``;
    ``(H, W)`` int32 (instance ids) -> ``32SC1``."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2 and pixels.dtype == np.int32:
        fields = images.ImageFields(
            pixels.shape[0], pixels.shape[1], "32SC1", 0, pixels.shape[1] * 4,
            np.ascontiguousarray(pixels.astype("<i4")).reshape(-1).view(np.uint8),
        )
    elif pixels.ndim == 2:
        fields = images.depth_to_image(pixels, depth_encoding)
    else:
        fields = images.rgb_to_image(pixels)
    return _new(
        "sensor_msgs/msg/Image",
        header=header_to_ros(frame_id, stamp_s),
        height=int(fields.height),
        width=int(fields.width),
        encoding=fields.encoding,
        is_bigendian=0,
        step=int(fields.step),
        data=array.array("B", fields.data.tobytes()),
    )


def rgb_from_ros(msg: Any) -> np.ndarray:
    """Colour ``sensor_msgs/Image`` -> ``(H, W, 3) uint8``; MalformedMessageError says why not."""
    return images.decode_rgb(msg)


def depth_from_ros(msg: Any) -> np.ndarray:
    """Depth ``sensor_msgs/Image`` (16UC1 mm or 32FC1 m) -> ``(H, W) float32`` metres, 0 = none."""
    return images.decode_depth(msg)


def instance_image_from_ros(msg: Any) -> np.ndarray:
    """``32SC1`` instance image -> ``(H, W) int32`` ids (-1 = background)."""
    if str(msg.encoding) != "32SC1":
        raise MalformedMessageError(f"instance image encoding {msg.encoding!r}, expected 32SC1")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if height <= 0 or width <= 0 or step < 4 * width or data.size != step * height:
        raise MalformedMessageError(
            f"instance image {width}x{height} with step {step} has {data.size} bytes; expected "
            f"step >= {4 * width} and step*height bytes"
        )
    dtype = np.dtype(">i4" if msg.is_bigendian else "<i4")
    rows = np.ascontiguousarray(data.reshape(height, step)[:, : 4 * width])
    return rows.view(dtype).reshape(height, width).astype(np.int32)


def instances_to_ros(instances: dict[int, InstanceInfo], stamp_s: float) -> Any:
    items = [
        _new(f"{IFACE}/msg/InstanceInfo", instance_id=int(i.instance_id), object_id=str(i.object_id),
             category=str(i.category), room=i.room or "")
        for i in sorted(instances.values(), key=lambda info: info.instance_id)
    ]
    return _new(f"{IFACE}/msg/InstanceInfoArray", header=header_to_ros(MAP_FRAME, stamp_s), instances=items)


def instances_from_ros(msg: Any) -> dict[int, InstanceInfo]:
    return {
        int(i.instance_id): InstanceInfo(int(i.instance_id), str(i.object_id), str(i.category), str(i.room) or None)
        for i in msg.instances
    }


# -- memory -----------------------------------------------------------------------------------


def observation_to_ros(obs: Observation) -> Any:
    keys = sorted(obs.attributes)
    return _new(
        f"{IFACE}/msg/ObjectObservation",
        header=header_to_ros(obs.frame_id, obs.timestamp),
        category=obs.category,
        caption=obs.caption,
        position=point_to_ros(obs.position),
        extent=vector3_to_ros(obs.extent),
        confidence=float(obs.confidence),
        object_id=obs.object_id or "",
        has_source_pose=obs.source_pose is not None,
        source_pose=pose7_to_ros(obs.source_pose or (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)),
        room=obs.room or "",
        attribute_keys=keys,
        attribute_values=[str(obs.attributes[k]) for k in keys],
    )


def observation_from_ros(msg: Any) -> Observation:
    """``ObjectObservation`` -> :class:`Observation`; InvalidObservationError names the bad field."""
    frame_id, stamp = header_from_ros(msg.header)
    keys, values = list(msg.attribute_keys), list(msg.attribute_values)
    if len(keys) != len(values):
        raise InvalidObservationError(
            f"{len(keys)} attribute_keys but {len(values)} attribute_values; expected equal lengths",
            field="attribute_keys",
        )
    return Observation(
        category=str(msg.category),
        position=point_from_ros(msg.position),
        extent=vector3_from_ros(msg.extent),
        caption=str(msg.caption),
        confidence=float(msg.confidence),
        timestamp=stamp,
        frame_id=frame_id,
        object_id=str(msg.object_id) or None,
        source_pose=pose7_from_ros(msg.source_pose) if msg.has_source_pose else None,
        room=str(msg.room) or None,
        attributes={str(k): str(v) for k, v in zip(keys, values, strict=True)},
    )


def observations_to_ros(observations: Iterable[Observation], stamp_s: float) -> Any:
    return _new(
        f"{IFACE}/msg/ObjectObservationArray",
        header=header_to_ros(MAP_FRAME, stamp_s),
        observations=[observation_to_ros(o) for o in observations],
    )


def observations_from_ros(msg: Any) -> tuple[list[Observation], list[str]]:
    """``(valid observations, one reason per rejected one)``: a bad element never spoils the batch."""
    accepted: list[Observation] = []
    rejected: list[str] = []
    for index, item in enumerate(msg.observations):
        try:
            accepted.append(observation_from_ros(item))
        except (InvalidObservationError, ValueError, TypeError) as err:
            rejected.append(f"observations[{index}] ({getattr(item, 'category', '?')!r}): {err}")
    return accepted, rejected


def _seen_times(hit: Any) -> tuple[bool, float, float]:
    first, last = getattr(hit, "first_seen", None), getattr(hit, "last_seen", None)
    if first is None or last is None:
        return False, 0.0, 0.0
    return True, float(first), float(last)


def memory_hit_to_ros(hit: Any, stamp_s: float) -> Any:
    """A core ``MemoryHit`` (leaf or cluster) -> ``MemoryHit`` message; poses in ``map``."""
    has_times, first, last = _seen_times(hit)
    ancestors = list(getattr(hit, "ancestors", []) or [])
    return _new(
        f"{IFACE}/msg/MemoryHit",
        node_id=str(hit.node_id),
        name=str(hit.name),
        text=str(getattr(hit, "text", "") or ""),
        level=min(max(int(hit.level), 0), 255),
        score=float(hit.score),
        position=point_to_ros(hit.position),
        target_pose=pose_stamped_to_ros(hit.target_pose, MAP_FRAME, stamp_s),
        category=str(getattr(hit, "category", "") or ""),
        ancestor_ids=[str(a[0]) for a in ancestors],
        ancestor_names=[str(a[1]) for a in ancestors],
        has_seen_times=has_times,
        first_seen=time_to_ros(first),
        last_seen=time_to_ros(last),
    )


def memory_hit_from_ros(msg: Any) -> Any:
    """``MemoryHit`` message -> the core ``embodied_stack.memory.MemoryHit``."""
    from embodied_stack.memory.results import MemoryHit

    return MemoryHit(
        node_id=str(msg.node_id),
        name=str(msg.name),
        text=str(msg.text),
        level=int(msg.level),
        score=float(msg.score),
        position=point_from_ros(msg.position),
        target_pose=pose2d_from_ros(msg.target_pose.pose),
        category=str(msg.category) or None,
        ancestors=list(zip((str(a) for a in msg.ancestor_ids), (str(n) for n in msg.ancestor_names), strict=True)),
        first_seen=time_from_ros(msg.first_seen) if msg.has_seen_times else None,
        last_seen=time_from_ros(msg.last_seen) if msg.has_seen_times else None,
    )


def hit_ref_to_ros(hit: HitRef, stamp_s: float) -> Any:
    """The planner's reference to a memory hit -> ``MemoryHit`` (text, category, ancestors empty)."""
    return _new(
        f"{IFACE}/msg/MemoryHit",
        node_id=hit.node_id,
        name=hit.name,
        level=min(max(int(hit.level), 0), 255),
        score=float(hit.score),
        position=point_to_ros(hit.position),
        target_pose=pose_stamped_to_ros(hit.target_pose, MAP_FRAME, stamp_s),
        first_seen=time_to_ros(0.0),
        last_seen=time_to_ros(0.0),
    )


def hit_ref_from_ros(msg: Any) -> HitRef:
    return HitRef(
        node_id=str(msg.node_id),
        name=str(msg.name),
        score=float(msg.score),
        level=int(msg.level),
        target_pose=pose2d_from_ros(msg.target_pose.pose),
        position=point_from_ros(msg.position),
    )


# QueryMemory.srv kind constants; 0 (AUTO) is "let the memory detect the kind".
QUERY_KINDS = ("AUTO", "EXPLICIT", "IMPLICIT", "GLOBAL", "TEMPORAL")


def query_kind_to_ros(kind: Any) -> int:
    """A core ``QueryKind`` (or its lower-case name, or None for auto) -> the srv constant."""
    if kind is None or kind == "":
        return 0
    name = str(getattr(kind, "name", kind)).upper()
    if name not in QUERY_KINDS:
        raise ValueError(f"unknown query kind {kind!r}; expected one of {[k.lower() for k in QUERY_KINDS]}")
    return QUERY_KINDS.index(name)


def query_kind_from_ros(value: int) -> Any:
    """The srv constant -> core ``QueryKind``, or None for AUTO; ValueError for other values."""
    from embodied_stack.memory.results import QueryKind

    if not 0 <= int(value) < len(QUERY_KINDS):
        raise ValueError(f"unknown query kind {value}; expected 0..{len(QUERY_KINDS) - 1} (AUTO, EXPLICIT, IMPLICIT, GLOBAL, TEMPORAL)")
    return None if int(value) == 0 else QueryKind[QUERY_KINDS[int(value)]]


def memory_stats_to_ros(stats: Any, stamp_s: float, rejected: int = 0) -> Any:
    """The core ``MemoryStats`` (and this node's count of refused observations) -> message."""
    levels = stats.nodes_per_level
    return _new(
        f"{IFACE}/msg/MemoryStats",
        header=header_to_ros(MAP_FRAME, stamp_s),
        leaves=int(stats.leaves),
        nodes=int(stats.nodes),
        nodes_per_level=[int(levels.get(level, 0)) for level in range(1, max(levels, default=0) + 1)],
        levels=int(stats.levels),
        observations=int(stats.observations),
        categories=int(stats.categories),
        rooms=int(stats.rooms),
        rejected=int(rejected),
        embedder=str(stats.embedder),
        dim=int(stats.dim),
        index=str(stats.index),
        generation=int(stats.generation),
        store=str(stats.store or ""),
    )


def memory_stats_from_ros(msg: Any) -> tuple[Any, int]:
    """``(core MemoryStats, refused observations)``."""
    from embodied_stack.memory.results import MemoryStats

    stats = MemoryStats(
        leaves=int(msg.leaves), nodes=int(msg.nodes),
        nodes_per_level={level: int(n) for level, n in enumerate(msg.nodes_per_level, start=1)},
        levels=int(msg.levels), observations=int(msg.observations), categories=int(msg.categories),
        rooms=int(msg.rooms), embedder=str(msg.embedder), dim=int(msg.dim), index=str(msg.index),
        generation=int(msg.generation), store=str(msg.store) or None,
    )
    return stats, int(msg.rejected)


# -- planning ---------------------------------------------------------------------------------


def subgoal_to_ros(subgoal: Subgoal | None, stamp_s: float) -> Any:
    """A subgoal -> ``Subgoal``; None -> an empty-id subgoal meaning "nothing to execute"."""
    if subgoal is None:
        return _new(
            f"{IFACE}/msg/Subgoal", header=header_to_ros(MAP_FRAME, stamp_s),
            target_pose=pose_stamped_to_ros(Pose2D(0.0, 0.0), MAP_FRAME, stamp_s),
        )
    target = subgoal.target_pose
    return _new(
        f"{IFACE}/msg/Subgoal",
        header=header_to_ros(MAP_FRAME, stamp_s),
        id=subgoal.id,
        type=int(subgoal.type),
        label=subgoal.label,
        query=subgoal.query,
        category=subgoal.category,
        has_target_pose=target is not None,
        target_pose=pose_stamped_to_ros(target or Pose2D(0.0, 0.0), MAP_FRAME, stamp_s),
        answer=subgoal.answer,
        status=int(subgoal.status),
        hits=[hit_ref_to_ros(h, stamp_s) for h in subgoal.hits],
        candidate_index=int(subgoal.candidate_index),
        attempts=int(subgoal.attempts),
        message=subgoal.message,
    )


def subgoal_from_ros(msg: Any) -> Subgoal | None:
    """``Subgoal`` -> a subgoal, None for the empty-id "stop" message; ValueError on bad enums."""
    if not str(msg.id):
        return None
    return Subgoal(
        id=str(msg.id),
        type=SubgoalType(int(msg.type)),
        label=str(msg.label),
        query=str(msg.query),
        category=str(msg.category),
        target_pose=pose2d_from_ros(msg.target_pose.pose) if msg.has_target_pose else None,
        answer=str(msg.answer),
        status=SubgoalStatus(int(msg.status)),
        hits=[hit_ref_from_ros(h) for h in msg.hits],
        candidate_index=int(msg.candidate_index),
        attempts=int(msg.attempts),
        message=str(msg.message),
    )


def plan_to_ros(plan: Plan, stamp_s: float) -> Any:
    return _new(
        f"{IFACE}/msg/Plan",
        header=header_to_ros(MAP_FRAME, stamp_s),
        id=plan.id,
        instruction=plan.instruction,
        subgoals=[subgoal_to_ros(s, stamp_s) for s in plan.subgoals],
    )


def plan_from_ros(msg: Any) -> Plan:
    subgoals = [subgoal_from_ros(s) for s in msg.subgoals]
    return Plan(id=str(msg.id), instruction=str(msg.instruction), subgoals=[s for s in subgoals if s is not None])


def subgoal_feedback_to_ros(feedback: SubgoalFeedback) -> Any:
    return _new(
        f"{IFACE}/msg/SubgoalFeedback",
        header=header_to_ros(MAP_FRAME, feedback.timestamp),
        subgoal_id=feedback.subgoal_id,
        status=int(feedback.status),
        progress=float(feedback.progress),
        distance_remaining_m=float(feedback.distance_remaining_m),
        message=feedback.message,
    )


def subgoal_feedback_from_ros(msg: Any) -> SubgoalFeedback:
    """``SubgoalFeedback`` -> core feedback; ValueError on an unknown status."""
    return SubgoalFeedback(
        subgoal_id=str(msg.subgoal_id),
        status=FeedbackStatus(int(msg.status)),
        progress=float(msg.progress),
        distance_remaining_m=float(msg.distance_remaining_m),
        message=str(msg.message),
        timestamp=time_from_ros(msg.header.stamp),
    )


def planner_status_to_ros(status: PlannerStatus) -> Any:
    return _new(
        f"{IFACE}/msg/PlannerStatus",
        header=header_to_ros(MAP_FRAME, status.timestamp),
        plan_id=status.plan_id,
        state=int(status.state),
        active_subgoal_id=status.active_subgoal_id,
        message=status.message,
        replans=int(status.replans),
    )


def planner_status_from_ros(msg: Any) -> PlannerStatus:
    return PlannerStatus(
        plan_id=str(msg.plan_id),
        state=PlannerState(int(msg.state)),
        active_subgoal_id=str(msg.active_subgoal_id),
        message=str(msg.message),
        replans=int(msg.replans),
        timestamp=time_from_ros(msg.header.stamp),
    )


# -- policy -----------------------------------------------------------------------------------


def action_to_ros(action: Action, subgoal_id: str, stamp_s: float) -> Any:
    return _new(
        f"{IFACE}/msg/DiscreteAction",
        header=header_to_ros(MAP_FRAME, stamp_s),
        action=int(action),
        subgoal_id=str(subgoal_id),
    )


def action_from_ros(msg: Any) -> tuple[Action, str]:
    """``(action, subgoal id)``; ValueError for a value that is not an action."""
    try:
        return Action(int(msg.action)), str(msg.subgoal_id)
    except ValueError as err:
        raise ValueError(f"unknown action {msg.action}; expected 0..3 (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT)") from err


def exit_stats_to_ros(
    step: Any, stats: Any, thresholds: Any, trunk_flops_full: int, policy_ms: float, stamp_s: float
) -> Any:
    """One early-exit step (``ExitStep``), the running ``ExitStats``, the ``ExitThresholds`` in
    use and the full trunk's FLOPs -> ``ExitStats`` message."""
    summary = stats.summary()
    full = int(trunk_flops_full)
    return _new(
        f"{IFACE}/msg/ExitStats",
        header=header_to_ros(MAP_FRAME, stamp_s),
        exit_index=int(step.exit_index),
        num_exits=int(thresholds.num_exits),
        max_exit=int(thresholds.max_exit),
        trunk_flops=int(step.trunk_flops),
        trunk_flops_full=full,
        flops_saved_ratio=float(1.0 - step.trunk_flops / full) if full > 0 else 0.0,
        consistency_scores=[float(s) for s in step.scores],
        thresholds=[float(t) for t in thresholds.values],
        action=int(step.action),
        action_probs=[float(p) for p in np.asarray(step.probs).reshape(-1)],
        linear_mps=float(step.velocity[0]),
        angular_radps=float(step.velocity[1]),
        policy_ms=float(policy_ms),
        steps=int(summary["steps"]),
        trunk_flops_mean=float(summary["trunk_flops_mean"]),
        trunk_flops_peak=int(summary["trunk_flops_peak"]),
        exit_histogram=[int(n) for n in np.asarray(stats.counts).reshape(-1)],
        policy_ms_mean=float(summary["policy_ms_per_step"]),
    )
