"""The policy node's logic without ROS: execute one subgoal step by step and say how it went.

A NAVIGATE_TO subgoal is driven by the policy: each step the node asks the policy for an action
and :meth:`SubgoalDriver.step` decides what to report. STOP within ``reach_distance_m`` of the
target pose is REACHED, STOP farther away is FAILED, ``blocked_after_steps`` MOVE_FORWARD
steps in a row that do not move the robot are BLOCKED, ``max_steps`` without a STOP are FAILED
(the rules of :func:`embodied_stack.planning.runner.run_task`). EXPLORE and SEARCH subgoals
turn in place for ``explore_turn_steps`` steps, so that the sensing node sees around and the
memory learns more, then report REACHED; the planner then asks the memory again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from embodied_stack.planning.types import FeedbackStatus, Subgoal, SubgoalFeedback, SubgoalType
from embodied_stack.types import Action, Pose2D


@dataclass(frozen=True)
class DriverConfig:
    """Step rules (the policy node's parameters of the same names)."""

    reach_distance_m: float = 1.0
    """A STOP within this distance of the target pose (m) reports REACHED; farther, FAILED."""
    max_steps_per_subgoal: int = 500
    """Steps of one subgoal before it is reported FAILED."""
    blocked_after_steps: int = 25
    """MOVE_FORWARD steps in a row that move the robot less than min_move_m report BLOCKED."""
    min_move_m: float = 0.02
    """Less motion than this (m) over a forward step counts as not moving."""
    explore_turn_steps: int = 12
    """EXPLORE and SEARCH subgoals turn left in place this many steps (12 x 30 degrees = one full
    turn), then report REACHED."""
    progress_every: int = 4
    """Steps between two PROGRESS reports."""

    def __post_init__(self) -> None:
        if not self.reach_distance_m > 0.0:
            raise ValueError(f"reach_distance_m must be > 0, got {self.reach_distance_m}")
        if self.max_steps_per_subgoal < 1 or self.blocked_after_steps < 1 or self.progress_every < 1:
            raise ValueError("max_steps_per_subgoal, blocked_after_steps and progress_every must be >= 1")
        if self.explore_turn_steps < 0:
            raise ValueError(f"explore_turn_steps must be >= 0, got {self.explore_turn_steps}")
        if not self.min_move_m >= 0.0:
            raise ValueError(f"min_move_m must be >= 0, got {self.min_move_m}")


class SubgoalDriver:
    """Tracks the active subgoal: which steps need the policy, what to execute, what to report."""

    def __init__(self, config: DriverConfig | None = None, clock: Callable[[], float] = lambda: 0.0) -> None:
        self.config = config or DriverConfig()
        self.clock = clock
        self.active: Subgoal | None = None
        self._key: tuple[str, int] | None = None
        self._steps = 0
        self._stuck = 0
        self._turns = 0
        self._initial_m = 1.0
        self._last_pose: Pose2D | None = None
        self._last_action: Action | None = None

    def start(self, subgoal: Subgoal | None, pose: Pose2D | None) -> bool:
        """Take ``subgoal`` (None: stop). Returns True when it is a new one (a new id or attempt),
        False when it is the one already active (a latched re-delivery)."""
        key = (subgoal.id, subgoal.attempts) if subgoal is not None else None
        if key == self._key:
            return False
        self._key = key
        self.active = subgoal
        self._steps = self._stuck = self._turns = 0
        self._last_pose, self._last_action = pose, None
        goal = self.goal_xy
        if goal is not None and pose is not None:
            self._initial_m = max(math.hypot(goal[0] - pose.x, goal[1] - pose.y), 1e-6)
        return True

    @property
    def goal_xy(self) -> tuple[float, float] | None:
        """The target position (map) when the active subgoal is navigation to a pose."""
        subgoal = self.active
        if subgoal is None or subgoal.target_pose is None or subgoal.type != SubgoalType.NAVIGATE_TO:
            return None
        return subgoal.target_pose.x, subgoal.target_pose.y

    @property
    def needs_policy(self) -> bool:
        """Whether the next step is the policy's to decide."""
        return self.goal_xy is not None

    def step(self, pose: Pose2D, policy_action: Action | None) -> tuple[Action | None, SubgoalFeedback | None]:
        """One control step at ``pose``: the action to execute (None: nothing is active) and a
        report (PROGRESS now and then, or the final one, after which nothing is active).

        ``policy_action`` is required when :attr:`needs_policy` is true and ignored otherwise.
        """
        subgoal = self.active
        if subgoal is None:
            return None, None
        self._track_motion(pose)
        self._steps += 1
        goal = self.goal_xy
        if goal is None:
            if subgoal.type == SubgoalType.ANSWER:
                return Action.STOP, self._finish(FeedbackStatus.REACHED, "nothing to drive to", 0.0)
            if self._turns < self.config.explore_turn_steps:
                self._turns += 1
                return self._act(Action.TURN_LEFT, pose), None
            return Action.STOP, self._finish(FeedbackStatus.REACHED, f"looked around ({self._turns} turns)", math.nan)
        if policy_action is None:
            raise ValueError(f"subgoal {subgoal.id!r} navigates to a pose: the step needs the policy's action")
        distance = math.hypot(goal[0] - pose.x, goal[1] - pose.y)
        if policy_action == Action.STOP:
            reached = distance <= self.config.reach_distance_m
            status = FeedbackStatus.REACHED if reached else FeedbackStatus.FAILED
            return Action.STOP, self._finish(status, f"stopped {distance:.2f} m from the target", distance)
        if self._stuck >= self.config.blocked_after_steps:
            return Action.STOP, self._finish(FeedbackStatus.BLOCKED, f"{self._stuck} forward steps without moving",
                                             distance)
        if self._steps >= self.config.max_steps_per_subgoal:
            return Action.STOP, self._finish(
                FeedbackStatus.FAILED, f"no STOP within {self.config.max_steps_per_subgoal} steps", distance)
        progress = None
        if self._steps % self.config.progress_every == 0:
            progress = self._feedback(FeedbackStatus.PROGRESS, f"step {self._steps}", distance)
        return self._act(policy_action, pose), progress

    def _track_motion(self, pose: Pose2D) -> None:
        if self._last_action == Action.MOVE_FORWARD and self._last_pose is not None:
            moved = math.hypot(pose.x - self._last_pose.x, pose.y - self._last_pose.y)
            self._stuck = self._stuck + 1 if moved < self.config.min_move_m else 0
        elif self._last_action is not None:
            self._stuck = 0

    def _act(self, action: Action, pose: Pose2D) -> Action:
        self._last_action, self._last_pose = action, pose
        return action

    def _feedback(self, status: FeedbackStatus, message: str, distance: float) -> SubgoalFeedback:
        subgoal_id = self.active.id if self.active is not None else ""
        if status == FeedbackStatus.REACHED:
            progress = 1.0
        elif math.isfinite(distance):
            progress = max(0.0, min(1.0, 1.0 - distance / self._initial_m))
        else:
            progress = 0.0
        return SubgoalFeedback(subgoal_id, status, progress, distance, message, self.clock())

    def _finish(self, status: FeedbackStatus, message: str, distance: float) -> SubgoalFeedback:
        feedback = self._feedback(status, message, distance)
        self.active = None
        return feedback
