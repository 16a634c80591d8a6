"""``embodied-stack run task`` and ``embodied-stack eval tasks``."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    run = groups["run"].add_parser(
        "task", help="execute a task in language end to end in the embedded simulator",
        description="Plan an instruction with the memory, execute it with a navigation agent in the embedded "
        "simulator, and print each subgoal as it goes.",
    )
    _common(run)
    run.add_argument("instruction", help="the task, e.g. \"go to the fridge, then to the sofa\"")
    run.add_argument("--start", nargs=3, type=float, metavar=("X", "Y", "YAW"),
                     help="start pose in map (m, m, rad); default: the simulator's seeded start")
    run.set_defaults(func=_run_task)
    ev = groups["eval"].add_parser(
        "tasks", help="run a task set (tasks/1) and report task success and SPL",
        description="Run every task of a task set with the planner, the memory and an agent; print task "
        "success, step success and SPL (one JSON object last with --json).",
    )
    _common(ev)
    ev.add_argument("--tasks", required=True, help="task set file (embodied-stack.tasks/1)")
    ev.add_argument("--max-tasks", type=int, default=None, help="run only the first N tasks")
    ev.add_argument("--json", action="store_true", help="print one JSON object last on stdout")
    ev.set_defaults(func=_eval_tasks)
    from embodied_stack.eval.search_cli import add_parser

    add_parser(groups["eval"])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scene", required=True, help="scene/1 file")
    p.add_argument("--memory", required=True, help="memory store directory (built by eval memory / demo / memory ingest)")
    p.add_argument("--agent", default="oracle", help="oracle | random[:SEED] | policy:CKPT[?budget=B] | onnx:DIR")
    p.add_argument("--max-steps", type=int, default=500, help="steps per subgoal before it counts as failed")
    p.add_argument("--min-score", type=float, default=0.25, help="memory score below which the planner explores")
    p.add_argument("--seed", type=int, default=0, help="seed of the start pose")
    p.add_argument("--search", choices=("memory", "frontier"), default="memory",
                   help="how EXPLORE/SEARCH subgoals look for what the memory lacks: memory-guided (default) or "
                   "nearest frontier first (the baseline)")
    p.add_argument("--search-steps", type=int, default=600, help="action budget of one search")


class TaskSession:
    """Scene, simulator, memory, planner factory and agent, built once for many tasks."""

    def __init__(self, scene_path: str, memory_dir: str, agent_spec: str, seed: int = 0,
                 memory: Any = None) -> None:
        from embodied_stack.eval.nav import DEFAULT_RENDER_SIZE, make_agent
        from embodied_stack.memory.semantic_memory import SemanticMemory
        from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
        from embodied_stack.sim.scene import load_scene

        self.scene = load_scene(scene_path)
        base = SimConfig(seed=seed)
        probe = EmbeddedSim(self.scene, base.replace(width=32, height=24))
        self.agent = make_agent(agent_spec, navmap=probe.navmap, sim_config=base, seed=seed)
        # the robot's camera: perception on the way and the search need this resolution (a
        # policy that reads smaller frames resizes them itself)
        agent_w, agent_h = getattr(self.agent, "render_size", None) or DEFAULT_RENDER_SIZE
        width, height = max(agent_w, DEFAULT_RENDER_SIZE[0]), max(agent_h, DEFAULT_RENDER_SIZE[1])
        self.sim = EmbeddedSim(self.scene, base.replace(width=width, height=height), navmap=probe.navmap)
        if memory is None:
            directory = Path(memory_dir).resolve()
            memory = SemanticMemory.load(directory, root=directory.parent, spatial=self.sim.navmap)
        self.memory = memory

    def planner(self, min_score: float) -> Any:
        from embodied_stack.planning.planner import Planner, PlannerConfig

        return Planner(self.memory, PlannerConfig(min_score=min_score))

    def executors(self, mode: str, max_steps: int) -> dict[str, Any]:
        """``perceive`` (perception on the way, feeding the memory) and ``explore`` (the search)
        for :func:`~embodied_stack.planning.runner.run_task`: the same explorer as the demo."""
        from embodied_stack.eval.perceive import MemoryPerceiver
        from embodied_stack.eval.survey import explore_config_for
        from embodied_stack.planning.runner import make_search
        from embodied_stack.planning.search import SearchConfig

        perceiver = MemoryPerceiver(self.sim, self.memory)
        explore = make_search(self.memory, perceiver, config=SearchConfig(mode=mode, max_steps=max_steps),
                              explore_config=explore_config_for(self.sim))
        return {"perceive": perceiver, "explore": explore}


def _printer(stream: Any) -> Any:
    from embodied_stack.planning.types import (
        FeedbackStatus,
        Plan,
        PlannerStatus,
        Subgoal,
        SubgoalFeedback,
    )

    last_status: list[str] = []  # the runner repeats the final status once the plan is done

    def show(event: str, payload: object) -> None:
        if event == "plan" and isinstance(payload, Plan):
            last_status.clear()
            print(f"plan {payload.id}: {len(payload.subgoals)} subgoal(s) for {payload.instruction!r}", file=stream)
        elif event == "subgoal" and isinstance(payload, Subgoal):
            pose = payload.target_pose
            where = f" -> ({pose.x:.2f}, {pose.y:.2f})" if pose else ""
            print(f"  [{payload.id}] {payload.type.name.lower()} '{payload.label}'{where}  {payload.message}",
                  file=stream)
            if payload.answer:
                print(f"      answer: {payload.answer}", file=stream)
        elif event == "feedback" and isinstance(payload, SubgoalFeedback) and payload.status != FeedbackStatus.PROGRESS:
            print(f"      {payload.status.name.lower()}: {payload.message}", file=stream)
        elif event == "status" and isinstance(payload, PlannerStatus) and payload.state.name in ("SUCCEEDED", "FAILED"):
            line = f"  planner: {payload.state.name.lower()} ({payload.message})"
            if last_status != [line]:
                print(line, file=stream)
                last_status[:] = [line]

    return show


def _start_pose(session: TaskSession, start: list[float] | None, seed: int) -> Any:
    import numpy as np

    from embodied_stack.types import Pose2D

    if start:
        return Pose2D(*start)
    rng = np.random.default_rng(seed)
    xy = session.sim.navmap.sample_navigable(rng, 1)[0]
    return Pose2D(float(xy[0]), float(xy[1]), float(rng.uniform(-math.pi, math.pi)))


def _run_task(args: argparse.Namespace) -> int:
    from embodied_stack.planning.runner import RunnerConfig, run_task

    session = TaskSession(args.scene, args.memory, args.agent, args.seed)
    session.sim.reset(_start_pose(session, args.start, args.seed))
    run = run_task(session.sim, session.planner(args.min_score), session.agent, args.instruction,
                   config=RunnerConfig(max_steps_per_subgoal=args.max_steps), listener=_printer(sys.stdout),
                   **session.executors(args.search, args.search_steps))
    print(f"{'succeeded' if run.succeeded else 'failed'} in {run.steps} steps, {run.wall_s:.1f} s")
    return 0 if run.succeeded else 1


def _eval_tasks(args: argparse.Namespace) -> int:
    import numpy as np

    from embodied_stack.eval.tasks import load_tasks, score_task
    from embodied_stack.planning.runner import RunnerConfig, run_task

    session = TaskSession(args.scene, args.memory, args.agent, args.seed)
    task_set = load_tasks(args.tasks, scene=session.scene)
    tasks = task_set.tasks[: args.max_tasks] if args.max_tasks else task_set.tasks
    scores, steps, wall = [], 0, 0.0
    for i, task in enumerate(tasks):
        session.sim.reset(_start_pose(session, None, args.seed + i))
        run = run_task(session.sim, session.planner(args.min_score), session.agent, task.instruction,
                       config=RunnerConfig(max_steps_per_subgoal=args.max_steps),
                       **session.executors(args.search, args.search_steps))
        score = score_task(session.scene, session.sim.navmap, task, run, task_set.success_distance_m)
        scores.append(score)
        steps += run.steps
        wall += run.wall_s
        print(f"{task.id}: {'ok  ' if score.success else 'FAIL'} spl {score.spl:.2f} "
              f"({score.planner_state.lower()}) {task.instruction}", file=sys.stderr)
    step_scores = [s for sc in scores for s in sc.steps]
    summary: dict[str, Any] = {
        "scene": session.scene.name, "agent": args.agent, "tasks": len(scores),
        "task_success": float(np.mean([s.success for s in scores])) if scores else 0.0,
        "step_success": float(np.mean([s.reached for s in step_scores])) if step_scores else 0.0,
        "spl": float(np.mean([s.spl for s in scores])) if scores else 0.0,
        "steps": steps, "wall_s": wall, "wall_s_per_step": wall / max(steps, 1), "search": args.search,
        "status_agrees": float(np.mean([s.status_agrees for s in scores])) if scores else 0.0,
    }
    stats = getattr(session.agent, "exit_summary", None)
    if callable(stats):
        summary["agent"] = {"spec": args.agent, **stats()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=1))
    return 0
