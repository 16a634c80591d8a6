"""Discrete actions, what a navigation agent sees at one step, and the ``Agent`` protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, runtime_checkable

import numpy as np

from embodied_stack.types.geometry import Pose2D
from embodied_stack.types.sensing import Frame


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

