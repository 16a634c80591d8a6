"""Demonstrations with noise injection and DAgger, labelled by a map-based expert or the oracle.

Every step records what the policy would see (the frame at the policy resolution, the target
and the waypoint planned on the robot's own depth map as distance and bearing from odometry, the
previous executed action) and the expert's action for that state. The expert is by default the
waypoint follower (:func:`~embodied_stack.policy.waypoints.follow_waypoint`), whose inputs are
the policy's own, so its labels are learnable from what the policy sees; the simulator's
shortest-path oracle (which knows the true map) is the alternative.

What is *executed* is the expert's action (pure demonstrations), the current policy's action
with probability ``1 - beta`` (DAgger, Ross et al. 2011: the policy visits its own mistakes and
the expert labels the way back), and, with probability ``noise_prob`` per step, a short burst
of random moves (noise injection, so recoveries are in the data even in round 0).

Goals are given as the memory would give them: the goal point of the episode nearest the start
(``GoalRegion.nearest_point``), a navigable point beside the target object or inside the target
room. The expert stops within ``stop_radius_m`` of that point, inside the success region.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.dataset import DemoBuffer, EpisodeRecord
from embodied_stack.policy.inputs import resize_frame
from embodied_stack.policy.modeling_vla import VLAModel
from embodied_stack.policy.waypoints import GoalTracker, follow_waypoint
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.episodes import Episode, EpisodeSet, generate_episodes
from embodied_stack.sim.errors import NavigationError
from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.oracle import OracleAgent
from embodied_stack.sim.scene import Scene
from embodied_stack.types import Action, AgentInput, Frame

logger = logging.getLogger(__name__)

_RANDOM_MOVES = (Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT)


def executed_action(expert: Action, learner: Action | None, rollout: Any, config: CollectConfig,
                    rng: np.random.Generator) -> Action:
    """The action a DAgger rollout executes at one step.

    The learner's action with probability ``1 - config.beta`` (when there is a learner), the
    expert's otherwise; then, for state diversity, bursts of 1-3 random moves started with
    probability ``config.noise_prob`` (``rollout.burst`` counts the burst down) and a random move
    instead of a STOP with probability ``config.stop_noise_prob``. The expert still labels the
    state, so noise widens what is seen without teaching wrong actions.
    """
    executed = expert
    if learner is not None and rng.random() >= config.beta:
        executed = learner
    if rollout.burst == 0 and rng.random() < config.noise_prob:
        rollout.burst = int(rng.integers(1, 4))
    if rollout.burst > 0:
        rollout.burst -= 1
        return _RANDOM_MOVES[int(rng.integers(0, len(_RANDOM_MOVES)))]
    if executed == Action.STOP and rng.random() < config.stop_noise_prob:
        return _RANDOM_MOVES[int(rng.integers(0, len(_RANDOM_MOVES)))]
    return executed
EXPERTS = ("waypoints", "oracle")


@dataclass(frozen=True)
class CollectConfig:
    """How one round of demonstrations is collected.

    Attributes:
        episodes_per_scene: episodes drawn per scene (fewer when a scene cannot supply them).
        beta: probability that a step executes the oracle's action rather than the policy's
            (1.0 = pure demonstrations; needs a policy when < 1).
        noise_prob: probability per step of starting a burst of 1-3 random moves.
        stop_noise_prob: probability of overriding the oracle's STOP with a random move (the STOP
            label is kept), so the data holds several STOP decisions per goal, not one.
        max_steps: steps per episode before it is cut.
        stop_radius_m: the oracle stops within this distance of the goal point.
        min_distance_m: minimum geodesic start-goal distance of the drawn episodes.
        expert: who labels the steps: ``"waypoints"`` (:func:`follow_waypoint`, which sees only
            what the policy sees: its own depth map, the target, odometry) or ``"oracle"`` (the
            simulator's shortest-path follower on the true map; privileged).
    """

    episodes_per_scene: int = 8
    beta: float = 1.0
    noise_prob: float = 0.1
    stop_noise_prob: float = 0.5
    max_steps: int = 250
    stop_radius_m: float = 0.75
    min_distance_m: float = 2.0
    expert: str = "waypoints"

    def __post_init__(self) -> None:
        if self.episodes_per_scene <= 0 or self.max_steps <= 0:
            raise ValueError(
                f"episodes_per_scene and max_steps must be positive, got {self.episodes_per_scene}, {self.max_steps}"
            )
        if self.expert not in EXPERTS:
            raise ValueError(f"CollectConfig.expert must be one of {EXPERTS}, got {self.expert!r}")
        for name in ("beta", "noise_prob", "stop_noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"CollectConfig.{name} must be in [0, 1], got {getattr(self, name)}")


def expert_velocity(action: Action, sim_config: SimConfig) -> tuple[float, float]:
    """The velocity command (m/s, rad/s) that performs a discrete action in one action period."""
    dt = sim_config.action_duration_s
    if action == Action.MOVE_FORWARD:
        return sim_config.forward_step_m / dt, 0.0
    if action in (Action.TURN_LEFT, Action.TURN_RIGHT):
        sign = 1.0 if action == Action.TURN_LEFT else -1.0
        return 0.0, sign * math.radians(sim_config.turn_angle_deg) / dt
    return 0.0, 0.0


class DemoCollector:
    """Collects demonstrations on a fixed list of scenes (simulators are built once and kept).

    Args:
        scenes: the training scenes.
        policy_config: the policy's config (input resolution, goal encoding).
        sim_config: motion settings; rendering is set to the policy resolution.
        embed: text -> (N, 384) embeddings, needed for DAgger rounds (the policy reads the instruction).
    """

    def __init__(
        self,
        scenes: Sequence[Scene],
        policy_config: VLAConfig,
        sim_config: SimConfig | None = None,
        embed: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        self.policy_config = policy_config
        sim_config = sim_config or SimConfig()
        self.sim_config = sim_config.replace(width=policy_config.image_width, height=policy_config.image_height)
        self.sims = [EmbeddedSim(scene, self.sim_config) for scene in scenes]
        self._turn_rad = math.radians(self.sim_config.turn_angle_deg)
        self.embed = embed
        self._embeddings: dict[str, torch.Tensor] = {}

    def episodes(self, sim: EmbeddedSim, n: int, seed: int, min_distance_m: float) -> EpisodeSet:
        """Episodes for one scene; fewer than ``n`` when the scene is too small for ``n``."""
        for count in (n, max(1, n // 2), 1):
            try:
                return generate_episodes(sim.scene, sim.navmap, count, seed, min_distance_m=min_distance_m)
            except NavigationError:
                continue
        return EpisodeSet(sim.scene.name, [])

    def collect(
        self, config: CollectConfig, rng: np.random.Generator, model: VLAModel | None = None, seed: int = 0
    ) -> tuple[DemoBuffer, dict[str, float]]:
        """One round over every scene; returns the demonstrations and rollout statistics
        (``success``: the fraction of episodes the executed rollout finished inside the goal region).

        Episodes run in waves, one episode per scene at a time in lockstep, so that the policy
        (in DAgger rounds) acts for the whole wave in one batched forward pass.
        """
        if config.beta < 1.0 and model is None:
            raise ValueError("DAgger rollouts (beta < 1) need a policy model")
        policy = _BatchPolicy(model) if model is not None and config.beta < 1.0 else None
        plans = [
            self.episodes(sim, config.episodes_per_scene, seed * 1000 + index, config.min_distance_m)
            for index, sim in enumerate(self.sims)
        ]
        buffer = DemoBuffer()
        successes, total = 0, 0
        for wave in range(max((len(p.episodes) for p in plans), default=0)):
            rollouts = []
            for sim, plan in zip(self.sims, plans, strict=True):
                if wave < len(plan.episodes):
                    rollouts.append(self._start(sim, plan, plan.episodes[wave], config))
            self._run_wave(rollouts, config, rng, policy)
            for rollout in rollouts:
                buffer.add_episode(rollout.record)
                successes += int(rollout.region.contains(rollout.sim.agent_pose.xy))
                total += 1
        return buffer, {"episodes": float(total), "steps": float(len(buffer)), "success": successes / max(total, 1)}

    def _instruction(self, text: str) -> torch.Tensor:
        if text not in self._embeddings:
            if self.embed is None:
                raise ValueError("DAgger rollouts need a text embedder")
            self._embeddings[text] = torch.from_numpy(np.asarray(self.embed([text]), dtype=np.float32).reshape(-1))
        return self._embeddings[text]

    def _start(self, sim: EmbeddedSim, plan: EpisodeSet, episode: Episode, config: CollectConfig) -> _Rollout:
        region = plan.goal(sim.scene, sim.navmap, episode)
        goal_xy = region.nearest_point(episode.start.xy)
        oracle = None
        if config.expert == "oracle":
            oracle = OracleAgent(sim.navmap, turn_angle_rad=math.radians(self.sim_config.turn_angle_deg),
                                 stop_radius_m=config.stop_radius_m)
            oracle.reset(episode.instruction, goal_xy)
        frame = sim.reset(episode.start)
        tracker = GoalTracker(self.policy_config)
        tracker.reset(goal_xy)
        return _Rollout(sim, region, goal_xy, episode.instruction, oracle, tracker,
                        EpisodeRecord(episode.instruction), frame)

    def _run_wave(
        self, rollouts: list[_Rollout], config: CollectConfig, rng: np.random.Generator, policy: _BatchPolicy | None
    ) -> None:
        if policy is not None:
            policy.reset(len(rollouts))
        for step in range(config.max_steps):
            active = [i for i, r in enumerate(rollouts) if not r.done]
            if not active:
                break
            experts, goals = [], []
            for i in active:
                r = rollouts[i]
                inp = AgentInput(r.frame, r.sim.agent_pose, r.goal_xy, r.instruction, step)
                goal = r.tracker.features(inp)
                if r.oracle is not None:
                    expert = r.oracle.act(inp)
                else:
                    expert = follow_waypoint(r.tracker, inp.pose, self._turn_rad, config.stop_radius_m)
                r.record.add(r.frame.rgb, r.frame.depth, goal, int(expert), expert_velocity(expert, self.sim_config))
                experts.append(expert)
                goals.append(goal)
            if policy is not None:
                frames = [resize_frame(rollouts[i].frame.rgb, rollouts[i].frame.depth, self.policy_config) for i in active]
                chosen = policy.act(
                    np.asarray(active),
                    torch.stack([f[0] for f in frames]),
                    torch.stack([f[1] for f in frames]),
                    torch.stack([self._instruction(rollouts[i].instruction) for i in active]),
                    torch.from_numpy(np.stack(goals)),
                )
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
    """One episode in progress: its simulator, goal, oracle, goal tracker, record and noise state."""

    sim: EmbeddedSim
    region: GoalRegion
    goal_xy: np.ndarray
    instruction: str
    oracle: OracleAgent | None
    tracker: GoalTracker
    record: EpisodeRecord
    frame: Frame
    burst: int = 0
    done: bool = False


class _BatchPolicy:
    """The full model (last exit) acting for a batch of rollouts, each with its own LSTM state."""

    def __init__(self, model: VLAModel) -> None:
        self.model = model.eval()
        self.reset(1)

    def reset(self, batch: int) -> None:
        self.h, self.c = self.model.initial_state(batch)

    @torch.inference_mode()
    def act(
        self, index: np.ndarray, rgb: torch.Tensor, depth: torch.Tensor, instruction: torch.Tensor, goal: torch.Tensor
    ) -> np.ndarray:
        """Actions (argmax) of the rollouts ``index``; advances only their recurrent state."""
        features = self.model.exit_features(rgb, depth, instruction, goal)
        idx = torch.from_numpy(index)
        logits, _, h, c = self.model.head(features[-1], self.h[:, idx], self.c[:, idx])
        self.h[:, idx] = h
        self.c[:, idx] = c
        return logits.argmax(-1).numpy()
