"""sensor_msgs/CameraInfo -> pinhole intrinsics, and intrinsics at another image resolution."""

from __future__ import annotations

from typing import Any

import numpy as np

from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.types import CameraIntrinsics


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """Pinhole intrinsics from ``sensor_msgs/CameraInfo`` (ROS 2 ``k`` or ROS 1 ``K``).

    Distortion (``d``) is not applied: the images are used as recorded.

    Raises:
        MalformedMessageError: zero size, K not 9 finite numbers, or non-positive focal lengths
            (an uncalibrated camera publishes K = 0).
    """
    k = np.asarray(msg.k if hasattr(msg, "k") else msg.K, dtype=np.float64).reshape(-1)
    width, height = int(msg.width), int(msg.height)
    if k.size != 9 or not np.all(np.isfinite(k)):
        raise MalformedMessageError(f"CameraInfo K must be 9 finite numbers, got {k.tolist()}")
    if not (k[0] > 0.0 and k[4] > 0.0):
        raise MalformedMessageError(
            f"CameraInfo K has focal lengths fx={k[0]}, fy={k[4]}; expected > 0 (uncalibrated camera?)"
        )
    if width <= 0 or height <= 0:
        raise MalformedMessageError(f"CameraInfo has zero size ({width}x{height})")
    return CameraIntrinsics(width, height, float(k[0]), float(k[4]), float(k[2]), float(k[5]))


def scale_intrinsics(intr: CameraIntrinsics, width: int, height: int) -> CameraIntrinsics:
    """Intrinsics for the same camera at another resolution (same aspect ratio within 1 %).

    Raises:
        MalformedMessageError: the aspect ratios differ.
    """
    if (width, height) == (intr.width, intr.height):
        return intr
    sx, sy = width / intr.width, height / intr.height
    if abs(sx - sy) > 0.01 * max(sx, sy):
        raise MalformedMessageError(
            f"image is {width}x{height} but CameraInfo is {intr.width}x{intr.height} with another aspect ratio"
        )
    return CameraIntrinsics(
        width, height, intr.fx * sx, intr.fy * sy, (intr.cx + 0.5) * sx - 0.5, (intr.cy + 0.5) * sy - 0.5
    )
