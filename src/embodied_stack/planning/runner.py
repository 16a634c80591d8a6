"""Execute a task end to end in a simulator: planner + memory + a navigation agent.

This is what the ROS planner node does over topics, done in-process: the planner hands out one
subgoal at a time, the agent drives toward its target pose, and the outcome goes back to the
planner as :class:`SubgoalFeedback` (reached when the agent stops within ``reach_distance_m`` of
the target pose, failed when it stops elsewhere or runs out of steps, blocked when it keeps
colliding). Exploration subgoals call an ``explore`` callback, which is expected to look around
and add what it sees to the memory before the planner asks the memory again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from embodied_stack.planning.planner import Planner
from embodied_stack.planning.types import (
    FeedbackStatus,
    Plan,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalType,
)
from embodied_stack.sim.env import Env
from embodied_stack.types import Action, Agent, AgentInput, Frame, Pose2D


@dataclass
class RunnerConfig:
    max_steps_per_subgoal: int = 500
    reach_distance_m: float = 1.0  # the agent's STOP counts as reaching the target pose within this
    blocked_after_collisions: int = 25  # consecutive collisions that count as "blocked"
    progress_every: int = 10  # steps between PROGRESS feedback messages

    def __post_init__(self) -> None:
        if self.max_steps_per_subgoal < 1:
            raise ValueError(f"max_steps_per_subgoal must be >= 1, got {self.max_steps_per_subgoal}")
        if not self.reach_distance_m > 0:
            raise ValueError(f"reach_distance_m must be > 0, got {self.reach_distance_m}")
        if self.blocked_after_collisions < 1 or self.progress_every < 1:
            raise ValueError("blocked_after_collisions and progress_every must be >= 1")


@dataclass
class SubgoalRun:
    """One execution of one subgoal (a subgoal retried after a replan has several)."""

    subgoal_id: str
    type: SubgoalType
    label: str
    target_xy: tuple[float, float] | None
    start: Pose2D
    end: Pose2D
    steps: int
    path_length_m: float
    outcome: FeedbackStatus
    message: str = ""


@dataclass
class TaskRun:
    """What happened: the plan, every subgoal execution, the trajectory and the final status."""

    instruction: str
    plan: Plan
    runs: list[SubgoalRun] = field(default_factory=list)
    trajectory: list[Pose2D] = field(default_factory=list)
    status: PlannerStatus | None = None
    wall_s: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status.state.name == "SUCCEEDED"

    @property
    def steps(self) -> int:
        return sum(r.steps for r in self.runs)


Explore = Callable[[Env, Subgoal], None]
Listener = Callable[[str, object], None]
StepHook = Callable[[Pose2D, Frame], None]


def run_task(
    env: Env,
    planner: Planner,
    agent: Agent,
    instruction: str,
    *,
    config: RunnerConfig | None = None,
    explore: Explore | None = None,
    listener: Listener | None = None,
    on_step: StepHook | None = None,
) -> TaskRun:
    """Plan ``instruction`` and execute it in ``env`` until the planner finishes.

    ``listener(event, payload)`` is told about "plan", "subgoal", "feedback" and "status" events
    (the CLI prints them; the ROS node publishes them). ``on_step(pose, frame)`` sees every
    step the agent takes (a recorder writes it to a bag).
    """
    cfg = config or RunnerConfig()
    notify = listener or (lambda _event, _payload: None)
    started = time.perf_counter()
    frame = env.render()
    plan = planner.plan(instruction, robot_pose=env.agent_pose)
    record = TaskRun(instruction=instruction, plan=plan, trajectory=[env.agent_pose])
    notify("plan", plan)
    while (subgoal := planner.next_subgoal()) is not None:
        notify("subgoal", subgoal)
        if subgoal.type in (SubgoalType.EXPLORE, SubgoalType.SEARCH) or subgoal.target_pose is None:
            start = env.agent_pose
            if explore is not None:
                explore(env, subgoal)
                feedback = SubgoalFeedback(subgoal.id, FeedbackStatus.REACHED, 1.0, message="explored")
            else:
                feedback = SubgoalFeedback(subgoal.id, FeedbackStatus.FAILED, message="no explorer configured")
            frame = env.render()
            record.runs.append(SubgoalRun(subgoal.id, subgoal.type, subgoal.label, None, start,
                                          env.agent_pose, 0, 0.0, feedback.status, feedback.message))
        else:
            feedback, frame, run = _drive(env, agent, subgoal, frame, cfg, record.trajectory, notify, on_step)
            record.runs.append(run)
        notify("feedback", feedback)
        notify("status", planner.on_feedback(feedback))
    record.status = planner.status
    record.wall_s = time.perf_counter() - started
    notify("status", planner.status)
    return record


def _drive(env: Env, agent: Agent, subgoal: Subgoal, frame: Frame, cfg: RunnerConfig, trajectory: list[Pose2D],
           notify: Listener, on_step: StepHook | None) -> tuple[SubgoalFeedback, Frame, SubgoalRun]:
    assert subgoal.target_pose is not None  # checked by the caller
    goal_xy = np.array([subgoal.target_pose.x, subgoal.target_pose.y])
    agent.reset(subgoal.label, goal_xy)
    start = env.agent_pose
    initial = max(float(np.linalg.norm(goal_xy - start.xy)), 1e-6)
    path = 0.0
    collisions = 0
    status, message = FeedbackStatus.FAILED, f"no STOP within {cfg.max_steps_per_subgoal} steps"
    steps = 0
    for steps in range(1, cfg.max_steps_per_subgoal + 1):
        pose = env.agent_pose
        action = agent.act(AgentInput(frame, pose, goal_xy, subgoal.label, steps - 1))
        if action == Action.STOP:
            distance = float(np.linalg.norm(goal_xy - pose.xy))
            if distance <= cfg.reach_distance_m:
                status, message = FeedbackStatus.REACHED, f"stopped {distance:.2f} m from the target"
            else:
                status, message = FeedbackStatus.FAILED, f"stopped {distance:.2f} m from the target"
            break
        result = env.step(action)
        frame = result.frame
        new_pose = env.agent_pose
        path += math.hypot(new_pose.x - pose.x, new_pose.y - pose.y)
        trajectory.append(new_pose)
        if on_step is not None:
            on_step(new_pose, frame)
        collisions = collisions + 1 if result.collided else 0
        if collisions >= cfg.blocked_after_collisions:
            status, message = FeedbackStatus.BLOCKED, f"{collisions} collisions in a row"
            break
        if steps % cfg.progress_every == 0:
            remaining = float(np.linalg.norm(goal_xy - new_pose.xy))
            notify("feedback", SubgoalFeedback(subgoal.id, FeedbackStatus.PROGRESS,
                                               progress=max(0.0, 1.0 - remaining / initial),
                                               distance_remaining_m=remaining))
    end = env.agent_pose
    remaining = float(np.linalg.norm(goal_xy - end.xy))
    feedback = SubgoalFeedback(subgoal.id, status, progress=max(0.0, 1.0 - remaining / initial),
                               distance_remaining_m=remaining, message=message)
    run = SubgoalRun(subgoal.id, subgoal.type, subgoal.label, (float(goal_xy[0]), float(goal_xy[1])),
                     start, end, steps, path, status, message)
    return feedback, frame, run
