"""The ``Env`` interface every simulator backend implements.

The data it exchanges are the ground-floor value types of :mod:`embodied_stack.types`, re-exported
here so ``from embodied_stack.sim.env import Pose2D`` keeps working.

Conventions (FORMATS.md): metres, radians, z up, world frame ``map``; yaw counter-clockwise
about +z, 0 = facing +x. Camera poses are ``T_map_camera`` 4x4 matrices of the camera *optical*
frame (REP-103 optical convention: +z forward, +x right, +y down), so a pixel (u, v) with depth
d back-projects to ``T_map_camera @ [(u - cx) d / fx, (v - cy) d / fy, d, 1]``.
Depth is planar z-depth in metres (distance along the optical axis, not along the ray), 0 where
nothing was hit within range.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from embodied_stack.types import (
    Action,
    Agent,
    AgentInput,
    CameraIntrinsics,
    Frame,
    InstanceInfo,
    Pose2D,
    StepResult,
)

__all__ = [
    "Action",
    "Agent",
    "AgentInput",
    "CameraIntrinsics",
    "Env",
    "Frame",
    "InstanceInfo",
    "Pose2D",
    "StepResult",
]


@runtime_checkable
class Env(Protocol):
    """A simulator the stack can drive. Implemented by the embedded simulator and Habitat."""

    @property
    def intrinsics(self) -> CameraIntrinsics: ...

    @property
    def agent_pose(self) -> Pose2D: ...

    @property
    def categories(self) -> list[str]:
        """The category table that ``Frame.semantic`` indexes."""
        ...

    @property
    def instances(self) -> dict[int, InstanceInfo]:
        """Instance id -> the object it renders."""
        ...

    def reset(self, start: Pose2D | None = None) -> Frame:
        """Place the agent (at ``start`` or a default navigable pose) and render."""
        ...

    def step(self, action: Action) -> StepResult:
        """Apply one discrete action (Habitat step sizes) and render."""
        ...

    def step_velocity(self, v_mps: float, omega_radps: float, dt_s: float) -> StepResult:
        """Integrate a velocity command over ``dt_s`` (with collisions) and render."""
        ...

    def render(self) -> Frame:
        """Render the current pose without moving."""
        ...

    def geodesic_distance(self, start_xy: np.ndarray, goal_xy: np.ndarray) -> float:
        """Navigable shortest-path length in metres (``inf`` when unreachable)."""
        ...

    def close(self) -> None: ...
