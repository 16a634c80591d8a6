"""What ``sim record`` records: episode runs from an episodes/1 file, the agent, the marker source.

Kept apart from :mod:`.record` (which only needs an :class:`Env` and an :class:`Agent`) because it
pulls in the simulator's episode and goal machinery, perception and the memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.bags.errors import BagConfigError
from embodied_stack.bags.messages import MarkerNode
from embodied_stack.bags.record import EpisodeRun, FrameHook
from embodied_stack.sim.env import Env
from embodied_stack.types import Agent, Frame

logger = logging.getLogger(__name__)

AGENT_SPECS = ("oracle", "random", "random:SEED")


def episode_runs(env: Env, episodes_path: str | Path, *, max_episodes: int | None = None) -> list[EpisodeRun]:
    """The runs of an episodes/1 file: start, the nearest goal point (geodesic) and the goal region.

    Raises:
        BagConfigError: the environment has no scene/navmap (the embedded simulator has both),
            or ``max_episodes`` < 1.
    """
    from embodied_stack.sim.episodes import load_episodes

    scene, navmap = getattr(env, "scene", None), getattr(env, "navmap", None)
    if scene is None or navmap is None:
        raise BagConfigError("sim record needs a scene/1 file or a habitat scene written by `sim export-habitat` "
                             "(its source scene gives the goals): this env has no scene")
    if max_episodes is not None and max_episodes < 1:
        raise BagConfigError(f"max_episodes must be >= 1, got {max_episodes}")
    episodes = load_episodes(episodes_path, scene)
    runs = []
    for episode in episodes.episodes[:max_episodes]:
        region = episodes.goal(scene, navmap, episode)
        points = np.asarray(region.points_xy, dtype=np.float64).reshape(-1, 2)
        distances = [env.geodesic_distance(episode.start.xy, p) for p in points]
        goal_xy = points[int(np.argmin(distances))] if points.size else episode.start.xy
        runs.append(EpisodeRun(episode.id, episode.start, goal_xy, episode.instruction, goal=region))
    return runs


def make_agent(spec: str, env: Env) -> Agent:
    """The agent of a spec: ``oracle`` (shortest-path follower on the simulator's map, aimed at
    each episode's goal region) or ``random`` / ``random:SEED``.

    Raises:
        BagConfigError: an unknown spec.
    """
    from embodied_stack.sim.oracle import OracleAgent, RandomAgent

    if spec == "oracle":
        turn_deg = float(getattr(getattr(env, "config", None), "turn_angle_deg", 30.0))
        return OracleAgent(env.navmap, turn_angle_rad=math.radians(turn_deg))  # type: ignore[attr-defined]
    if spec == "random" or spec.startswith("random:"):
        seed_text = spec.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise BagConfigError(f"agent spec {spec!r}: the seed must be a non-negative integer")
        return RandomAgent(int(seed_text))
    raise BagConfigError(f"unknown agent spec {spec!r} for sim record; expected one of {', '.join(AGENT_SPECS)}")


def memory_nodes(memory: Any) -> list[MarkerNode]:
    """Every leaf and parent node of a :class:`~embodied_stack.memory.SemanticMemory`."""
    return [*memory.iter_leaves(), *memory.iter_nodes()]


def _memory_config(embedder: str | None) -> Any:
    from embodied_stack.memory.config import MemoryConfig

    return MemoryConfig(embedder=embedder) if embedder else MemoryConfig()


def open_store(store: str | Path, *, create: bool, embedder: str | None = None,
               root: str | Path | None = None) -> Any:
    """Open a memory store; it must lie inside ``root`` (default: the memory's ``memory_root``).

    ``embedder``: a text-embedder spec (default: the memory's, all-MiniLM-L6-v2); an existing
    store must be opened with the embedder it was built with.
    """
    from embodied_stack.memory.semantic_memory import SemanticMemory

    return SemanticMemory.open(store, root=root, create=create, config=_memory_config(embedder))


def marker_hook(env: Env, *, memory_store: str | Path | None, live: bool, every_s: float,
                embedder: str | None = None, root: str | Path | None = None) -> tuple[FrameHook | None, Any]:
    """The per-frame hook that supplies memory markers, and the memory to close afterwards.

    ``memory_store``: draw an existing store once (latched). ``live``: run perception (the
    simulator's semantic sensor) on every frame, ingest into a fresh in-process memory and
    redraw every ``every_s`` simulated seconds. Neither: no markers. ``embedder``: the memory's
    text-embedder spec (default: the memory's default).
    """
    if memory_store is not None:
        memory = open_store(memory_store, create=False, embedder=embedder, root=root)
        nodes = memory_nodes(memory)
        done = False

        def once(frame: Frame, t: float) -> Iterable[MarkerNode] | None:
            nonlocal done
            if done:
                return None
            done = True
            return nodes

        return once, memory
    if not live:
        return None, None
    if not (math.isfinite(every_s) and every_s > 0):
        raise BagConfigError(f"markers-every must be > 0 seconds, got {every_s}")
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.perception import PerceptionPipeline, SemanticSensorDetector

    memory = SemanticMemory(_memory_config(embedder))
    pipeline = PerceptionPipeline(detector=SemanticSensorDetector(env.instances, env.categories))
    last_drawn = -math.inf

    def live_hook(frame: Frame, t: float) -> Iterable[MarkerNode] | None:
        nonlocal last_drawn
        observations = pipeline.process(frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose, t,
                                        instance=frame.instance)
        if observations:
            memory.ingest(observations)
        if t - last_drawn < every_s:
            return None
        last_drawn = t
        return memory_nodes(memory)

    return live_hook, memory
