"""The ``Env`` interface every simulator backend implements, and the data it exchanges.

Conventions (FORMATS.md): metres, radians, z up, world frame ``map``; yaw counter-clockwise
about +z, 0 = facing +x. Camera poses are ``T_map_camera`` 4x4 matrices of the camera *optical*
frame (REP-103 optical convention: +z forward, +x right, +y down), so a pixel (u, v) with depth
d back-projects to ``T_map_camera @ [(u - cx) d / fx, (v - cy) d / fy, d, 1]``.
Depth is planar z-depth in metres (distance along the optical axis, not along the ray), 0 where
nothing was hit within range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embodied_stack.types.geometry import CameraIntrinsics, Pose2D


@dataclass
class Frame:
    """One synchronised sensor reading.

    ``rgb`` HxWx3 uint8; ``depth`` HxW float32 planar z-depth in metres (0 = no hit);
    ``instance`` HxW int32 instance ids (-1 = background/structure); ``semantic`` HxW int32
    indices into the env's category table (-1 = none); ``camera_pose`` 4x4 ``T_map_camera``
    of the optical frame; ``timestamp`` seconds of simulated time.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    camera_pose: np.ndarray
    agent_pose: Pose2D
    timestamp: float = 0.0
    instance: np.ndarray | None = None
    semantic: np.ndarray | None = None


@dataclass(frozen=True)
class InstanceInfo:
    """What an instance id stands for: the scene object it renders."""

    instance_id: int
    object_id: str
    category: str
    room: str | None = None


@dataclass
class StepResult:
    """What a step returns: the new frame and whether the move was blocked."""

    frame: Frame
    collided: bool = False
    done: bool = False
    info: dict[str, float] = field(default_factory=dict)
