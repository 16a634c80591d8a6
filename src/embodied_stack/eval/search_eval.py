"""Search episodes: find what the memory has not seen, memory-guided vs frontier-only.

An episode set is built per scene, deterministically: the robot surveys the scene for a short
budget (``survey_steps``) from a seeded start, the way a robot that has been around only a
while would, and its memory holds what it perceived on the way. The targets are categories of
the scene that the survey never perceived (they stand in rooms it did not get to), reachable
from where the survey ended, at least ``min_geodesic_m`` away. Ground truth (the scene's objects
and the true navigable map) picks the targets and scores the runs; the robot sees none of it:
the searcher works on its own depth-built map (kept from the survey), its memory and its
perception.

Each episode runs the task "find the <target>" through the planner and the task runner (search,
then the approach with the agent, the sighting verified), once per search mode, from a fresh
copy of the survey's memory, and is scored with :func:`~embodied_stack.eval.tasks.score_task`
(success within ``success_distance_m`` of the target, SPL from the geodesic, steps).

Splits are by scene (:data:`SPLITS`): weights are tuned on ``dev`` and reported on ``test``.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.eval.tasks import Task, TaskStep, score_task

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
SPLITS: dict[str, tuple[str, ...]] = {
    # shipped scene names (sim/scenes) or gen:SEED (a generated home)
    "dev": ("home_0001", "office_0003", "gen:1001", "gen:1002", "gen:1003"),
    "test": ("home_0002", "home_0011", "office_0004", "gen:2001", "gen:2002", "gen:2003"),
}


@dataclass(frozen=True)
class SearchEvalConfig:
    survey_steps: int = 120
    episodes_per_scene: int = 3
    min_geodesic_m: float = 3.0
    search_steps: int = 600
    approach_steps: int = 300
    width: int = 160
    height: int = 120
    seed: int = 0
    success_distance_m: float = 1.0


@dataclass
class EpisodeResult:
    scene: str
    target: str
    mode: str
    success: bool
    spl: float
    steps: int
    geodesic_m: float
    planner_state: str
    status_agrees: bool
    chosen: list[str] = field(default_factory=list)
    kind: str = "unsurveyed"
    planner_message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


def load_split_scene(name: str) -> Any:
    """A shipped scene by name, or a generated home for ``gen:SEED``."""
    from embodied_stack.sim.generate import generate_scene
    from embodied_stack.sim.scene import load_scene

    if name.startswith("gen:"):
        return generate_scene(int(name[4:]), "home")
    path = REPO_ROOT / "sim" / "scenes" / f"{name}.scene.json"
    if not path.is_file():
        shared = REPO_ROOT.parent / "shared" / "data" / f"scene_{name}" / f"{name}.scene.json"
        path = shared if shared.is_file() else path
    return load_scene(path)


def missed_targets(scene: Any, navmap: Any, memory: Any, start_xy: np.ndarray, cfg: SearchEvalConfig,
                   knowledge: Any) -> list[tuple[str, float]]:
    """Categories the memory never perceived, reachable and far enough (ground truth: episode
    generation only). Returns (category, geodesic) pairs, in a seeded order."""
    from embodied_stack.memory.knowledge import normalize_phrase
    from embodied_stack.sim.errors import NavigationError
    from embodied_stack.sim.goals import GoalRegion

    seen = {knowledge.canonical(normalize_phrase(v.name)) or normalize_phrase(v.name) for v in memory.iter_leaves()}
    out = []
    for category in sorted({o.category for o in scene.objects}):
        name = normalize_phrase(category)
        if (knowledge.canonical(name) or name) in seen or not knowledge.typical_rooms(name):
            continue
        try:
            region = GoalRegion.for_targets(scene, navmap, start_xy=start_xy, categories=(category,),
                                            success_distance_m=cfg.success_distance_m)
            geodesic = float(region.distance(start_xy))
        except NavigationError:
            continue
        if math.isfinite(geodesic) and geodesic >= cfg.min_geodesic_m:
            out.append((category, geodesic))
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(out))
    return [out[int(i)] for i in order]


VARIANTS: dict[str, tuple[str, dict[str, bool]]] = {
    # name: (search mode, RankerConfig switches): the method, the baseline and the ablations
    "memory": ("memory", {}),
    "frontier": ("frontier", {}),
    "memory-no-rooms": ("memory", {"use_rooms": False}),
    "memory-no-objects": ("memory", {"use_objects": False}),
}


def search_config(variant: str, max_steps: int, overrides: dict[str, Any] | None = None) -> Any:
    """The :class:`~embodied_stack.planning.search.SearchConfig` of a variant (see :data:`VARIANTS`)."""
    from embodied_stack.planning.places import RankerConfig
    from embodied_stack.planning.search import SearchConfig

    if variant not in VARIANTS:
        raise ValueError(f"unknown search variant {variant!r}; one of {', '.join(VARIANTS)}")
    mode, switches = VARIANTS[variant]
    return SearchConfig(mode=mode, max_steps=max_steps, ranker=RankerConfig(**switches), **(overrides or {}))


def run_scene(name: str, modes: tuple[str, ...], cfg: SearchEvalConfig, embedder: Any, agent_spec: str = "oracle",
              search_overrides: dict[str, Any] | None = None, episodes: list[Any] | None = None,
              moved_per_scene: int = 1) -> tuple[list[Any], list[EpisodeResult]]:
    """Survey one scene briefly, then run every episode once per variant in ``modes`` (see the
    module docstring). ``episodes`` (:class:`~embodied_stack.eval.search_set.SearchEpisode`) come
    from a saved set; None picks them after the survey (``episodes_per_scene`` never-surveyed
    targets and ``moved_per_scene`` moved ones). Returns the episodes and the results."""
    from embodied_stack.eval.nav import make_agent
    from embodied_stack.eval.perceive import MemoryPerceiver
    from embodied_stack.eval.search_set import SearchEpisode, pick_moves
    from embodied_stack.eval.survey import explore_config_for, survey
    from embodied_stack.memory.knowledge import default_knowledge, normalize_phrase
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.planning.planner import Planner
    from embodied_stack.planning.runner import RunnerConfig, make_search, run_task
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig

    scene = load_split_scene(name)
    sim = EmbeddedSim(scene, SimConfig(width=cfg.width, height=cfg.height, seed=cfg.seed))
    explore_cfg = explore_config_for(sim, cfg.survey_steps)
    knowledge = default_knowledge()
    results: list[EpisodeResult] = []
    with tempfile.TemporaryDirectory(prefix="search_eval_") as tmp:
        root = Path(tmp)
        base = SemanticMemory.open(root / "survey", root=root, create=True, embedder=embedder)
        surveyed = survey(sim, base, explore_config=explore_cfg, seed=cfg.seed)
        end = surveyed.trajectory[-1]
        spatial = base.spatial  # the rooms of the robot's own map (set by the survey)
        if episodes is None:
            missed = missed_targets(scene, sim.navmap, base, end.xy, cfg, knowledge)[: cfg.episodes_per_scene]
            episodes = [SearchEpisode(f"{name}/u{i + 1}", "unsurveyed", c) for i, (c, _g) in enumerate(missed)]
            seen = {knowledge.canonical(normalize_phrase(v.name)) or normalize_phrase(v.name) for v in base.iter_leaves()}
            episodes += pick_moves(scene, sim.navmap, seen, knowledge, end.xy, moved_per_scene, cfg.seed,
                                   cfg.min_geodesic_m, prefix=name)
        base.close()
        for episode in episodes:
            ep_scene = episode.apply(scene)
            ep_sim = sim if ep_scene is scene else EmbeddedSim(ep_scene, sim.config)
            agent = make_agent(agent_spec, navmap=ep_sim.navmap, sim_config=ep_sim.config)
            try:
                from embodied_stack.sim.goals import GoalRegion

                geodesic = float(GoalRegion.for_targets(ep_scene, ep_sim.navmap, start_xy=end.xy,
                                                        categories=(episode.target,),
                                                        success_distance_m=cfg.success_distance_m).distance(end.xy))
            except Exception:  # noqa: BLE001 - an unreachable target is scored as such below
                geodesic = math.inf
            for mode in modes:
                copy = root / f"ep_{mode}"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(root / "survey", copy)
                memory = SemanticMemory.load(copy, root=root, embedder=embedder, spatial=spatial)
                grid = _copy_grid(surveyed.exploration.grid) if surveyed.exploration is not None else None
                ep_sim.reset(end)
                perceiver = MemoryPerceiver(ep_sim, memory, seed=cfg.seed)
                search_cfg = search_config(mode, cfg.search_steps, search_overrides)
                explorer = make_search(memory, perceiver, config=search_cfg, explore_config=explore_cfg, grid=grid)
                instruction = f"find the {episode.target.replace('_', ' ')}"
                chosen: list[str] = []

                def tracked(env: Any, subgoal: Any, _explore: Any = explorer, _chosen: list[str] = chosen) -> Any:
                    outcome = _explore(env, subgoal)
                    _chosen.extend(outcome.chosen)
                    return outcome

                run = run_task(ep_sim, Planner(memory), agent, instruction, explore=tracked, perceive=perceiver,
                               config=RunnerConfig(max_steps_per_subgoal=cfg.approach_steps))
                task = Task(episode.id, instruction, (TaskStep(target_categories=(episode.target,)),))
                score = score_task(ep_scene, ep_sim.navmap, task, run, cfg.success_distance_m)
                results.append(EpisodeResult(name, episode.target, mode, score.success, score.spl, run.steps, geodesic,
                                             score.planner_state, score.status_agrees, chosen, episode.kind,
                                             run.status.message if run.status else ""))
                logger.info("%s %s (%s) %s: %s spl %.2f steps %d; %s", name, episode.target, episode.kind, mode,
                            "ok" if score.success else "FAIL", score.spl, run.steps,
                            " | ".join(f"{r.type.name.lower()} {r.outcome.name.lower()}: {r.message} -> "
                                       f"({r.end.x:.1f}, {r.end.y:.1f})" for r in run.runs))
                memory.close()
    return episodes, results


def _copy_grid(grid: Any) -> Any:
    import copy

    return copy.deepcopy(grid)


def summarise(results: list[EpisodeResult], modes: tuple[str, ...]) -> dict[str, Any]:
    """Success, SPL, steps and status agreement per variant (overall and per episode kind), and
    the SPL ratio of each variant over frontier-only (when it ran)."""

    def stats(rs: list[EpisodeResult]) -> dict[str, float]:
        return {
            "success": float(np.mean([r.success for r in rs])) if rs else 0.0,
            "spl": float(np.mean([r.spl for r in rs])) if rs else 0.0,
            "steps": float(np.mean([r.steps for r in rs])) if rs else 0.0,
            "status_agrees": float(np.mean([r.status_agrees for r in rs])) if rs else 0.0,
        }

    out: dict[str, Any] = {"episodes": len({(r.scene, r.target, r.kind) for r in results})}
    kinds = sorted({r.kind for r in results})
    for mode in modes:
        rs = [r for r in results if r.mode == mode]
        out[mode] = stats(rs)
        out[mode]["by_kind"] = {k: {"n": sum(r.kind == k for r in rs), **stats([r for r in rs if r.kind == k])}
                                for k in kinds}
    if "frontier" in modes and out["frontier"]["spl"] > 0:
        out["spl_ratio_vs_frontier"] = {m: out[m]["spl"] / out["frontier"]["spl"] for m in modes if m != "frontier"}
    return out
