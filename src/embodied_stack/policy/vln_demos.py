"""Demonstrations and DAgger rollouts for the language-vision task (:mod:`embodied_stack.sim.vln`).

The expert is privileged: the simulator's shortest-path oracle planning on the true map into
the named object's goal region (a tighter one than the scorer's, ``expert_radius_m``, so its
STOP lies well inside success). It only *labels*; the policy records and later sees what a robot
has: the frame at the policy resolution, its odometry features and the instruction. Executed
actions mix the expert's, the learner's (DAgger, with probability ``1 - beta``) and bursts of
random moves (noise injection), as in :mod:`embodied_stack.policy.demos`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.dataset import DemoBuffer, EpisodeRecord
from embodied_stack.policy.demos import (
    CollectConfig,
    _BatchPolicy,
    executed_action,
    expert_velocity,
)
from embodied_stack.policy.inputs import resize_frame
from embodied_stack.policy.modeling_vla import VLAModel
from embodied_stack.policy.odometry import OdometryTracker
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.episodes import Episode, EpisodeSet, episode_goal
from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.oracle import OracleAgent
from embodied_stack.sim.scene import Scene
from embodied_stack.types import Action, AgentInput, Frame

logger = logging.getLogger(__name__)


class VLNCollector:
    """Collects demonstrations on task scenes, each with its fixed episodes (simulators kept).

    ``episodes_per_scene`` of a :class:`CollectConfig` caps the episodes used per scene per round;
    starts are jittered per round (a random heading), so rounds do not repeat the same states.
    """

    def __init__(
        self,
        tasks: Sequence[tuple[Scene, EpisodeSet]],
        policy_config: VLAConfig,
        embed: Callable[[list[str]], np.ndarray],
        sim_config: SimConfig | None = None,
        expert_radius_m: float = 0.7,
    ) -> None:
        self.policy_config = policy_config
        base = sim_config or SimConfig()
        self.sim_config = base.replace(width=policy_config.image_width, height=policy_config.image_height,
                                       render_threads=1)
        self.tasks = list(tasks)
        self.sims = [EmbeddedSim(scene, self.sim_config) for scene, _ in self.tasks]
        self.embed = embed
        self.expert_radius_m = expert_radius_m
        self._turn_rad = math.radians(self.sim_config.turn_angle_deg)
        self._embeddings: dict[str, torch.Tensor] = {}

    def _instruction(self, text: str) -> torch.Tensor:
        if text not in self._embeddings:
            self._embeddings[text] = torch.from_numpy(np.asarray(self.embed([text]), dtype=np.float32)[0])
        return self._embeddings[text]

    def collect(
        self, config: CollectConfig, rng: np.random.Generator, model: VLAModel | None = None, seed: int = 0
    ) -> tuple[DemoBuffer, dict[str, float]]:
        """One round over every task scene; returns the demonstrations and rollout statistics."""
        if config.beta < 1.0 and model is None:
            raise ValueError("DAgger rollouts (beta < 1) need a policy model")
        policy = _BatchPolicy(model) if model is not None and config.beta < 1.0 else None
        plans = []
        for (_scene, episodes), _sim in zip(self.tasks, self.sims, strict=True):
            chosen = list(rng.permutation(len(episodes.episodes))[: config.episodes_per_scene])
            plans.append([(episodes, episodes.episodes[i]) for i in chosen])
        buffer = DemoBuffer()
        successes = total = 0
        for wave in range(max((len(p) for p in plans), default=0)):
            rollouts = [self._start(sim, scene, *plan[wave], rng) for (scene, _), sim, plan
                        in zip(self.tasks, self.sims, plans, strict=True) if wave < len(plan)]
            self._run_wave(rollouts, config, rng, policy)
            for r in rollouts:
                buffer.add_episode(r.record)
                successes += int(r.region.contains(r.sim.agent_pose.xy))
                total += 1
        return buffer, {"episodes": float(total), "steps": float(len(buffer)), "success": successes / max(total, 1)}

    def _start(self, sim: EmbeddedSim, scene: Scene, episodes: EpisodeSet, episode: Episode,
               rng: np.random.Generator) -> _Rollout:
        region = episodes.goal(scene, sim.navmap, episode)
        tight = episode_goal(scene, sim.navmap, episode, min(self.expert_radius_m, episodes.success_distance_m))
        oracle = OracleAgent(sim.navmap, turn_angle_rad=self._turn_rad, forward_step_m=self.sim_config.forward_step_m,
                             collision_cost_m=0.5)
        oracle.set_goal(tight)
        start = episode.start
        start = type(start)(start.x, start.y, float(rng.uniform(-math.pi, math.pi)))
        frame = sim.reset(start)
        tracker = OdometryTracker()
        tracker.reset()
        target = next(o for o in scene.objects if o.id == episode.target_objects[0])
        return _Rollout(sim, region, episode.instruction, oracle, tracker, EpisodeRecord(episode.instruction), frame,
                        (float(target.center[0]), float(target.center[1])))

    def _teacher(self, r: _Rollout) -> np.ndarray:
        """Privileged values for the auxiliary heads (scene-file truth, training only): the
        target in the camera's horizontal field of view and range, its bearing and distance."""
        pose = r.sim.agent_pose
        dx, dy = r.target_xy[0] - pose.x, r.target_xy[1] - pose.y
        bearing = math.atan2(math.sin(math.atan2(dy, dx) - pose.yaw), math.cos(math.atan2(dy, dx) - pose.yaw))
        distance = math.hypot(dx, dy)
        in_view = abs(bearing) < math.radians(self.sim_config.hfov_deg) / 2.0 and distance < self.policy_config.max_depth_m
        return np.array([float(in_view), math.sin(bearing), math.cos(bearing), distance], dtype=np.float32)

    def _run_wave(self, rollouts: list[_Rollout], config: CollectConfig, rng: np.random.Generator,
                  policy: _BatchPolicy | None) -> None:
        if policy is not None:
            policy.reset(len(rollouts))
        for step in range(config.max_steps):
            active = [i for i, r in enumerate(rollouts) if not r.done]
            if not active:
                break
            experts, states = [], []
            for i in active:
                r = rollouts[i]
                inp = AgentInput(r.frame, r.sim.agent_pose, np.full(2, np.nan), r.instruction, step)
                state = r.tracker.features(inp)
                expert = r.oracle.act(inp)
                r.record.add(r.frame.rgb, r.frame.depth, state, int(expert), expert_velocity(expert, self.sim_config),
                             self._teacher(r))
                experts.append(expert)
                states.append(state)
            if policy is not None:
                frames = [resize_frame(rollouts[i].frame.rgb, rollouts[i].frame.depth, self.policy_config) for i in active]
                chosen = policy.act(np.asarray(active), torch.stack([f[0] for f in frames]),
                                    torch.stack([f[1] for f in frames]),
                                    torch.stack([self._instruction(rollouts[i].instruction) for i in active]),
                                    torch.from_numpy(np.stack(states)))
            for j, i in enumerate(active):
                r = rollouts[i]
                learner = Action(int(chosen[j])) if policy is not None else None
                executed = executed_action(experts[j], learner, r, config, rng)
                if executed == Action.STOP:
                    r.done = True
                    continue
                r.frame = r.sim.step(executed).frame
                r.tracker.record_action(int(executed))


@dataclass
class _Rollout:
    sim: EmbeddedSim
    region: GoalRegion
    instruction: str
    oracle: OracleAgent
    tracker: OdometryTracker
    record: EpisodeRecord
    frame: Frame
    target_xy: tuple[float, float]
    burst: int = 0
    done: bool = False
