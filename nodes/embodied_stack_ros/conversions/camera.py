"""Images and camera info: colour, depth and instance-id images, pinhole intrinsics, and the
simulator's instance table (what each instance id stands for)."""

from __future__ import annotations

import array
import math
from typing import Any

import numpy as np

from embodied_stack.bags import images
from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.types import CameraIntrinsics, InstanceInfo
from embodied_stack.types.observations import MAP_FRAME
from embodied_stack_ros.conversions.base import IFACE, header_to_ros
from embodied_stack_ros.conversions.base import new_message as _new

__all__ = [
    "camera_info_from_ros", "camera_info_to_ros", "depth_from_ros", "image_to_ros", "instance_image_from_ros",
    "instances_from_ros", "instances_to_ros", "rgb_from_ros",
]

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


def instances_to_ros(instances: dict[int, InstanceInfo], stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    items = [
        _new(f"{IFACE}/msg/InstanceInfo", instance_id=int(i.instance_id), object_id=str(i.object_id),
             category=str(i.category), room=i.room or "")
        for i in sorted(instances.values(), key=lambda info: info.instance_id)
    ]
    return _new(f"{IFACE}/msg/InstanceInfoArray", header=header_to_ros(frame_id, stamp_s), instances=items)


def instances_from_ros(msg: Any) -> dict[int, InstanceInfo]:
    return {
        int(i.instance_id): InstanceInfo(int(i.instance_id), str(i.object_id), str(i.category), str(i.room) or None)
        for i in msg.instances
    }

