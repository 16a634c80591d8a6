"""``eval nav --suite SPLIT``: one agent over every scene of a split (the language-vision task).

A split (written by ``policy vln-data``; :func:`embodied_stack.sim.vln.write_split`) is many small
task scenes with a few episodes each. The agent is built once (a policy loads its checkpoint and
text encoder once) and reset per episode; each scene gets its own simulator. The per-scene reports
are merged into one :class:`~embodied_stack.eval.nav.EvalReport` whose agent statistics (exit
histogram, FLOPs, latency) cover every step of the split. Simulators are kept per scene and size
for the process (reset per episode), so a sweep over compute settings builds each scene once.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from embodied_stack.eval.nav import DEFAULT_RENDER_SIZE, EvalReport, agent_stats, evaluate, make_agent
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.errors import SimError
from embodied_stack.sim.vln import load_split, load_task, task_navmap


_TASKS: dict[tuple[str, str], tuple] = {}
_ENVS: dict[tuple, EmbeddedSim] = {}
"""Loaded tasks and their simulators, kept for the process: a compute sweep runs the same split
many times, and building a scene's collision map and renderer costs more than its episodes."""


def run_eval_suite(
    *,
    suite: str | Path,
    agent_spec: str,
    max_scenes: int | None = None,
    width: int | None = None,
    height: int | None = None,
    seed: int = 0,
    log: IO[str] | None = None,
    ablate: str | None = None,
) -> EvalReport:
    """Evaluate ``agent_spec`` on every (scene, episodes) pair of the split ``suite``."""
    tasks = load_split(suite)[:max_scenes]
    if not tasks:
        raise SimError(f"{suite}: the split has no tasks")
    base = SimConfig(seed=seed)
    agent = None
    episodes, agent_s, sim_s = [], 0.0, 0.0
    size = (width, height)
    for scene_path, episodes_path in tasks:
        key = (str(Path(scene_path).resolve()), str(Path(episodes_path).resolve()))
        if key not in _TASKS:
            scene, episode_set = load_task(scene_path, episodes_path)
            _TASKS[key] = (scene, episode_set, task_navmap(scene))
        scene, episode_set, navmap = _TASKS[key]
        if agent is None or agent_spec.split(":", 1)[0] in ("oracle", "random"):
            agent = make_agent(agent_spec, navmap=navmap, sim_config=base, seed=seed)
            render = getattr(agent, "render_size", None) or DEFAULT_RENDER_SIZE
            size = (width or int(render[0]), height or int(render[1]))
        env_key = (*key, size[0], size[1], seed)
        if env_key not in _ENVS:
            _ENVS[env_key] = EmbeddedSim(scene, base.replace(width=size[0], height=size[1]), navmap=navmap)
        report = evaluate(_ENVS[env_key], scene, navmap, episode_set, agent, agent_name=agent_spec, log=log,
                          ablate=ablate)
        episodes += [type(e)(f"{scene.name}/{e.id}", *list(vars(e).values())[1:]) for e in report.episodes]
        agent_s += report.agent_s
        sim_s += report.sim_s
    return EvalReport(str(suite), agent_spec, size[0], size[1], episodes, agent_s, sim_s, agent_stats(agent), ablate)
