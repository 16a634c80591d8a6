"""Task sets (``embodied-stack.tasks/1``) and scoring a :class:`~embodied_stack.planning.runner.TaskRun`.

A task set lists instructions in language with the ground truth of each navigation step, in the
same target vocabulary as episodes (FORMATS.md)::

    {"format": "embodied-stack.tasks/1", "scene": "home_0001", "success_distance_m": 1.0,
     "tasks": [{"id": "t01", "instruction": "go to the fridge, then to the sofa",
                "steps": [{"target_categories": ["fridge"]}, {"target_categories": ["sofa"]}]}]}

A step is reached when the agent's last stop for the matching subgoal lies in the step's goal
region (Habitat ObjectNav convention, as episodes: within ``success_distance_m`` of the nearest
navigable point to a target object's box, or inside a target room). A task succeeds when the
planner finished and every step was reached; ``status_agrees`` says whether the planner's own
verdict matched (it may not claim a success the goal regions deny, nor the reverse). A step's
SPL counts from where its subgoal started, searches included, to where its last attempt ended. Step SPL (Anderson et al. 2018) uses the geodesic
distance from where the step started to its goal region and the path driven for it, retries
included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.planning.runner import TaskRun
from embodied_stack.planning.types import FeedbackStatus, SubgoalType
from embodied_stack.sim.errors import EpisodeFormatError, NavigationError
from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, read_json

TASKS_FORMAT = "embodied-stack.tasks/1"


@dataclass(frozen=True)
class TaskStep:
    target_categories: tuple[str, ...] = ()
    target_objects: tuple[str, ...] = ()
    target_rooms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("target_categories", "target_objects", "target_rooms"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        return out


@dataclass(frozen=True)
class Task:
    id: str
    instruction: str
    steps: tuple[TaskStep, ...]


@dataclass
class TaskSet:
    scene: str
    tasks: list[Task]
    success_distance_m: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TASKS_FORMAT, "scene": self.scene, "success_distance_m": self.success_distance_m,
            "tasks": [{"id": t.id, "instruction": t.instruction, "steps": [s.to_dict() for s in t.steps]}
                      for t in self.tasks],
        }


def _fail(path: str, field_name: str, expected: str, got: Any) -> EpisodeFormatError:
    return EpisodeFormatError(f"expected {expected}, got {str(got)[:80]!r}", path=path, field=field_name)


def parse_tasks(data: Any, *, path: str = "<tasks>", scene: Scene | None = None) -> TaskSet:
    """Validate a task set; with ``scene``, every target must exist in it."""
    if not isinstance(data, dict):
        raise _fail(path, "(top level)", "a JSON object", data)
    if data.get("format") != TASKS_FORMAT:
        raise _fail(path, "format", f"'{TASKS_FORMAT}'", data.get("format"))
    scene_name = data.get("scene")
    if not isinstance(scene_name, str) or not scene_name:
        raise _fail(path, "scene", "a scene name", scene_name)
    distance = data.get("success_distance_m", 1.0)
    if isinstance(distance, bool) or not isinstance(distance, (int, float)) or not distance > 0:
        raise _fail(path, "success_distance_m", "a number > 0", distance)
    raw = data.get("tasks")
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "tasks", "a non-empty list", raw)
    tasks, seen = [], set()
    for i, item in enumerate(raw):
        where = f"tasks[{i}]"
        if not isinstance(item, dict):
            raise _fail(path, where, "a JSON object", item)
        task_id, instruction = item.get("id"), item.get("instruction")
        if not isinstance(task_id, str) or not task_id or task_id in seen:
            raise _fail(path, f"{where}.id", "a unique non-empty string", task_id)
        seen.add(task_id)
        if not isinstance(instruction, str) or not instruction.strip():
            raise _fail(path, f"{where}.instruction", "a non-empty string", instruction)
        steps_raw = item.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            raise _fail(path, f"{where}.steps", "a non-empty list of targets", steps_raw)
        steps = tuple(_parse_step(s, f"{where}.steps[{j}]", path, scene) for j, s in enumerate(steps_raw))
        tasks.append(Task(task_id, instruction.strip(), steps))
    return TaskSet(scene_name, tasks, float(distance))


def _parse_step(item: Any, where: str, path: str, scene: Scene | None) -> TaskStep:
    if not isinstance(item, dict):
        raise _fail(path, where, "a JSON object with target_categories/target_objects/target_rooms", item)
    values: dict[str, tuple[str, ...]] = {}
    for name in ("target_categories", "target_objects", "target_rooms"):
        value = item.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _fail(path, f"{where}.{name}", "a list of strings", value)
        values[name] = tuple(value)
    if not any(values.values()):
        raise _fail(path, where, "at least one of target_categories, target_objects, target_rooms", item)
    if scene is not None:
        known = {"target_categories": set(scene.categories), "target_objects": {o.id for o in scene.objects},
                 "target_rooms": {r.id for r in scene.rooms}}
        for name, wanted in values.items():
            for v in wanted:
                if v not in known[name]:
                    raise _fail(path, f"{where}.{name}", f"a name in scene {scene.name!r}", v)
    return TaskStep(**values)


def load_tasks(path: str | Path, scene: Scene | None = None) -> TaskSet:
    path = Path(path)
    return parse_tasks(read_json(path, EpisodeFormatError), path=str(path), scene=scene)


def save_tasks(task_set: TaskSet, path: str | Path) -> None:
    import json

    Path(path).write_text(json.dumps(task_set.to_dict(), indent=1) + "\n", encoding="utf-8")


@dataclass
class StepScore:
    reached: bool
    spl: float
    geodesic_m: float
    path_m: float
    attempts: int


@dataclass
class TaskScore:
    task_id: str
    success: bool
    steps: list[StepScore] = field(default_factory=list)
    planner_state: str = ""
    status_agrees: bool = True  # the planner said SUCCEEDED exactly when every step was reached

    @property
    def spl(self) -> float:
        """Mean step SPL (0 for a task whose plan did not cover its steps)."""
        return float(np.mean([s.spl for s in self.steps])) if self.steps else 0.0


def score_task(scene: Scene, navmap: NavMap, task: Task, run: TaskRun, success_distance_m: float) -> TaskScore:
    """Score a task run against its ground truth (see the module docstring)."""
    nav_ids: list[str] = []
    for r in run.runs:
        if r.type in (SubgoalType.NAVIGATE_TO,) and r.subgoal_id not in nav_ids:
            nav_ids.append(r.subgoal_id)
    planned = [s.id for s in run.plan.subgoals if s.type != SubgoalType.ANSWER]
    order = [sid for sid in planned if sid in nav_ids]
    state = run.status.state.name if run.status else ""
    score = TaskScore(task.id, success=False, planner_state=state)
    for step, sid in zip(task.steps, order, strict=False):
        attempts = [r for r in run.runs if r.subgoal_id == sid]
        start = attempts[0].start
        try:
            region = GoalRegion.for_targets(scene, navmap, start_xy=start.xy, categories=step.target_categories,
                                            object_ids=step.target_objects, room_ids=step.target_rooms,
                                            success_distance_m=success_distance_m)
            geodesic = float(region.distance(start.xy))
        except NavigationError:
            score.steps.append(StepScore(False, 0.0, math.inf, 0.0, len(attempts)))
            continue
        last = attempts[-1]
        reached = last.outcome == FeedbackStatus.REACHED and region.contains(last.end.xy)
        path = sum(a.path_length_m for a in attempts)
        spl = geodesic / max(path, geodesic) if reached and geodesic > 0 else float(reached)
        score.steps.append(StepScore(bool(reached), float(spl), geodesic, path, len(attempts)))
    goals_met = len(score.steps) == len(task.steps) and all(s.reached for s in score.steps)
    score.success = goals_met and state == "SUCCEEDED"
    score.status_agrees = goals_met == (state == "SUCCEEDED")
    return score


def _is_errand(text: str) -> bool:
    """A need said as a request ("I need to wash my hands"), not a question to answer."""
    from embodied_stack.planning.splitter import RuleSplitter

    steps = RuleSplitter().split(text)
    return len(steps) == 1 and steps[0].intent == SubgoalType.NAVIGATE_TO


def tasks_from_queries(scene: Scene, queries: Any, n: int = 3, seed: int = 0) -> TaskSet:
    """Tasks built from a query set (``embodied-stack.queries/1``): a single explicit goal, a need
    said in the user's own words (an implicit query used as the instruction), and a two-step
    errand between two explicit goals. Ground truth comes from the queries' targets."""
    rng = np.random.default_rng(seed)

    def category_of(q: Any) -> str | None:
        if q.target_categories:
            return str(q.target_categories[0])
        if q.target_objects:
            return scene.object_by_id(q.target_objects[0]).category
        return None

    def step_of(q: Any) -> TaskStep:
        return TaskStep(tuple(q.target_categories), tuple(q.target_objects), tuple(q.target_rooms))

    explicit = [q for q in queries.queries if q.kind == "explicit" and category_of(q)]
    implicit = [q for q in queries.queries if q.kind == "implicit" and (q.target_categories or q.target_objects)
                and _is_errand(q.text)]
    order = rng.permutation(len(explicit)) if explicit else []
    picked = [explicit[int(i)] for i in order]
    tasks: list[Task] = []
    if picked:
        q = picked[0]
        tasks.append(Task("task_1", f"take me to the {category_of(q)}", (step_of(q),)))
    if implicit:
        q = implicit[int(rng.integers(len(implicit)))]
        tasks.append(Task(f"task_{len(tasks) + 1}", q.text.rstrip("?.!"), (step_of(q),)))
    if len(picked) >= 3:
        a, b = picked[1], picked[2]
        tasks.append(Task(f"task_{len(tasks) + 1}", f"go to the {category_of(a)}, then to the {category_of(b)}",
                          (step_of(a), step_of(b))))
    return TaskSet(scene.name, tasks[:n], success_distance_m=1.0)
