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
    claim_margin_m: float = 0.3  # ...less this margin (perception puts a box a few tenths of a metre off)
    standoff_m: float = 0.3  # a re-approach aims this far from the seen box's surface (the agent stops near its goal, not on it)
    reapproaches: int = 2  # approaches to what was seen after a STOP too far from it
    close_range_m: float = 2.5  # sightings taken this close decide where the target is, when there are any
    reobserve_turns: int = 6  # on arrival, at most this many turns to face the seen target and look again

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
        if not 0.0 <= self.claim_margin_m < self.success_distance_m:
            raise ValueError(f"claim_margin_m must be in [0, success_distance_m), got {self.claim_margin_m}")
        if self.standoff_m < 0 or not self.close_range_m > 0:
            raise ValueError(f"standoff_m must be >= 0 and close_range_m > 0, got {self.standoff_m}, "
                             f"{self.close_range_m}")
        if self.reapproaches < 0 or self.reobserve_turns < 0:
            raise ValueError("reapproaches and reobserve_turns must be >= 0")

    @property
    def claim_distance_m(self) -> float:
        """How close the seen target's box must be for the runner to claim the goal condition."""
        return self.success_distance_m - self.claim_margin_m


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
                seen.append((_canonical(subgoal.category or subgoal.label), np.array(subgoal.hint_xy), np.zeros(2),
                             math.inf))
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


Seen = list[tuple[str, np.ndarray, np.ndarray, float]]
"""(category, xy, half extent xy, range) of each sighting: range is how far from the robot it was
perceived (inf: unknown, e.g. a search's sighting handed on)."""
MAX_HALF_EXTENT_M = 0.5
NO_CLOSER_M = 0.1
"""A re-approach that brings the robot less than this closer to the seen box got no closer."""
ON_THE_THING_M = 0.3
SIGHTING_STANDOFF_M = 0.6
"""A goal within ``ON_THE_THING_M`` of the object's centre is moved this far from it, toward the robot."""


def _confirms(seen: Seen, wanted: str, where: np.ndarray, radius: float) -> bool:
    return any(name == wanted and float(np.hypot(*(xy - where))) <= radius for name, xy, _half, _r in seen)


def _seen_box(seen: Seen, wanted: str, where: np.ndarray, radius: float,
              close_range_m: float = math.inf) -> tuple[np.ndarray, np.ndarray] | None:
    """The target as the robot's own perception places it: the box (median centre and half
    extent, the half extent capped at ``MAX_HALF_EXTENT_M`` so one bloated fused box cannot pass
    for "close") of the sightings of ``wanted`` within ``radius`` of ``where``; only those taken
    within ``close_range_m`` of the robot when there are any (depth and pose errors grow with
    range). None: no such sighting."""
    rows = [(xy, half, r) for name, xy, half, r in seen if name == wanted and float(np.hypot(*(xy - where))) <= radius]
    if not rows:
        return None
    close = [row for row in rows if row[2] <= close_range_m]
    rows = close or rows
    centre = np.median(np.array([r[0] for r in rows]), axis=0)
    half = np.minimum(np.median(np.array([r[1] for r in rows]), axis=0), MAX_HALF_EXTENT_M)
    return centre, half


def _box_gap(box: tuple[np.ndarray, np.ndarray] | None, robot_xy: np.ndarray) -> float:
    """Planar distance from ``robot_xy`` to a box (centre, half extent); inf without a box."""
    if box is None:
        return math.inf
    centre, half = box
    return float(np.hypot(*np.maximum(np.abs(np.asarray(robot_xy) - centre) - half, 0.0)))


def _seen_gap(seen: Seen, wanted: str, where: np.ndarray, radius: float, robot_xy: np.ndarray,
              close_range_m: float = math.inf) -> tuple[float, np.ndarray | None]:
    """How far the robot is from the seen target's box (:func:`_seen_box`; the goal condition the
    scorer checks) and the box's centre (None: no confirming sighting)."""
    box = _seen_box(seen, wanted, where, radius, close_range_m)
    return _box_gap(box, robot_xy), (box[0] if box is not None else None)


def standoff_point(box: tuple[np.ndarray, np.ndarray], robot_xy: np.ndarray, standoff_m: float) -> np.ndarray:
    """Where to stand to be ``standoff_m`` from a box's surface, on the robot's side of it (the
    box's centre when the robot stands on it)."""
    centre, half = box
    away = np.asarray(robot_xy, dtype=np.float64) - centre
    norm = float(np.hypot(*away))
    if norm < 1e-6:
        return centre.copy()
    unit = away / norm
    reach = float(np.abs(unit) @ half) + standoff_m  # the box's support along the line, plus the standoff
    return centre + unit * min(reach, norm)


def _record(seen: Seen, observations: Sequence[Observation], robot_xy: np.ndarray | None = None) -> None:
    for o in observations:
        xy = np.asarray(o.position[:2], dtype=np.float64)
        rng = float(np.hypot(*(xy - robot_xy))) if robot_xy is not None else math.inf
        seen.append((_canonical(str(o.category)), xy, np.asarray(o.extent[:2], dtype=np.float64) / 2.0, rng))


def _face(env: Env, xy: np.ndarray, max_turns: int, on_frame: Callable[[Frame, Pose2D], None],
          tolerance_rad: float = math.radians(20.0)) -> list[Frame]:
    """Turn in place toward ``xy`` (at most ``max_turns`` turns, stopping once within
    ``tolerance_rad`` or when a turn brings it no closer); ``on_frame(frame, pose before)`` sees
    each turn's frame; returns them."""
    frames: list[Frame] = []
    for _ in range(max_turns):
        pose = env.agent_pose
        error = math.atan2(xy[1] - pose.y, xy[0] - pose.x) - pose.yaw
        error = math.atan2(math.sin(error), math.cos(error))
        if abs(error) <= tolerance_rad:
            break
        result = env.step(Action.TURN_LEFT if error > 0 else Action.TURN_RIGHT)
        frames.append(result.frame)
        on_frame(result.frame, pose)
        after = env.agent_pose
        new_error = math.atan2(xy[1] - after.y, xy[0] - after.x) - after.yaw
        if abs(math.atan2(math.sin(new_error), math.cos(new_error))) >= abs(error) - 1e-6:
            break  # the turn overshoots (larger than twice the error) or did not turn
    return frames


def _drive(env: Env, agent: Agent, subgoal: Subgoal, frame: Frame, cfg: RunnerConfig, trajectory: list[Pose2D],
           notify: Listener, on_step: StepHook | None,
           perceive: Perceive | None = None,
           seen: Seen | None = None) -> tuple[SubgoalFeedback, Frame, SubgoalRun]:
    """Drive toward the subgoal's target pose until the agent stops; with perception, the stop
    counts only when the target was seen there and its seen box lies within
    ``cfg.claim_distance_m`` (the robot first turns to face it and looks again, so the box comes
    from close-range sightings); seen but farther, it approaches a standoff of ``cfg.standoff_m``
    from the seen box, up to ``cfg.reapproaches`` times."""
    assert subgoal.target_pose is not None  # checked by the caller
    goal_xy = np.array([subgoal.target_pose.x, subgoal.target_pose.y])
    start = env.agent_pose
    wanted, where = _wanted(subgoal)
    if where is not None and float(np.hypot(*(goal_xy - where))) < ON_THE_THING_M:
        # a goal on the thing itself (a sighting handed on by a search): stand off it, on the robot's side
        goal_xy = standoff_point((where, np.zeros(2)), start.xy, SIGHTING_STANDOFF_M)
    agent.reset(subgoal.label, goal_xy)
    initial = max(float(np.linalg.norm(goal_xy - start.xy)), 1e-6)
    path = 0.0
    collisions = 0
    status, message = FeedbackStatus.FAILED, f"no STOP within {cfg.max_steps_per_subgoal} steps"
    steps = 0
    check = perceive is not None and where is not None
    seen = seen if seen is not None else []
    if perceive is not None:
        _record(seen, perceive(frame), frame.agent_pose.xy)
    approaches = cfg.reapproaches if check else 0  # more approaches, to the seen thing itself
    last_gap = -math.inf  # the seen box's distance at the STOP before the last re-approach

    def moved(result_frame: Frame, before: Pose2D) -> None:
        nonlocal path
        new_pose = env.agent_pose
        path += math.hypot(new_pose.x - before.x, new_pose.y - before.y)
        trajectory.append(new_pose)
        if on_step is not None:
            on_step(new_pose, result_frame)
        if perceive is not None:
            _record(seen, perceive(result_frame), new_pose.xy)

    while steps < cfg.max_steps_per_subgoal:
        steps += 1
        pose = env.agent_pose
        action = agent.act(AgentInput(frame, pose, goal_xy, subgoal.label, steps - 1))
        if action == Action.STOP:
            distance = float(np.linalg.norm(goal_xy - pose.xy))
            box = None
            if check:
                # look again from here before judging: face what was seen (or where the memory
                # has it), so the box comes from close range and a thing is not called gone unseen
                box = _seen_box(seen, wanted, where, cfg.verify_radius_m, cfg.close_range_m)  # type: ignore[arg-type]
                look = box[0] if box is not None else where
                turns = _face(env, look, min(cfg.reobserve_turns, cfg.max_steps_per_subgoal - steps), moved)  # type: ignore[arg-type]
                if turns:
                    frame = turns[-1]
                    steps += len(turns)
                box = _seen_box(seen, wanted, where, cfg.verify_radius_m, cfg.close_range_m)  # type: ignore[arg-type]
            confirmed = box is not None
            gap = _box_gap(box, pose.xy)
            if confirmed and gap <= cfg.claim_distance_m:
                status, message = FeedbackStatus.REACHED, (f"stopped {distance:.2f} m from the target, {gap:.2f} m "
                                                            f"from the {wanted} seen there")
            elif check and not confirmed:
                status, message = FeedbackStatus.FAILED, (
                    f"stopped {distance:.2f} m from the target" if distance > cfg.reach_distance_m else
                    f"stopped {distance:.2f} m from the target, but no {wanted} seen there (moved or never there)")
            elif confirmed and approaches > 0 and box is not None and steps < cfg.max_steps_per_subgoal:
                approaches -= 1  # seen, but too far from where it stopped: approach what was seen
                last_gap = gap
                goal_xy = standoff_point(box, pose.xy, cfg.standoff_m)
                agent.reset(subgoal.label, goal_xy)
                continue
            elif confirmed and gap <= cfg.success_distance_m and last_gap - gap < NO_CLOSER_M:
                # approached again and got no closer (a thing on a counter, behind a table): as
                # close as it gets, and its box, seen from here, within the success distance
                status, message = FeedbackStatus.REACHED, (f"stopped {distance:.2f} m from the target, {gap:.2f} m "
                                                            f"from the {wanted} seen there (as close as it gets)")
            elif confirmed:
                status, message = FeedbackStatus.FAILED, (f"stopped {gap:.2f} m from the {wanted} seen there "
                                                          f"(more than {cfg.claim_distance_m:g} m)")
            elif distance > cfg.reach_distance_m:
                status, message = FeedbackStatus.FAILED, f"stopped {distance:.2f} m from the target"
            else:
                status, message = FeedbackStatus.REACHED, f"stopped {distance:.2f} m from the target"
            break
        result = env.step(action)
        frame = result.frame
        moved(frame, pose)
        collisions = collisions + 1 if result.collided else 0
        if collisions >= cfg.blocked_after_collisions:
            status, message = FeedbackStatus.BLOCKED, f"{collisions} collisions in a row"
            break
        if steps % cfg.progress_every == 0:
            remaining = float(np.linalg.norm(goal_xy - env.agent_pose.xy))
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
