"""The ground floor: value types every part of the stack exchanges.

Poses and intrinsics (:mod:`.geometry`), sensor frames and instance info (:mod:`.sensing`),
discrete actions and the ``Agent`` protocol (:mod:`.actions`), object observations and their
JSONL format (:mod:`.observations`). Nothing here imports any other part of embodied_stack
except the root error classes.
"""

from __future__ import annotations

from embodied_stack.types.actions import Action, Agent, AgentInput
from embodied_stack.types.geometry import CameraIntrinsics, Pose2D, wrap_angle
from embodied_stack.types.observations import (
    InvalidObservationError,
    Observation,
    read_observations_jsonl,
    write_observations_jsonl,
)
from embodied_stack.types.sensing import Frame, InstanceInfo, StepResult

__all__ = [
    "Action",
    "Agent",
    "AgentInput",
    "CameraIntrinsics",
    "Frame",
    "InstanceInfo",
    "InvalidObservationError",
    "Observation",
    "Pose2D",
    "StepResult",
    "read_observations_jsonl",
    "write_observations_jsonl",
    "wrap_angle",
]
