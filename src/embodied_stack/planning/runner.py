"""Execute a task end to end in a simulator: planner + memory + a navigation agent.

This is what the ROS planner node does over topics, done in-process: the planner hands out one
subgoal at a time, the agent drives toward its target pose, and the outcome goes back to the
planner as :class:`SubgoalFeedback` (reached when the agent stops within ``reach_distance_m`` of
the target pose and, with perception, the target was seen there; failed when it stops elsewhere,
the thing is not there any more, or it runs out of steps; blocked when it keeps colliding).

``perceive(frame)`` sees every frame (it perceives, feeds the memory and returns the new
observations): a NAVIGATE_TO subgoal toward an object the memory remembers counts as reached
only if an observation of that category came within ``verify_radius_m`` of the remembered
position on the way. EXPLORE and SEARCH subgoals call ``explore(env, subgoal)``; the one every
entry point uses is :func:`make_search` (memory-guided object search over the robot's own map,
:mod:`embodied_stack.planning.search`): found -> REACHED (the planner asks the memory again,
near the sighting), not found -> FAILED.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embodied_stack.memory.knowledge import default_knowledge, normalize_phrase
from embodied_stack.planning.planner import Planner
from embodied_stack.planning.search import Perceive, SearchConfig, SearchOutcome, search_object
from embodied_stack.planning.types import (
    FeedbackStatus,
    Plan,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalType,
)
from embodied_stack.sim.env import Env
from embodied_stack.sim.explore import ExploreConfig
from embodied_stack.sim.occupancy import OccupancyGrid
from embodied_stack.types import Action, Agent, AgentInput, Frame, Pose2D
from embodied_stack.types.observations import Observation


@dataclass
class RunnerConfig:
    max_steps_per_subgoal: int = 500
    reach_distance_m: float = 1.0  # the agent's STOP counts as reaching the target pose within this
    blocked_after_collisions: int = 25  # consecutive collisions that count as "blocked"
    progress_every: int = 10  # steps between PROGRESS feedback messages
    verify_radius_m: float = 1.5  # a sighting this close to a remembered object confirms it is there
    success_distance_m: float = 1.0  # with perception: the seen target's box must be this close at the STOP

    def __post_init__(self) -> None:
        if self.max_steps_per_subgoal < 1:
            raise ValueError(f"max_steps_per_subgoal must be >= 1, got {self.max_steps_per_subgoal}")
        if not self.reach_distance_m > 0:
            raise ValueError(f"reach_distance_m must be > 0, got {self.reach_distance_m}")
        if not self.verify_radius_m > 0 or not self.success_distance_m > 0:
            raise ValueError(f"verify_radius_m and success_distance_m must be > 0, got {self.verify_radius_m}, "
                             f"{self.success_distance_m}")
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
    verified: bool | None = None  # the target seen where it was expected (None: no perception)


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


Explore = Callable[[Env, Subgoal], "SearchOutcome | None"]
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
    perceive: Perceive | None = None,
) -> TaskRun:
    """Plan ``instruction`` and execute it in ``env`` until the planner finishes.

    ``listener(event, payload)`` is told about "plan", "subgoal", "feedback" and "status" events
    (the CLI prints them; the ROS node publishes them). ``on_step(pose, frame)`` sees every
    step the agent takes (a recorder writes it to a bag). ``perceive`` and ``explore``: see the
    module docstring; without ``explore`` EXPLORE and SEARCH subgoals fail ("no explorer").
    """
    cfg = config or RunnerConfig()
    notify = listener or (lambda _event, _payload: None)
    started = time.perf_counter()
    frame = env.render()
    plan = planner.plan(instruction, robot_pose=env.agent_pose)
    record = TaskRun(instruction=instruction, plan=plan, trajectory=[env.agent_pose])
    seen: Seen = []  # everything perceived during the task
    notify("plan", plan)
    while (subgoal := planner.next_subgoal()) is not None:
        notify("subgoal", subgoal)
        if subgoal.type in (SubgoalType.EXPLORE, SubgoalType.SEARCH) or subgoal.target_pose is None:
            feedback, run = explore_subgoal(env, subgoal, explore, record.trajectory)
            if run.verified and subgoal.hint_xy is not None:
                seen.append((_canonical(subgoal.category or subgoal.label), np.array(subgoal.hint_xy), np.zeros(2)))
            frame = env.render()
            record.runs.append(run)
        else:
            feedback, frame, run = _drive(env, agent, subgoal, frame, cfg, record.trajectory, notify, on_step,
                                          perceive, seen)
            record.runs.append(run)
        notify("feedback", feedback)
        notify("status", planner.on_feedback(feedback))
    record.status = planner.status
    record.wall_s = time.perf_counter() - started
    notify("status", planner.status)
    return record


def explore_subgoal(env: Env, subgoal: Subgoal, explore: Explore | None,
                    trajectory: list[Pose2D]) -> tuple[SubgoalFeedback, SubgoalRun]:
    """Run an EXPLORE/SEARCH subgoal with ``explore`` and say how it went (the ROS planner node
    calls this too): found -> REACHED with the sighting as the subgoal's hint, else FAILED."""
    start = env.agent_pose
    if explore is None:
        feedback = SubgoalFeedback(subgoal.id, FeedbackStatus.FAILED, message="no explorer configured")
        return feedback, SubgoalRun(subgoal.id, subgoal.type, subgoal.label, None, start, start, 0, 0.0,
                                    feedback.status, feedback.message)
    outcome = explore(env, subgoal)
    steps, path = 0, 0.0
    if outcome is None:  # an explorer that only looks around
        status, message = FeedbackStatus.REACHED, "explored"
    else:
        trajectory.extend(outcome.trajectory[1:])
        steps, path = outcome.steps, outcome.path_m
        status = FeedbackStatus.REACHED if outcome.found else FeedbackStatus.FAILED
        message = outcome.message
        if outcome.found and outcome.position is not None:
            subgoal.hint_xy = (outcome.position[0], outcome.position[1])
    feedback = SubgoalFeedback(subgoal.id, status, 1.0 if status == FeedbackStatus.REACHED else 0.0, message=message)
    return feedback, SubgoalRun(subgoal.id, subgoal.type, subgoal.label, None, start, env.agent_pose, steps, path,
                                status, message, verified=outcome.found if outcome is not None else None)


def make_search(memory: object, perceive: Perceive | None, *, config: SearchConfig | None = None,
                explore_config: ExploreConfig | None = None, grid: OccupancyGrid | None = None,
                on_step: StepHook | None = None) -> Explore:
    """The explorer for :func:`run_task`: memory-guided search (or frontier-only, by config) for
    the subgoal's target, over one robot-built map kept across calls (``grid`` to start from a
    map the robot already has)."""
    held: list[OccupancyGrid | None] = [grid]

    def explore(env: Env, subgoal: Subgoal) -> SearchOutcome:
        hook = (lambda f: on_step(f.agent_pose, f)) if on_step is not None else None
        outcome = search_object(env, subgoal.category or subgoal.label, memory, perceive, config=config,
                                explore_config=explore_config, grid=held[0], on_frame=hook)
        flush = getattr(perceive, "flush", None)
        if callable(flush):
            flush()  # the memory holds the sighting before the planner asks it again
        held[0] = outcome.grid
        return outcome

    return explore


def _canonical(name: str) -> str:
    knowledge = default_knowledge()
    phrase = normalize_phrase(name)
    found = knowledge.find_categories(phrase)
    return knowledge.canonical(phrase) or (found[0] if found else phrase)


def _wanted(subgoal: Subgoal) -> tuple[str, np.ndarray | None]:
    """The category that confirms the subgoal's memory hit, and where it was (None: nothing to check)."""
    hit = subgoal.current_hit()
    if hit is None or hit.level != 0:
        return "", None
    return _canonical(hit.category or hit.name), np.array(hit.position[:2], dtype=np.float64)


Seen = list[tuple[str, np.ndarray, np.ndarray]]  # (category, xy, half extent xy) of each sighting
MAX_HALF_EXTENT_M = 0.5


def _confirms(seen: Seen, wanted: str, where: np.ndarray, radius: float) -> bool:
    return any(name == wanted and float(np.hypot(*(xy - where))) <= radius for name, xy, _half in seen)


def _seen_gap(seen: Seen, wanted: str, where: np.ndarray, radius: float, robot_xy: np.ndarray) -> tuple[float, np.ndarray | None]:
    """How far the robot is from the target as its own perception places it (the goal condition
    the scorer checks): the box of the confirming sightings (median centre and half extent, the
    half extent capped at ``MAX_HALF_EXTENT_M`` so one bloated fused box cannot pass for "close"),
    and that centre (None: no confirming sighting)."""
    rows = [(xy, half) for name, xy, half in seen if name == wanted and float(np.hypot(*(xy - where))) <= radius]
    if not rows:
        return math.inf, None
    centre = np.median(np.array([r[0] for r in rows]), axis=0)
    half = np.minimum(np.median(np.array([r[1] for r in rows]), axis=0), MAX_HALF_EXTENT_M)
    return float(np.hypot(*np.maximum(np.abs(robot_xy - centre) - half, 0.0))), centre


def _record(seen: Seen, observations: Sequence[Observation]) -> None:
    seen.extend((_canonical(str(o.category)), np.asarray(o.position[:2], dtype=np.float64),
                 np.asarray(o.extent[:2], dtype=np.float64) / 2.0) for o in observations)


def _drive(env: Env, agent: Agent, subgoal: Subgoal, frame: Frame, cfg: RunnerConfig, trajectory: list[Pose2D],
           notify: Listener, on_step: StepHook | None,
           perceive: Perceive | None = None,
           seen: Seen | None = None) -> tuple[SubgoalFeedback, Frame, SubgoalRun]:
    assert subgoal.target_pose is not None  # checked by the caller
    goal_xy = np.array([subgoal.target_pose.x, subgoal.target_pose.y])
    agent.reset(subgoal.label, goal_xy)
    start = env.agent_pose
    initial = max(float(np.linalg.norm(goal_xy - start.xy)), 1e-6)
    path = 0.0
    collisions = 0
    status, message = FeedbackStatus.FAILED, f"no STOP within {cfg.max_steps_per_subgoal} steps"
    steps = 0
    wanted, where = _wanted(subgoal)
    check = perceive is not None and where is not None
    seen = seen if seen is not None else []
    if perceive is not None:
        _record(seen, perceive(frame))
    closer = check  # one more approach, to the seen thing itself, when the STOP was not close enough
    for steps in range(1, cfg.max_steps_per_subgoal + 1):
        pose = env.agent_pose
        action = agent.act(AgentInput(frame, pose, goal_xy, subgoal.label, steps - 1))
        if action == Action.STOP:
            distance = float(np.linalg.norm(goal_xy - pose.xy))
            confirmed = check and _confirms(seen, wanted, where, cfg.verify_radius_m)  # type: ignore[arg-type]
            gap, centre = _seen_gap(seen, wanted, where, cfg.verify_radius_m, pose.xy) if confirmed else (math.inf, None)  # type: ignore[arg-type]
            retargeted = check and not closer  # now driving to the seen thing's centre: its box decides
            if distance > cfg.reach_distance_m and not (retargeted and gap <= cfg.success_distance_m):
                status, message = FeedbackStatus.FAILED, f"stopped {distance:.2f} m from the target"
            elif check and not confirmed:
                status, message = FeedbackStatus.FAILED, (f"stopped {distance:.2f} m from the target, but no "
                                                          f"{wanted} seen there (moved or never there)")
            elif check and gap > cfg.success_distance_m and closer and centre is not None:
                closer = False  # seen, but the STOP is too far from it: approach what was seen
                goal_xy = centre
                agent.reset(subgoal.label, goal_xy)
                continue
            elif check and gap > cfg.success_distance_m:
                status, message = FeedbackStatus.FAILED, (f"stopped {gap:.2f} m from the {wanted} seen there "
                                                          f"(more than {cfg.success_distance_m:g} m)")
            else:
                status, message = FeedbackStatus.REACHED, f"stopped {distance:.2f} m from the target"
                if check:
                    message += f", {gap:.2f} m from the {wanted} seen there"
            break
        result = env.step(action)
        frame = result.frame
        new_pose = env.agent_pose
        path += math.hypot(new_pose.x - pose.x, new_pose.y - pose.y)
        trajectory.append(new_pose)
        if on_step is not None:
            on_step(new_pose, frame)
        if perceive is not None:
            _record(seen, perceive(frame))
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
                     start, end, steps, path, status, message,
                     verified=_confirms(seen, wanted, where, cfg.verify_radius_m) if check else None)  # type: ignore[arg-type]
    return feedback, frame, run
