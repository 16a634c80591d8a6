"""The planner node's logic without ROS: run one task through the core planner, with the policy
reached through callbacks (publish a subgoal, wait for its feedback) and the memory through a
query callback. The node supplies those callbacks over topics and a service; tests supply
plain functions.

The loop is :func:`embodied_stack.planning.runner.run_task` with the simulator replaced by
messages: a subgoal is published, the policy reports PROGRESS and then one final status
(REACHED, FAILED or BLOCKED), the planner consumes it and hands out the next subgoal or a
retry (the next memory candidate, exploration). Silence longer than ``subgoal_timeout_s``
counts as FAILED; a cancel request skips what is left and stops the policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embodied_stack.errors import EmbodiedStackError
from embodied_stack.planning.planner import Planner
from embodied_stack.planning.types import (
    FeedbackStatus,
    Plan,
    PlannerState,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalStatus,
    SubgoalType,
)
from embodied_stack.types import Pose2D
from embodied_stack_ros import conversions
from embodied_stack_ros.errors import ServiceCallError

logger = logging.getLogger(__name__)

POLL_S = 0.2


@dataclass
class QueryAnswer:
    """What :class:`ServiceMemory` returns: the shape the planner reads from a memory."""

    answer: str
    hits: list[Any]


class ServiceMemory:
    """The planner's memory, reached through a QueryMemory service.

    Args:
        call: sends a filled ``QueryMemory.Request`` and returns the response, or raises
            :class:`ServiceCallError` (no server, timeout).
        new_request: makes an empty ``QueryMemory.Request``.
        map_frame: frame of the robot pose sent along.
        clock: seconds, for the robot pose stamp.
    """

    def __init__(self, call: Callable[[Any], Any], new_request: Callable[[], Any], map_frame: str = "map",
                 clock: Callable[[], float] = time.time) -> None:
        self._call = call
        self._new_request = new_request
        self._map_frame = map_frame
        self._clock = clock

    def query(self, text: str, kind: Any = None, k: int = 5, robot_pose: Pose2D | None = None) -> QueryAnswer:
        request = self._new_request()
        request.query = str(text)
        request.kind = conversions.query_kind_to_ros(kind)
        request.k = int(k)
        request.has_robot_pose = robot_pose is not None
        if robot_pose is not None:
            request.robot_pose = conversions.pose_stamped_to_ros(robot_pose, self._map_frame, self._clock())
        response = self._call(request)
        if not response.success:
            raise ServiceCallError(f"memory query {text!r} failed: {response.error_message}")
        return QueryAnswer(str(response.answer), [conversions.hit_ref_from_ros(h) for h in response.hits])


@dataclass
class TaskOutcome:
    """The ExecuteTask result: success, a summary in words, the final plan and status."""

    success: bool
    summary: str
    plan: Plan | None
    status: PlannerStatus


@dataclass
class ExecutionHooks:
    """How the execution talks to the world (the node's publishers, or test doubles).

    ``wait_feedback(subgoal_id, timeout_s)`` returns the next report for that subgoal or None
    after ``timeout_s``; ``report(status, subgoal, index, count, feedback)`` is the action
    feedback; ``is_canceled()`` says whether the client asked to cancel.
    """

    publish_plan: Callable[[Plan], None]
    publish_subgoal: Callable[[Subgoal | None], None]
    publish_status: Callable[[PlannerStatus], None]
    wait_feedback: Callable[[str, float], SubgoalFeedback | None]
    report: Callable[[PlannerStatus, Subgoal | None, int, int, SubgoalFeedback | None], None]
    is_canceled: Callable[[], bool]
    verify: Callable[[Subgoal], str | None] = lambda _subgoal: None
    """After a REACHED navigation: None when its goal holds, else why not (the subgoal then fails)."""


class TaskExecution:
    """Runs instructions to completion through a :class:`Planner` and :class:`ExecutionHooks`."""

    def __init__(self, planner: Planner, hooks: ExecutionHooks, subgoal_timeout_s: float = 180.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.planner = planner
        self.hooks = hooks
        self.subgoal_timeout_s = subgoal_timeout_s
        self.clock = clock

    def run(self, instruction: str, robot_pose: Pose2D | None = None) -> TaskOutcome:
        """Plan ``instruction`` and execute it; never raises on bad input or a failing memory."""
        if not instruction.strip():
            return self._failed(None, "empty instruction: say what to do, e.g. 'go to the fridge'")
        try:
            plan = self.planner.plan(instruction, robot_pose)
        except (EmbodiedStackError, ValueError) as err:
            return self._failed(None, f"planning failed: {err}")
        self.hooks.publish_plan(plan)
        self.hooks.publish_status(self.planner.status)
        while True:
            if self.hooks.is_canceled():
                return self._cancel(plan)
            try:
                subgoal = self.planner.next_subgoal()
            except (EmbodiedStackError, ValueError) as err:
                return self._failed(plan, f"replanning failed: {err}")
            self.hooks.publish_plan(plan)
            self.hooks.publish_status(self.planner.status)
            if subgoal is None:
                break
            index = plan.subgoals.index(subgoal) + 1
            self.hooks.publish_subgoal(subgoal)
            self.hooks.report(self.planner.status, subgoal, index, len(plan.subgoals), None)
            feedback = self._await_final(subgoal, index, len(plan.subgoals))
            if feedback is None:
                return self._cancel(plan)
            feedback = self._checked(subgoal, feedback)
            try:
                self.planner.on_feedback(feedback)
            except (EmbodiedStackError, ValueError) as err:
                return self._failed(plan, f"replanning failed: {err}")
            self.hooks.publish_status(self.planner.status)
            self.hooks.report(self.planner.status, subgoal, index, len(plan.subgoals), feedback)
        self.hooks.publish_subgoal(None)
        status = self.planner.status
        return TaskOutcome(status.state == PlannerState.SUCCEEDED, _summary(plan, status), plan, status)

    def _checked(self, subgoal: Subgoal, feedback: SubgoalFeedback) -> SubgoalFeedback:
        """A REACHED navigation whose goal does not hold becomes FAILED, with the reason."""
        if feedback.status != FeedbackStatus.REACHED or subgoal.type != SubgoalType.NAVIGATE_TO:
            return feedback
        reason = self.hooks.verify(subgoal)
        if reason is None:
            return feedback
        logger.warning("subgoal %s reached its target pose, but %s", subgoal.id, reason)
        return SubgoalFeedback(subgoal.id, FeedbackStatus.FAILED, feedback.progress, feedback.distance_remaining_m,
                               f"reached the target pose, but {reason}", feedback.timestamp)

    def _await_final(self, subgoal: Subgoal, index: int, count: int) -> SubgoalFeedback | None:
        """The policy's final report on ``subgoal`` (FAILED after a silent timeout); None on cancel."""
        deadline = self.clock() + self.subgoal_timeout_s
        while True:
            if self.hooks.is_canceled():
                return None
            remaining = deadline - self.clock()
            if remaining <= 0.0:
                return SubgoalFeedback(
                    subgoal.id, FeedbackStatus.FAILED,
                    message=f"no final report from the policy within {self.subgoal_timeout_s:g} s",
                )
            feedback = self.hooks.wait_feedback(subgoal.id, min(POLL_S, remaining))
            if feedback is None:
                continue
            if feedback.status != FeedbackStatus.PROGRESS:
                return feedback
            deadline = self.clock() + self.subgoal_timeout_s
            self.planner.on_feedback(feedback)
            self.hooks.report(self.planner.status, subgoal, index, count, feedback)

    def _cancel(self, plan: Plan) -> TaskOutcome:
        self.planner.cancel()
        self.hooks.publish_subgoal(None)
        self.hooks.publish_plan(plan)
        self.hooks.publish_status(self.planner.status)
        return TaskOutcome(False, "canceled", plan, self.planner.status)

    def _failed(self, plan: Plan | None, message: str) -> TaskOutcome:
        logger.error("task failed: %s", message)
        self.hooks.publish_subgoal(None)
        status = PlannerStatus(plan_id=plan.id if plan else "", state=PlannerState.FAILED, message=message,
                               timestamp=self.planner.clock())
        self.hooks.publish_status(status)
        return TaskOutcome(False, message, plan, status)


def _summary(plan: Plan, status: PlannerStatus) -> str:
    """One line per subgoal (answers included) and the planner's last word."""
    lines = []
    for subgoal in plan.subgoals:
        line = f"{subgoal.id} {subgoal.type.name.lower()} '{subgoal.label}': {subgoal.status.name.lower()}"
        if subgoal.type == SubgoalType.ANSWER and subgoal.answer:
            line += f" - {subgoal.answer}"
        elif subgoal.status == SubgoalStatus.FAILED and subgoal.message:
            line += f" ({subgoal.message})"
        lines.append(line)
    lines.append(f"{status.state.name.lower()}: {status.message}")
    return "\n".join(lines)
