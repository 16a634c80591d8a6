"""Build ROS 2 message objects (``rosbags`` types) from numpy data, for writing bags.

Every builder takes a ``rosbags`` typestore (Humble definitions by default: the wire format of
these messages is the same in Humble and Jazzy) and returns the message object; the writer
serialises it. Poses are 4x4 homogeneous matrices (metres); quaternions are written in ROS
xyzw order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from embodied_stack.bags.images import CompressedFields, ImageFields
from embodied_stack.bags.tf import matrix_to_quaternion
from embodied_stack.types import CameraIntrinsics

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
ODOMETRY = "nav_msgs/msg/Odometry"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"
CLOCK = "rosgraph_msgs/msg/Clock"
STRING = "std_msgs/msg/String"
INSTANCE_INFO_ARRAY = "embodied_stack_interfaces/msg/InstanceInfoArray"

# The simulator bridge's instance table (ros_ws/src/embodied_stack_interfaces), so that a bag
# recorded from sim.launch.py reads even where the bag carries no message definitions.
INTERFACE_DEFINITIONS: dict[str, str] = {
    "embodied_stack_interfaces/msg/InstanceInfo": "int32 instance_id\nstring object_id\nstring category\nstring room",
    INSTANCE_INFO_ARRAY: "std_msgs/Header header\nembodied_stack_interfaces/InstanceInfo[] instances",
}

# Marker colours per forest level (RGBA): leaves, then coarser clusters.
LEVEL_COLORS: tuple[tuple[float, float, float, float], ...] = (
    (0.12, 0.47, 0.71, 0.9),
    (1.00, 0.50, 0.05, 0.8),
    (0.17, 0.63, 0.17, 0.7),
    (0.84, 0.15, 0.16, 0.6),
    (0.58, 0.40, 0.74, 0.5),
)


class MarkerNode(Protocol):
    """What a memory node must expose to be drawn: id, forest level (0 = leaf), name, position.

    :class:`embodied_stack.memory.results.NodeView` (``SemanticMemory.iter_leaves`` and
    ``iter_nodes``) has these fields.
    """

    @property
    def node_id(self) -> str: ...

    @property
    def level(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def position(self) -> Sequence[float] | np.ndarray: ...


@dataclass(frozen=True)
class SimpleMarkerNode:
    """A plain :class:`MarkerNode` (``position`` in metres in the marker frame)."""

    node_id: str
    level: int
    name: str
    position: tuple[float, float, float]


def time_msg(store: Any, stamp_s: float) -> Any:
    """``builtin_interfaces/Time`` from seconds (>= 0), rounded to the nanosecond."""
    if not (math.isfinite(stamp_s) and stamp_s >= 0.0):
        raise ValueError(f"stamp must be finite seconds >= 0, got {stamp_s!r}")
    ns = int(round(stamp_s * 1e9))
    return store.types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def header_msg(store: Any, stamp_s: float, frame_id: str) -> Any:
    return store.types["std_msgs/msg/Header"](stamp=time_msg(store, stamp_s), frame_id=frame_id)


def image_msg(store: Any, fields: ImageFields, stamp_s: float, frame_id: str) -> Any:
    return store.types[IMAGE](
        header=header_msg(store, stamp_s, frame_id),
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
        data=np.ascontiguousarray(fields.data, dtype=np.uint8),
    )


def compressed_image_msg(store: Any, fields: CompressedFields, stamp_s: float, frame_id: str) -> Any:
    return store.types[COMPRESSED_IMAGE](
        header=header_msg(store, stamp_s, frame_id),
        format=fields.format,
        data=np.ascontiguousarray(fields.data, dtype=np.uint8),
    )


def camera_info_msg(store: Any, intr: CameraIntrinsics, stamp_s: float, frame_id: str) -> Any:
    """An undistorted pinhole ``sensor_msgs/CameraInfo`` (plumb_bob with zero coefficients)."""
    k = np.array([intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0])
    p = np.array([intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return store.types[CAMERA_INFO](
        header=header_msg(store, stamp_s, frame_id),
        height=intr.height,
        width=intr.width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k,
        r=np.eye(3).reshape(-1),
        p=p,
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def _pose_parts(store: Any, matrix: np.ndarray) -> tuple[np.ndarray, Any]:
    mat = np.asarray(matrix, dtype=np.float64)
    if mat.shape != (4, 4) or not np.all(np.isfinite(mat)):
        raise ValueError(f"expected a finite 4x4 transform, got shape {mat.shape}")
    q = matrix_to_quaternion(mat[:3, :3])
    quat = store.types["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])
    return mat[:3, 3], quat


def tf_message(store: Any, transforms: Iterable[tuple[str, str, np.ndarray]], stamp_s: float) -> Any:
    """``tf2_msgs/TFMessage`` from ``(parent, child, T_parent_child)`` triples, all at ``stamp_s``."""
    stamped = []
    for parent, child, matrix in transforms:
        trans, quat = _pose_parts(store, matrix)
        stamped.append(
            store.types["geometry_msgs/msg/TransformStamped"](
                header=header_msg(store, stamp_s, parent),
                child_frame_id=child,
                transform=store.types["geometry_msgs/msg/Transform"](
                    translation=store.types["geometry_msgs/msg/Vector3"](x=trans[0], y=trans[1], z=trans[2]),
                    rotation=quat,
                ),
            )
        )
    return store.types[TF_MESSAGE](transforms=stamped)


def odometry_msg(
    store: Any,
    pose: np.ndarray,
    stamp_s: float,
    frame_id: str,
    child_frame_id: str,
    linear_mps: Sequence[float] = (0.0, 0.0, 0.0),
    angular_radps: Sequence[float] = (0.0, 0.0, 0.0),
) -> Any:
    """``nav_msgs/Odometry``: ``pose`` is ``T_frame_child``; the twist is in ``child_frame_id``."""
    trans, quat = _pose_parts(store, pose)
    t = store.types
    vec = t["geometry_msgs/msg/Vector3"]
    return t[ODOMETRY](
        header=header_msg(store, stamp_s, frame_id),
        child_frame_id=child_frame_id,
        pose=t["geometry_msgs/msg/PoseWithCovariance"](
            pose=t["geometry_msgs/msg/Pose"](
                position=t["geometry_msgs/msg/Point"](x=trans[0], y=trans[1], z=trans[2]), orientation=quat
            ),
            covariance=np.zeros(36),
        ),
        twist=t["geometry_msgs/msg/TwistWithCovariance"](
            twist=t["geometry_msgs/msg/Twist"](linear=vec(*map(float, linear_mps)), angular=vec(*map(float, angular_radps))),
            covariance=np.zeros(36),
        ),
    )


def _marker(store: Any, header: Any, ns: str, marker_id: int, kind: int, position: np.ndarray, scale: float,
            color: tuple[float, float, float, float], text: str = "", action: int = 0) -> Any:
    t = store.types
    return t["visualization_msgs/msg/Marker"](
        header=header,
        ns=ns,
        id=marker_id,
        type=kind,
        action=action,
        pose=t["geometry_msgs/msg/Pose"](
            position=t["geometry_msgs/msg/Point"](x=position[0], y=position[1], z=position[2]),
            orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        ),
        scale=t["geometry_msgs/msg/Vector3"](x=scale, y=scale, z=scale),
        color=t["std_msgs/msg/ColorRGBA"](r=color[0], g=color[1], b=color[2], a=color[3]),
        lifetime=t["builtin_interfaces/msg/Duration"](sec=0, nanosec=0),
        frame_locked=False,
        points=[],
        colors=[],
        texture_resource="",
        texture=t[COMPRESSED_IMAGE](header=header, format="", data=np.zeros(0, dtype=np.uint8)),
        uv_coordinates=[],
        text=text,
        mesh_resource="",
        mesh_file=t["visualization_msgs/msg/MeshFile"](filename="", data=np.zeros(0, dtype=np.uint8)),
        mesh_use_embedded_materials=False,
    )


def marker_array_msg(store: Any, nodes: Iterable[MarkerNode], stamp_s: float, frame_id: str) -> Any:
    """``visualization_msgs/MarkerArray`` drawing memory nodes: a sphere and a text label each.

    The array starts with a DELETEALL marker, so each message replaces the previous drawing.
    Namespace ``memory/level_<L>``; sphere id ``2k``, label id ``2k + 1`` for the k-th node;
    spheres grow with the level (0.15 m for leaves).
    """
    header = header_msg(store, stamp_s, frame_id)
    marker_type = store.types["visualization_msgs/msg/Marker"]
    origin = np.zeros(3)
    markers = [_marker(store, header, "", 0, marker_type.SPHERE, origin, 1.0, (0.0, 0.0, 0.0, 0.0),
                       action=marker_type.DELETEALL)]
    for k, node in enumerate(nodes):
        level = int(node.level)
        position = np.asarray(node.position, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(position)):
            raise ValueError(f"memory node {node.node_id!r} has a non-finite position {position.tolist()}")
        color = LEVEL_COLORS[min(max(level, 0), len(LEVEL_COLORS) - 1)]
        ns = f"memory/level_{level}"
        size = 0.15 * (1.0 + level)
        markers.append(_marker(store, header, ns, 2 * k, marker_type.SPHERE, position, size, color))
        label = position + np.array([0.0, 0.0, size / 2.0 + 0.1])
        markers.append(_marker(store, header, ns, 2 * k + 1, marker_type.TEXT_VIEW_FACING, label, 0.12,
                               (1.0, 1.0, 1.0, 1.0), text=str(node.name or node.node_id)))
    return store.types[MARKER_ARRAY](markers=markers)


def clock_msg(store: Any, stamp_s: float) -> Any:
    return store.types[CLOCK](clock=time_msg(store, stamp_s))
