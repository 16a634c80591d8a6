"""The ``Env`` interface every simulator backend implements, and the data it exchanges.

Conventions (FORMATS.md): metres, radians, z up, world frame ``map``; yaw counter-clockwise
about +z, 0 = facing +x. Camera poses are ``T_map_camera`` 4x4 matrices of the camera *optical*
frame (REP-103 optical convention: +z forward, +x right, +y down), so a pixel (u, v) with depth
d back-projects to ``T_map_camera @ [(u - cx) d / fx, (v - cy) d / fy, d, 1]``.
Depth is planar z-depth in metres (distance along the optical axis, not along the ray), 0 where
nothing was hit within range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol, runtime_checkable

import numpy as np


class Action(IntEnum):
    """Discrete actions as Habitat defines them (FORMATS.md)."""

    STOP = 0
    MOVE_FORWARD = 1
    TURN_LEFT = 2
    TURN_RIGHT = 3

    @property
    def wire_name(self) -> str:
        """The lower-case name used in files and ROS messages (``move_forward``)."""
        return self.name.lower()

    @classmethod
    def from_name(cls, name: str) -> Action:
        try:
            return cls[name.strip().upper()]
        except KeyError as err:
            names = ", ".join(a.wire_name for a in cls)
            raise ValueError(f"unknown action {name!r}; expected one of {names}") from err


@dataclass(frozen=True)
class Pose2D:
    """Planar robot pose in ``map``: position in metres, yaw in radians (CCW from +x)."""

    x: float
    y: float
    yaw: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.x) and math.isfinite(self.y) and math.isfinite(self.yaw)):
            raise ValueError(f"pose must be finite, got ({self.x}, {self.y}, {self.yaw})")

    @property
    def xy(self) -> np.ndarray:
        return np.array([self.x, self.y], dtype=np.float64)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (no distortion)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_rad: float) -> CameraIntrinsics:
        """Square pixels, principal point at the image centre (Habitat's pinhole model)."""
        if not 0.0 < hfov_rad < math.pi:
            raise ValueError(f"hfov must be in (0, pi) rad, got {hfov_rad}")
        f = (width / 2.0) / math.tan(hfov_rad / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    def matrix(self) -> np.ndarray:
        """The 3x3 K matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


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


@dataclass(frozen=True)
class AgentInput:
    """What a navigation agent sees at one step.

    ``goal_xy`` is the target position in ``map`` (as the memory returns it: a reachable standoff
    point near the thing); the agent gets it relative to itself through :meth:`goal_vector`, the
    way a robot gets it from odometry.
    """

    frame: Frame
    pose: Pose2D
    goal_xy: np.ndarray
    instruction: str = ""
    step_index: int = 0

    def goal_vector(self) -> tuple[float, float]:
        """(distance_m, bearing_rad) from the agent to the goal; bearing CCW from the agent's heading."""
        dx = float(self.goal_xy[0]) - self.pose.x
        dy = float(self.goal_xy[1]) - self.pose.y
        bearing = math.atan2(dy, dx) - self.pose.yaw
        bearing = (bearing + math.pi) % (2.0 * math.pi) - math.pi
        return math.hypot(dx, dy), bearing


@runtime_checkable
class Agent(Protocol):
    """A navigation agent: the oracle, a random walker, the VLA policy, its ONNX runtime."""

    def reset(self, instruction: str, goal_xy: np.ndarray) -> None:
        """Start a new episode."""
        ...

    def act(self, inp: AgentInput) -> Action:
        """Choose the next discrete action."""
        ...
