"""``embodied-stack demo``: the whole mission on the embedded simulator, in one command.

1. load a scene (shipped, ``--scene`` or ``--seed``) and draw its map;
2. explore it with frontier exploration, perceiving as it goes, and build the semantic forest;
3. answer spoken-style questions through the memory service (the ROS ``memory/query`` code path);
4. execute three tasks through the planner and the early-exit policy;
5. write the memory store, a map with trajectories and regions, an MCAP recording and
   ``summary.json``, and say where each is.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from embodied_stack.errors import EmbodiedStackError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "sim"
DEFAULT_SCENE = SHIPPED / "scenes" / "home_0001.scene.json"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "data" / "policy" / "vla_default.safetensors"
"""The policy checkpoint shipped in the package (``policy:default``; the same path as
:data:`embodied_stack.policy.agent.DEFAULT_CHECKPOINT`, repeated here to keep torch out of the CLI's start-up)."""
OUTPUTS = ("memory", "scene_map.png", "run_map.png", "run.mcap", "summary.json", "onnx")


class DemoError(EmbodiedStackError):
    """The demo cannot start (missing scene or checkpoint, output folder in use)."""


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups[""].add_parser(
        "demo", help="the end-to-end demo: explore, remember, answer, act (embedded simulator)",
        description="Explore a scene, build the semantic-forest memory, answer questions through the memory "
        "service, run three tasks with the planner and the early-exit policy, and write the outputs.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--scene", help=f"scene/1 file (default: {DEFAULT_SCENE.relative_to(REPO_ROOT)})")
    src.add_argument("--seed", type=int, help="generate a home with this seed instead")
    src.add_argument("--habitat", metavar="CONFIG",
                     help="run on habitat-sim (where installed) with the CONFIG.yaml `sim export-habitat` wrote")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--overwrite", action="store_true", help="replace the demo's outputs in --out")
    p.add_argument("--agent", default=None,
                   help="navigation agent (default: policy:default, the checkpoint shipped in the package)")
    p.add_argument("--budget", default=None, help="early-exit average compute budget (e.g. 0.2 = 20%% of the full trunk)")
    p.add_argument("--onnx", action="store_true", help="run the policy and the embedder through onnxruntime")
    p.add_argument("--explore-steps", type=int, default=700, help="exploration step budget")
    p.add_argument("--size", default="256x192", help="camera resolution for exploration and the recording")
    p.add_argument("--questions", type=int, default=8, help="questions to ask")
    p.add_argument("--tasks", type=int, default=3, help="tasks to execute")
    p.add_argument("--no-record", action="store_true", help="do not write the MCAP recording")
    p.set_defaults(func=run_demo)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise DemoError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 256x192") from err
    if not (16 <= w <= 1920 and 16 <= h <= 1440):
        raise DemoError(f"--size {text!r}: expected 16..1920 x 16..1440 pixels")
    return w, h


def _prepare_out(out: Path, overwrite: bool) -> None:
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if existing and not overwrite:
        raise DemoError(f"{out} already holds demo outputs ({', '.join(existing)}); pass --overwrite to "
                        "replace them or --out to write elsewhere")
    for name in existing:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _load_scene(args: argparse.Namespace, out: Path) -> Any:
    from embodied_stack.sim.generate import generate_scene
    from embodied_stack.sim.scene import load_scene, save_scene

    if args.seed is not None:
        scene = generate_scene(args.seed, "home")
        save_scene(scene, out / f"{scene.name}.scene.json")
        return scene
    path = Path(args.scene) if args.scene else DEFAULT_SCENE
    if not path.is_file():
        raise DemoError(f"scene file {path} not found")
    return load_scene(path)


def _say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    out = Path(args.out).resolve()
    width, height = _size(args.size)
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
    from embodied_stack.sim.mapviz import draw_scene_map

    if args.habitat:
        # habitat-sim renders and moves the robot; the scene exported by `sim export-habitat` gives the
        # rooms, objects and navigable map the memory, the questions and the tasks are scored against
        from embodied_stack.sim.envs import HABITAT_PREFIX, make_env, scene_of

        spec = args.habitat if args.habitat.startswith(HABITAT_PREFIX) else HABITAT_PREFIX + args.habitat
        scene = scene_of(spec)
        _prepare_out(out, args.overwrite)
        sim: Any = make_env(spec, width=width, height=height, seed=0)
    else:
        _prepare_out(out, args.overwrite)
        scene = _load_scene(args, out)
        sim = EmbeddedSim(scene, SimConfig(width=width, height=height, seed=0))
    summary: dict[str, Any] = {"scene": scene.name, "simulator": "habitat" if args.habitat else "embedded",
                               "outputs": {}}
    _say(f"[1/5] scene {scene.name}: {len(scene.rooms)} rooms, {len(scene.objects)} objects, "
         f"{sim.navmap.free_area_m2():.0f} m2 navigable")
    scene_png = draw_scene_map(scene, out / "scene_map.png", navmap=sim.navmap, title=f"{scene.name}: the scene")
    _say(f"      map: {scene_png}")

    embedder, agent_spec = _backends(args, out)
    memory, survey_result, recorder = _explore(args, out, sim, embedder, summary)
    try:
        _questions(args, scene, memory, summary)
        task_runs = _tasks(args, scene, sim, memory, agent_spec, recorder, survey_result, summary)
        _outputs(out, scene, sim, memory, survey_result, task_runs, recorder, summary)
    finally:
        if recorder is not None:
            recorder.close()
    summary["wall_s"] = round(time.perf_counter() - t_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default) + "\n", encoding="utf-8")
    memory.close()
    _say(f"\ndone in {summary['wall_s']:.0f} s; outputs in {out}:")
    for name, path in summary["outputs"].items():
        _say(f"  {name:10s} {path}")
    _say(f"  {'summary':10s} {out / 'summary.json'}")
    return 0


def _backends(args: argparse.Namespace, out: Path) -> tuple[Any, str]:
    """The text embedder and the agent spec (torch by default, onnxruntime with --onnx)."""
    from embodied_stack.text.embedders import load_embedder

    _quiet_progress_bars()

    spec = args.agent or f"policy:{DEFAULT_CHECKPOINT}"
    if args.agent is None and not DEFAULT_CHECKPOINT.is_file():
        _say(f"      no policy checkpoint at {DEFAULT_CHECKPOINT}: the tasks run with the oracle (shortest-path "
             "follower); train one with `embodied-stack policy train`")
        spec = "oracle"
    if spec.startswith("policy:") and not Path(spec[len("policy:"):].split("?")[0]).is_file():
        raise DemoError(f"policy checkpoint {spec[len('policy:'):]} not found; train one with "
                        "`embodied-stack policy train` or pass --agent oracle")
    if args.budget and spec.startswith("policy:") and "?" not in spec:
        spec = f"{spec}?budget={args.budget}"
    if not args.onnx:
        return load_embedder(None), spec
    from embodied_stack.deploy.embedder import export_embedder
    from embodied_stack.deploy.policy_export import export_checkpoint

    if not spec.startswith("policy:"):
        raise DemoError(f"--onnx exports a policy checkpoint; --agent {spec!r} is not one")
    checkpoint, _, options = spec[len("policy:"):].partition("?")
    onnx_dir = out / "onnx"
    _say(f"      exporting the policy and the embedder to ONNX in {onnx_dir} ...")
    embedder_dir = onnx_dir / "embedder"
    export_embedder(embedder_dir)
    policy_dir = onnx_dir / "policy"
    export_checkpoint(Path(checkpoint), policy_dir)
    return load_embedder(f"onnx:{embedder_dir}"), f"onnx:{policy_dir}" + (f"?{options}" if options else "")


def _explore(args: argparse.Namespace, out: Path, sim: Any, embedder: Any, summary: dict[str, Any]) -> tuple[Any, Any, Any]:
    from tqdm import tqdm

    from embodied_stack.eval.survey import explore_config_for, survey
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.semantic_memory import SemanticMemory

    _say(f"[2/5] exploring with frontier exploration, perceiving every frame ({sim.config.width}x{sim.config.height}), "
         "building the semantic forest")
    memory = SemanticMemory.open(out / "memory", root=out, create=True, config=MemoryConfig(memory_root=str(out)),
                                 embedder=embedder)  # rooms: the robot's own map, set by the survey
    recorder = None if args.no_record else _Recorder(out / "run.mcap", sim)
    bar = tqdm(total=args.explore_steps, unit="step", file=sys.stderr, dynamic_ncols=True, desc="explore")

    def progress(p: Any) -> None:
        bar.total = p.max_steps
        bar.n = p.steps
        bar.set_postfix(coverage=f"{p.coverage:.0%}" if not math.isnan(p.coverage) else "-",
                        leaves=p.leaves, nodes=p.nodes, refresh=False)
        bar.refresh()

    result = survey(sim, memory, explore_config=explore_config_for(sim, args.explore_steps), progress=progress,
                    on_frame=recorder.frame if recorder else None)
    bar.close()
    stats = memory.stats()
    summary["exploration"] = {**result.stats.to_dict(), "nodes_per_level": stats.nodes_per_level}
    _say(f"      coverage {result.stats.coverage:.1%} in {result.stats.steps} steps; memory: {stats.leaves} leaves, "
         f"{stats.nodes} parent nodes over {stats.levels} levels ({result.stats.total_s:.0f} s)")
    return memory, result, recorder


def _questions(args: argparse.Namespace, scene: Any, memory: Any, summary: dict[str, Any]) -> None:
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.service import MemoryService
    from embodied_stack.sim.queries import query_success

    queries = _query_set(scene)
    picked = _pick_questions(queries, args.questions) if queries else []
    service = MemoryService(MemoryConfig(memory_root=str(Path(args.out).resolve())),
                            open_memory=lambda *_a, **_k: memory)
    _say(f"\n[3/5] questions through the memory service ({len(picked)})")
    answers = []
    for q in picked:
        outcome = service.query(q.text, None, 3, "", None)
        if not outcome.success:
            _say(f"  ? {q.text}\n    error: {outcome.error}")
            answers.append({"id": q.id, "text": q.text, "error": outcome.error})
            continue
        result = outcome.value
        top = result.hits[0] if result.hits else None
        ok = bool(top) and query_success(scene, q, top.position, queries.radius_of(q))
        _say(f"  ? {q.text}   [{result.kind.value}]")
        _say(f"    {result.answer}")
        if top is not None:
            chain = " < ".join(name for _id, name in top.ancestors) or "-"
            pose = top.target_pose
            _say(f"    -> go to ({pose.x:.2f}, {pose.y:.2f}, yaw {math.degrees(pose.yaw):.0f} deg); "
                 f"{top.name} (level {top.level}) in {chain}; {'correct' if ok else 'wrong'} "
                 f"({result.latency_s * 1000:.0f} ms)")
        answers.append({"id": q.id, "text": q.text, "kind": q.kind, "detected_kind": result.kind.value,
                        "answer": result.answer, "correct": ok, "latency_ms": result.latency_s * 1000,
                        "top": None if top is None else {"name": top.name, "level": top.level,
                                                         "target_pose": [top.target_pose.x, top.target_pose.y,
                                                                         top.target_pose.yaw],
                                                         "chain": [n for _i, n in top.ancestors]}})
    scored = [a for a in answers if "correct" in a]
    summary["questions"] = {"asked": len(answers), "correct": sum(a["correct"] for a in scored),
                            "success": (sum(a["correct"] for a in scored) / len(scored)) if scored else None,
                            "answers": answers}


def _query_set(scene: Any) -> Any:
    from embodied_stack.sim.queries import load_queries

    path = SHIPPED / "queries" / f"{scene.name}.queries.json"
    return load_queries(path, scene=scene) if path.is_file() else None


def _pick_questions(queries: Any, n: int) -> list[Any]:
    """A spread over the kinds, in file order: explicit, implicit and global, round robin."""
    by_kind: dict[str, list[Any]] = {}
    for q in queries.queries:
        by_kind.setdefault(q.kind, []).append(q)
    picked: list[Any] = []
    while len(picked) < n and any(by_kind.values()):
        for kind in ("explicit", "implicit", "global"):
            if by_kind.get(kind) and len(picked) < n:
                picked.append(by_kind[kind].pop(0))
    return picked


def _tasks(args: argparse.Namespace, scene: Any, sim: Any, memory: Any, agent_spec: str, recorder: Any,
           survey_result: Any, summary: dict[str, Any]) -> list[Any]:
    from embodied_stack.eval.nav import DEFAULT_RENDER_SIZE, make_agent
    from embodied_stack.eval.perceive import MemoryPerceiver
    from embodied_stack.eval.survey import explore_config_for
    from embodied_stack.eval.tasks import score_task, tasks_from_queries
    from embodied_stack.eval.tasks_cli import _printer
    from embodied_stack.planning.planner import Planner
    from embodied_stack.planning.runner import make_search, run_task
    from embodied_stack.sim.embedded import EmbeddedSim

    queries = _query_set(scene)
    if queries is None or args.tasks == 0:
        _say("\n[4/5] no query set for this scene: no tasks")
        summary["tasks"] = {"run": 0}
        return []
    task_set = tasks_from_queries(scene, queries, n=args.tasks)
    kept = task_set.tasks[: max(args.tasks - 1, 0)]
    taken = {c for t in kept for step in t.steps for c in step.target_categories}
    missed = _missed_task(scene, sim, memory, survey_result, exclude=taken) if args.tasks >= 2 else None
    if missed is not None:  # --tasks N (N >= 2) runs N tasks, the last of them the search
        task_set.tasks = kept + [missed]
    agent = make_agent(agent_spec, navmap=sim.navmap, sim_config=sim.config)
    width, height = getattr(agent, "render_size", None) or DEFAULT_RENDER_SIZE
    if isinstance(sim, EmbeddedSim):
        # the robot's camera as it explored: perception on the way and the search need its
        # resolution; the policy resizes to its own input
        task_sim = EmbeddedSim(scene, sim.config, navmap=sim.navmap)
        on_step = (lambda _pose, f: recorder.frame(f)) if recorder else None
    else:  # habitat-sim: one simulator per process; the policy resizes its frames itself
        task_sim, (width, height) = sim, (sim.config.width, sim.config.height)
        on_step = (lambda _pose, f: recorder.frame(f)) if recorder else None
    task_sim.reset(survey_result.trajectory[-1])
    _say(f"\n[4/5] {len(task_set.tasks)} tasks with the planner and {agent_spec} ({width}x{height} input)")
    runs, scores = [], []
    # perception on the way (it feeds the memory) and the memory-guided search for EXPLORE/SEARCH
    # subgoals, over the map the robot built while exploring: the same explorer as `run task`
    perceiver = MemoryPerceiver(task_sim, memory)
    grid = survey_result.exploration.grid if getattr(survey_result, "exploration", None) is not None else None
    explore = make_search(memory, perceiver, explore_config=explore_config_for(task_sim), grid=grid,
                          on_step=on_step)
    for task in task_set.tasks:
        _say(f"  task {task.id}: {task.instruction!r}")
        run = run_task(task_sim, Planner(memory), agent, task.instruction, listener=_printer(sys.stdout),
                       on_step=on_step, explore=explore, perceive=perceiver)
        score = score_task(scene, sim.navmap, task, run, task_set.success_distance_m)
        _say(f"    -> {'success' if score.success else 'failure'}, SPL {score.spl:.2f}, {run.steps} steps")
        runs.append(run)
        scores.append({"id": task.id, "instruction": task.instruction, "success": score.success, "spl": score.spl,
                       "steps": run.steps, "planner": score.planner_state,
                       "step_scores": [vars(s) for s in score.steps]})
    compute = agent.exit_summary() if hasattr(agent, "exit_summary") else {}
    reduction = compute.get("trunk_flops_reduction_x")
    if reduction:
        _say(f"  early exit: {reduction:.1f}x fewer trunk FLOPs per step than the full model "
             f"({compute.get('trunk_flops_mean', 0) / 1e6:.1f} vs {compute.get('full_trunk_flops', 0) / 1e6:.1f} MFLOPs)")
    summary["tasks"] = {"run": len(scores), "success": sum(s["success"] for s in scores) / max(len(scores), 1),
                        "spl": sum(s["spl"] for s in scores) / max(len(scores), 1), "agent": agent_spec,
                        "compute": compute, "results": scores}
    return runs


def _outputs(out: Path, scene: Any, sim: Any, memory: Any, survey_result: Any, task_runs: list[Any],
             recorder: Any, summary: dict[str, Any]) -> None:
    import numpy as np

    from embodied_stack.sim.mapviz import draw_scene_map

    _say("\n[5/5] writing outputs")
    trajectories = [("exploration", np.array([[p.x, p.y] for p in survey_result.trajectory]))]
    for i, run in enumerate(task_runs, start=1):
        if len(run.trajectory) > 1:
            trajectories.append((f"task {i}", np.array([[p.x, p.y] for p in run.trajectory])))
    regions = []
    for node in memory.iter_nodes():
        if node.level == 1:
            lo, hi = node.bbox_min, node.bbox_max
            regions.append((node.name, np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])))
    run_png = draw_scene_map(scene, out / "run_map.png", navmap=sim.navmap, trajectories=trajectories,
                             regions=regions, title=f"{scene.name}: exploration, tasks and memory regions")
    summary["outputs"] = {"memory": str(out / "memory"), "scene_map": str(out / "scene_map.png"),
                          "run_map": str(run_png)}
    if recorder is not None:
        recorder.markers(memory)
        summary["outputs"]["recording"] = str(recorder.path)
        summary["recording"] = {"frames": recorder.frames}
    summary["memory"] = {k: v for k, v in vars(memory.stats()).items()}


def _missed_task(scene: Any, sim: Any, memory: Any, survey_result: Any, exclude: set[str] = frozenset()) -> Any:  # type: ignore[assignment]
    """A search for something the survey never perceived and no other task is about (the scene
    file picks it, as it picks every task's ground truth; the robot only gets the instruction)."""
    from embodied_stack.eval.search_eval import SearchEvalConfig, missed_targets
    from embodied_stack.eval.tasks import Task, TaskStep
    from embodied_stack.memory.knowledge import default_knowledge

    end = survey_result.trajectory[-1]
    found = missed_targets(scene, sim.navmap, memory, end.xy, SearchEvalConfig(min_geodesic_m=2.0), default_knowledge())
    found = [f for f in found if f[0] not in exclude]
    if not found:
        return None
    category = found[0][0]
    return Task("search", f"find the {category.replace('_', ' ')}", (TaskStep(target_categories=(category,)),))


class _Recorder:
    """The run as a ROS 2 MCAP bag: every frame of exploration and tasks, then the memory's markers."""

    def __init__(self, path: Path, sim: Any) -> None:
        from embodied_stack.bags.record import RecordConfig, SimRecorder
        from embodied_stack.bags.writer import BagWriter

        self.path = path
        self.writer = BagWriter(path).open()
        self.recorder = SimRecorder(self.writer, sim, RecordConfig())
        self.frames = 0
        self._closed = False

    def frame(self, frame: Any) -> None:
        self.recorder.write_frame(frame)
        self.frames += 1

    def markers(self, memory: Any) -> None:
        from embodied_stack.bags.sim_runs import memory_nodes

        self.writer.write_markers(self.recorder.config.markers_topic, memory_nodes(memory), self.recorder.stats.end_s)
        self.close()

    def close(self) -> None:
        if not self._closed:
            self.writer.close()
            self._closed = True


def _quiet_progress_bars() -> None:
    """No third-party progress bars ("Loading weights ...") between the demo's lines."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
    except (ImportError, AttributeError):  # transformers absent or without the switch
        pass


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
