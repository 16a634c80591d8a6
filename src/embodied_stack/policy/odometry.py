"""The language-vision policy's state token: odometry and the previous action, no goal.

The point-goal policy's state token holds the target's distance and bearing; the language-vision
policy gets none of that (it must find the target by looking). What a robot always has is its
own odometry: :class:`OdometryTracker` encodes the displacement since the episode's start in the
start frame, the heading change, the steps taken and the previous action.
"""

from __future__ import annotations

import math

import numpy as np

from embodied_stack.policy.configuration_vla import NUM_ACTIONS, ODOMETRY_FEATURES
from embodied_stack.policy.inputs import NO_PREVIOUS_ACTION
from embodied_stack.types import Pose2D
from embodied_stack.types.geometry import wrap_angle

ODOMETRY_SCALE_M = 5.0
"""Displacements are divided by this and clipped to [-1, 1]."""
STEPS_SCALE = 100.0


def odometry_features(start: Pose2D, pose: Pose2D, steps: int, prev_action: int) -> np.ndarray:
    """(ODOMETRY_FEATURES,) float32: displacement in the start frame / 5 m (clipped), sin/cos of
    the heading change, steps / 100 (clipped to 1), a one-hot of the previous action
    (none, stop, forward, left, right)."""
    if not -1 <= prev_action < NUM_ACTIONS:
        raise ValueError(f"previous action must be -1 (none) or 0..{NUM_ACTIONS - 1}, got {prev_action}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    c, s = math.cos(start.yaw), math.sin(start.yaw)
    dx, dy = pose.x - start.x, pose.y - start.y
    out = np.zeros(ODOMETRY_FEATURES, dtype=np.float32)
    out[0] = np.clip((c * dx + s * dy) / ODOMETRY_SCALE_M, -1.0, 1.0)
    out[1] = np.clip((-s * dx + c * dy) / ODOMETRY_SCALE_M, -1.0, 1.0)
    turn = wrap_angle(pose.yaw - start.yaw)
    out[2], out[3] = math.sin(turn), math.cos(turn)
    out[4] = min(steps / STEPS_SCALE, 1.0)
    out[5 + prev_action + 1] = 1.0
    return out


class OdometryTracker:
    """Per-episode odometry state: :meth:`reset`, then :meth:`features` and :meth:`record_action`
    every step (the same interface as :class:`~embodied_stack.policy.waypoints.GoalTracker`)."""

    def __init__(self) -> None:
        self.start: Pose2D | None = None
        self.steps = 0
        self.prev_action = NO_PREVIOUS_ACTION

    def reset(self, goal_xy: np.ndarray | None = None) -> None:  # noqa: ARG002 - no goal is used
        self.start = None
        self.steps = 0
        self.prev_action = NO_PREVIOUS_ACTION

    def features(self, inp) -> np.ndarray:  # noqa: ANN001 - an AgentInput; reads only the pose
        if self.start is None:
            self.start = inp.pose
        return odometry_features(self.start, inp.pose, self.steps, self.prev_action)

    def record_action(self, action: int) -> None:
        self.prev_action = int(action)
        self.steps += 1
