"""The navigation evaluation loop behind ``embodied-stack eval nav``.

Every episode: reset the simulator at the start pose, give the agent the instruction and the
goal point nearest the start (privileged agents such as the oracle get the whole goal region),
step until the agent calls STOP or the step budget runs out, and score the run with the Habitat
metrics of :mod:`~embodied_stack.sim.metrics`. Agents come from :func:`make_agent` specs:
``oracle``, ``random`` / ``random:SEED``, ``policy:CHECKPOINT`` and ``onnx:DIR[?options]`` (the
last two are provided by :mod:`embodied_stack.policy.agent` and :mod:`embodied_stack.deploy.runtime`,
imported only when asked for).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.env import Env
from embodied_stack.sim.envs import HABITAT_PREFIX, is_habitat_spec
from embodied_stack.sim.episodes import EpisodeSet, load_episodes
from embodied_stack.sim.errors import SimError
from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.metrics import EpisodeMetrics, Goal
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.oracle import OracleAgent, RandomAgent
from embodied_stack.sim.scene import Scene, load_scene
from embodied_stack.types import Action, Agent, AgentInput, Frame

logger = logging.getLogger(__name__)

DEFAULT_RENDER_SIZE = (160, 120)
_EXTERNAL_AGENTS = {
    "policy": ("embodied_stack.policy.agent", "make_agent"),
    "onnx": ("embodied_stack.deploy.runtime", "make_onnx_agent"),
}


@dataclass
class EpisodeResult:
    """One episode's outcome: the metrics, the steps taken and the trajectory (x, y, yaw)."""

    id: str
    instruction: str
    metrics: dict[str, float]
    steps: int
    collisions: int
    stopped: bool
    trajectory: list[tuple[float, float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "instruction": self.instruction, **self.metrics, "steps": self.steps,
                "collisions": self.collisions, "stopped": self.stopped,
                "trajectory": [[round(v, 4) for v in p] for p in self.trajectory]}


@dataclass
class EvalReport:
    """All episodes of a run, the timing, and what the agent reported about itself."""

    scene: str
    agent: str
    width: int
    height: int
    episodes: list[EpisodeResult]
    agent_s: float
    sim_s: float
    agent_stats: dict[str, Any] = field(default_factory=dict)
    ablate: str | None = None

    def summary(self) -> dict[str, Any]:
        n = len(self.episodes)
        steps = sum(e.steps for e in self.episodes)

        def mean(key: str) -> float:
            return float(np.mean([e.metrics[key] for e in self.episodes])) if n else math.nan

        return {
            "scene": self.scene,
            "agent": self.agent,
            "episodes": n,
            "success": mean("success"),
            "spl": mean("spl"),
            "soft_spl": mean("soft_spl"),
            "distance_to_goal": mean("distance_to_goal"),
            "shortest_path_m_mean": mean("shortest_path_m"),
            "path_length_m_mean": mean("path_length_m"),
            "steps_mean": steps / n if n else math.nan,
            "collisions_mean": float(np.mean([e.collisions for e in self.episodes])) if n else math.nan,
            "wall_s_per_step": (self.agent_s + self.sim_s) / steps if steps else math.nan,
            "agent_s_per_step": self.agent_s / steps if steps else math.nan,
            "sim_s_per_step": self.sim_s / steps if steps else math.nan,
            "width": self.width,
            "height": self.height,
            "ablate": self.ablate,
            **({"agent_stats": self.agent_stats} if self.agent_stats else {}),
        }

    def to_dict(self, *, per_episode: bool) -> dict[str, Any]:
        out = self.summary()
        if per_episode:
            out["per_episode"] = [e.to_dict() for e in self.episodes]
        return out


def make_agent(spec: str, *, navmap: NavMap, sim_config: SimConfig | None = None, seed: int = 0) -> Agent:
    """Build the agent a spec names.

    ``oracle`` plans on ``navmap`` with the simulator's action sizes; ``random[:SEED]``;
    ``policy:CHECKPOINT`` and ``onnx:DIR`` are delegated to the policy and deploy packages.
    Raises :class:`SimError` for an unknown spec or an agent package that is not available.
    """
    cfg = sim_config or SimConfig()
    kind, _, arg = spec.partition(":")
    if kind == "oracle" and not arg:
        return OracleAgent(navmap, forward_step_m=cfg.forward_step_m, turn_angle_rad=math.radians(cfg.turn_angle_deg))
    if kind == "random":
        try:
            return RandomAgent(int(arg) if arg else seed)
        except ValueError as err:
            raise SimError(f"agent spec {spec!r}: expected random or random:SEED (an integer)") from err
    if kind in _EXTERNAL_AGENTS and arg:
        module_name, func_name = _EXTERNAL_AGENTS[kind]
        try:
            factory = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as err:
            raise SimError(f"agent spec {spec!r} needs {module_name}.{func_name}, which is not available ({err})") from err
        return factory(spec)
    raise SimError(f"unknown agent spec {spec!r}; expected oracle, random, random:SEED, policy:CHECKPOINT or onnx:DIR")


def evaluate(
    env: Env,
    scene: Scene,
    navmap: NavMap,
    episodes: EpisodeSet,
    agent: Agent,
    *,
    agent_name: str = "agent",
    max_episodes: int | None = None,
    log: IO[str] | None = None,
    measure: Callable[[GoalRegion], Goal] | None = None,
    ablate: str | None = None,
) -> EvalReport:
    """Run the episodes with ``agent`` in ``env`` and score them (see the module docstring).

    ``navmap`` gives the goal regions (navigable points near the targets); for the embedded
    simulator it is the map it collides against (``env.navmap``). ``measure`` wraps each region
    for the metrics when another simulator measures the distances (Habitat: its navmesh
    geodesic, :class:`~embodied_stack.sim.goals.MeasuredGoal`).

    An agent whose ``needs_goal`` is False (the language-vision policy) is handed NaN for the
    goal point, so it cannot read it. ``ablate`` (``language``, ``vision`` or ``depth``) blanks
    that input before the agent sees it (:func:`ablate_input`), an input ablation of a trained agent.
    """
    if ablate is not None and ablate not in ABLATIONS:
        raise SimError(f"unknown ablation {ablate!r}; expected one of {ABLATIONS}")
    hide_goal = not getattr(agent, "needs_goal", True)
    chosen = episodes.episodes[:max_episodes] if max_episodes is not None else episodes.episodes
    results: list[EpisodeResult] = []
    agent_s = sim_s = 0.0
    if log is not None:
        print(f"{'episode':>8} {'success':>7} {'spl':>6} {'softspl':>7} {'d_goal':>6} {'l_m':>6} {'p_m':>6} "
              f"{'steps':>5}  instruction", file=log)
    for episode in chosen:
        goal = episodes.goal(scene, navmap, episode)
        t0 = time.perf_counter()
        frame = env.reset(episode.start)
        sim_s += time.perf_counter() - t0
        start = env.agent_pose
        goal_xy = np.full(2, np.nan) if hide_goal else goal.nearest_point(start.xy)
        instruction = "" if ablate == "language" else episode.instruction
        t0 = time.perf_counter()
        agent.reset(instruction, goal_xy)
        if isinstance(agent, OracleAgent):
            agent.set_goal(goal)
        agent_s += time.perf_counter() - t0
        metrics = EpisodeMetrics(measure(goal) if measure is not None else goal)
        metrics.reset(start)
        trajectory = [(start.x, start.y, start.yaw)]
        steps = collisions = 0
        stopped = False
        while steps < episodes.max_steps:
            pose = env.agent_pose
            t0 = time.perf_counter()
            seen = ablate_input(frame, ablate) if ablate in ("vision", "depth") else frame
            action = agent.act(AgentInput(seen, pose, goal_xy, instruction, steps))
            agent_s += time.perf_counter() - t0
            if action == Action.STOP:
                metrics.update(pose, Action.STOP)
                stopped = True
                break
            t0 = time.perf_counter()
            result = env.step(action)
            sim_s += time.perf_counter() - t0
            frame = result.frame
            steps += 1
            collisions += int(result.collided)
            pose = env.agent_pose
            metrics.update(pose, action)
            trajectory.append((pose.x, pose.y, pose.yaw))
        res = EpisodeResult(episode.id, episode.instruction, metrics.get(), steps, collisions, stopped, trajectory)
        results.append(res)
        if log is not None:
            m = res.metrics
            print(f"{res.id:>8} {m['success']:7.0f} {m['spl']:6.3f} {m['soft_spl']:7.3f} {m['distance_to_goal']:6.2f} "
                  f"{m['shortest_path_m']:6.2f} {m['path_length_m']:6.2f} {steps:5d}  {episode.instruction[:48]}",
                  file=log, flush=True)
    width, height = env.intrinsics.width, env.intrinsics.height
    return EvalReport(scene.name, agent_name, width, height, results, agent_s, sim_s, agent_stats(agent), ablate)


ABLATIONS = ("language", "vision", "depth")


def ablate_input(frame: Frame, ablate: str | None) -> Frame:
    """The frame with one input blanked: ``vision`` -> uniform mid-grey RGB; ``depth`` -> no depth
    return anywhere (0, which the policy reads as far); ``language`` is handled by ``evaluate``
    (the instruction becomes the empty string)."""
    if ablate == "vision":
        return dataclasses.replace(frame, rgb=np.full_like(frame.rgb, 128))
    if ablate == "depth":
        return dataclasses.replace(frame, depth=np.zeros_like(frame.depth))
    return frame


def agent_stats(agent: Agent) -> dict[str, Any]:
    """What an agent reports about itself: ``exit_summary()`` (the VLA policy's exit histogram
    and compute) or ``stats()``, when it has one."""
    for name in ("exit_summary", "stats"):
        method = getattr(agent, name, None)
        if callable(method):
            return dict(method())
    return {}


def run_eval_nav(
    *,
    scene: str | Path,
    episodes_path: str | Path,
    agent_spec: str,
    max_episodes: int | None = None,
    width: int | None = None,
    height: int | None = None,
    seed: int = 0,
    log: IO[str] | None = None,
    ablate: str | None = None,
) -> EvalReport:
    """``eval nav``: load the scene and episodes, build the agent and the simulator (at the
    given size, else the agent's ``render_size``, else 160x120) and evaluate.

    ``scene`` is a scene/1 file (the embedded simulator) or ``habitat:CONFIG.yaml`` of a scene
    written by ``sim export-habitat`` (habitat-sim; the goal regions come from its source scene
    and the embedded simulator's navigable map, the distances from habitat-sim's navmesh)."""
    if is_habitat_spec(str(scene)):
        return _run_habitat(str(scene), episodes_path, agent_spec, max_episodes=max_episodes, width=width,
                            height=height, seed=seed, log=log)
    scene_obj = load_scene(scene)
    episode_set = load_episodes(episodes_path, scene_obj)
    if episode_set.scene != scene_obj.name:
        logger.warning("%s is for scene %r but the scene file is %r", episodes_path, episode_set.scene, scene_obj.name)
    base = SimConfig(seed=seed)
    navmap = NavMap.from_scene(scene_obj, resolution_m=base.navmap_resolution_m, agent_radius_m=base.agent_radius_m,
                               agent_height_m=base.agent_height_m)
    agent = make_agent(agent_spec, navmap=navmap, sim_config=base, seed=seed)
    size = getattr(agent, "render_size", None) or DEFAULT_RENDER_SIZE
    config = base.replace(width=width or int(size[0]), height=height or int(size[1]))
    env = EmbeddedSim(scene_obj, config, navmap=navmap)
    try:
        return evaluate(env, scene_obj, navmap, episode_set, agent, agent_name=agent_spec,
                        max_episodes=max_episodes, log=log, ablate=ablate)
    finally:
        env.close()


def _run_habitat(spec: str, episodes_path: str | Path, agent_spec: str, *, max_episodes: int | None,
                 width: int | None, height: int | None, seed: int, log: IO[str] | None) -> EvalReport:
    """``run_eval_nav`` on habitat-sim: the same episodes, goal regions and agents; habitat-sim
    moves the robot, renders and measures the geodesic distances."""
    from embodied_stack.sim.goals import MeasuredGoal
    from embodied_stack.sim.habitat.agreement import scene_navmap
    from embodied_stack.sim.habitat.config import HabitatConfig
    from embodied_stack.sim.habitat.env import HabitatEnv

    cfg = HabitatConfig.from_yaml(spec[len(HABITAT_PREFIX):])
    if not cfg.source_scene:
        raise SimError(f"{spec}: eval nav needs the scene/1 file the habitat scene was exported from "
                       "(source_scene in the YAML; `embodied-stack sim export-habitat` writes it)")
    scene_obj = load_scene(cfg.source_scene)
    episode_set = load_episodes(episodes_path, scene_obj)
    navmap = scene_navmap(scene_obj)
    base = SimConfig(seed=seed, forward_step_m=cfg.forward_step_m, turn_angle_deg=cfg.turn_angle_deg)
    agent = make_agent(agent_spec, navmap=navmap, sim_config=base, seed=seed)
    size = getattr(agent, "render_size", None) or DEFAULT_RENDER_SIZE
    env = HabitatEnv(cfg.replace(width=width or int(size[0]), height=height or int(size[1]), seed=seed))
    try:
        return evaluate(env, scene_obj, navmap, episode_set, agent, agent_name=agent_spec, max_episodes=max_episodes,
                        log=log, measure=lambda region: MeasuredGoal(region, env.geodesic_distance))
    finally:
        env.close()
