"""Planner and policy messages: subgoals, plans, subgoal feedback, planner status, discrete
actions and early-exit statistics. Poses and headers are in ``frame_id`` (the node's map frame).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
from embodied_stack.types import Action, Pose2D
from embodied_stack.types.observations import MAP_FRAME
from embodied_stack_ros.conversions.base import IFACE, header_to_ros, time_from_ros
from embodied_stack_ros.conversions.base import new_message as _new
from embodied_stack_ros.conversions.geometry import pose2d_from_ros, pose_stamped_to_ros
from embodied_stack_ros.conversions.memory import hit_ref_from_ros, hit_ref_to_ros

__all__ = [
    "action_from_ros", "action_to_ros", "exit_stats_to_ros", "plan_from_ros", "plan_to_ros",
    "planner_status_from_ros", "planner_status_to_ros", "subgoal_feedback_from_ros", "subgoal_feedback_to_ros",
    "subgoal_from_ros", "subgoal_to_ros",
]


def subgoal_to_ros(subgoal: Subgoal | None, stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    """A subgoal -> ``Subgoal``; None -> an empty-id subgoal meaning "nothing to execute"."""
    if subgoal is None:
        return _new(
            f"{IFACE}/msg/Subgoal", header=header_to_ros(frame_id, stamp_s),
            target_pose=pose_stamped_to_ros(Pose2D(0.0, 0.0), frame_id, stamp_s),
        )
    target = subgoal.target_pose
    return _new(
        f"{IFACE}/msg/Subgoal",
        header=header_to_ros(frame_id, stamp_s),
        id=subgoal.id,
        type=int(subgoal.type),
        label=subgoal.label,
        query=subgoal.query,
        category=subgoal.category,
        has_target_pose=target is not None,
        target_pose=pose_stamped_to_ros(target or Pose2D(0.0, 0.0), frame_id, stamp_s),
        answer=subgoal.answer,
        status=int(subgoal.status),
        hits=[hit_ref_to_ros(h, stamp_s, frame_id) for h in subgoal.hits],
        candidate_index=int(subgoal.candidate_index),
        attempts=int(subgoal.attempts),
        message=subgoal.message,
    )


def subgoal_from_ros(msg: Any) -> Subgoal | None:
    """``Subgoal`` -> a subgoal, None for the empty-id "stop" message; ValueError on bad enums."""
    if not str(msg.id):
        return None
    return Subgoal(
        id=str(msg.id),
        type=SubgoalType(int(msg.type)),
        label=str(msg.label),
        query=str(msg.query),
        category=str(msg.category),
        target_pose=pose2d_from_ros(msg.target_pose.pose) if msg.has_target_pose else None,
        answer=str(msg.answer),
        status=SubgoalStatus(int(msg.status)),
        hits=[hit_ref_from_ros(h) for h in msg.hits],
        candidate_index=int(msg.candidate_index),
        attempts=int(msg.attempts),
        message=str(msg.message),
    )


def plan_to_ros(plan: Plan, stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    return _new(
        f"{IFACE}/msg/Plan",
        header=header_to_ros(frame_id, stamp_s),
        id=plan.id,
        instruction=plan.instruction,
        subgoals=[subgoal_to_ros(s, stamp_s, frame_id) for s in plan.subgoals],
    )


def plan_from_ros(msg: Any) -> Plan:
    subgoals = [subgoal_from_ros(s) for s in msg.subgoals]
    return Plan(id=str(msg.id), instruction=str(msg.instruction), subgoals=[s for s in subgoals if s is not None])


def subgoal_feedback_to_ros(feedback: SubgoalFeedback, frame_id: str = MAP_FRAME) -> Any:
    return _new(
        f"{IFACE}/msg/SubgoalFeedback",
        header=header_to_ros(frame_id, feedback.timestamp),
        subgoal_id=feedback.subgoal_id,
        status=int(feedback.status),
        progress=float(feedback.progress),
        distance_remaining_m=float(feedback.distance_remaining_m),
        message=feedback.message,
    )


def subgoal_feedback_from_ros(msg: Any) -> SubgoalFeedback:
    """``SubgoalFeedback`` -> core feedback; ValueError on an unknown status."""
    return SubgoalFeedback(
        subgoal_id=str(msg.subgoal_id),
        status=FeedbackStatus(int(msg.status)),
        progress=float(msg.progress),
        distance_remaining_m=float(msg.distance_remaining_m),
        message=str(msg.message),
        timestamp=time_from_ros(msg.header.stamp),
    )


def planner_status_to_ros(status: PlannerStatus, frame_id: str = MAP_FRAME) -> Any:
    return _new(
        f"{IFACE}/msg/PlannerStatus",
        header=header_to_ros(frame_id, status.timestamp),
        plan_id=status.plan_id,
        state=int(status.state),
        active_subgoal_id=status.active_subgoal_id,
        message=status.message,
        replans=int(status.replans),
    )


def planner_status_from_ros(msg: Any) -> PlannerStatus:
    return PlannerStatus(
        plan_id=str(msg.plan_id),
        state=PlannerState(int(msg.state)),
        active_subgoal_id=str(msg.active_subgoal_id),
        message=str(msg.message),
        replans=int(msg.replans),
        timestamp=time_from_ros(msg.header.stamp),
    )


def action_to_ros(action: Action, subgoal_id: str, stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    return _new(
        f"{IFACE}/msg/DiscreteAction",
        header=header_to_ros(frame_id, stamp_s),
        action=int(action),
        subgoal_id=str(subgoal_id),
    )


def action_from_ros(msg: Any) -> tuple[Action, str]:
    """``(action, subgoal id)``; ValueError for a value that is not an action."""
    try:
        return Action(int(msg.action)), str(msg.subgoal_id)
    except ValueError as err:
        raise ValueError(f"unknown action {msg.action}; expected 0..3 (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT)") from err


def exit_stats_to_ros(
    step: Any, stats: Any, thresholds: Any, trunk_flops_full: int, policy_ms: float, stamp_s: float,
    frame_id: str = MAP_FRAME,
) -> Any:
    """One early-exit step (``ExitStep``), the running ``ExitStats``, the ``ExitThresholds`` in
    use and the full trunk's FLOPs -> ``ExitStats`` message."""
    summary = stats.summary()
    full = int(trunk_flops_full)
    return _new(
        f"{IFACE}/msg/ExitStats",
        header=header_to_ros(frame_id, stamp_s),
        exit_index=int(step.exit_index),
        num_exits=int(thresholds.num_exits),
        max_exit=int(thresholds.max_exit),
        trunk_flops=int(step.trunk_flops),
        trunk_flops_full=full,
        flops_saved_ratio=float(1.0 - step.trunk_flops / full) if full > 0 else 0.0,
        consistency_scores=[float(s) for s in step.scores],
        thresholds=[float(t) for t in thresholds.values],
        action=int(step.action),
        action_probs=[float(p) for p in np.asarray(step.probs).reshape(-1)],
        linear_mps=float(step.velocity[0]),
        angular_radps=float(step.velocity[1]),
        policy_ms=float(policy_ms),
        steps=int(summary["steps"]),
        trunk_flops_mean=float(summary["trunk_flops_mean"]),
        trunk_flops_peak=int(summary["trunk_flops_peak"]),
        exit_histogram=[int(n) for n in np.asarray(stats.counts).reshape(-1)],
        policy_ms_mean=float(summary["policy_ms_per_step"]),
    )
