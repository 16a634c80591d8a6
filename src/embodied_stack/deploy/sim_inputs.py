"""Policy inputs recorded in the embedded simulator: calibration data for static int8, and the
recorded episodes that parity checks and benchmarks replay through torch and onnxruntime.

A short random walk per episode (mostly forward, turning when blocked) renders real frames at
the policy's resolution in a scene; each step is turned into the network's inputs exactly as
:class:`~embodied_stack.policy.agent.PolicyAgent` does (:func:`resize_frame`,
:func:`goal_features` with the previous action, the instruction embedded once per episode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embodied_stack.deploy.errors import DeployError
from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.inputs import NO_PREVIOUS_ACTION, goal_features, resize_frame
from embodied_stack.policy.odometry import odometry_features
from embodied_stack.types import Action, AgentInput, Pose2D

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]
_WALK_PROBS = np.array([0.0, 0.6, 0.2, 0.2])


@dataclass(frozen=True)
class PolicyStep:
    """One step's network inputs at batch 1, float32: ``rgb`` (1, 3, H, W) in [0, 1], ``depth``
    (1, 1, H, W) metres, ``instruction`` (1, text_dim), ``goal`` (1, 9)."""

    rgb: np.ndarray
    depth: np.ndarray
    instruction: np.ndarray
    goal: np.ndarray

    def feeds(self) -> dict[str, np.ndarray]:
        """The vision graph's inputs by name."""
        return {"rgb": self.rgb, "depth": self.depth, "instruction": self.instruction, "goal": self.goal}


@dataclass(frozen=True)
class RecordedEpisodes:
    """Episodes of :class:`PolicyStep` and where they were recorded."""

    episodes: list[list[PolicyStep]]
    scene: str
    seed: int

    @property
    def num_steps(self) -> int:
        return sum(len(e) for e in self.episodes)

    def describe(self) -> dict[str, object]:
        return {"source": "embedded simulator random walk", "scene": self.scene, "seed": self.seed,
                "episodes": len(self.episodes), "steps": self.num_steps}


def record_sim_episodes(
    config: VLAConfig,
    *,
    scene: str | Path | None = None,
    episodes: int = 8,
    steps: int = 16,
    seed: int = 0,
    embed: EmbedFn | None = None,
) -> RecordedEpisodes:
    """Render ``episodes`` random walks of ``steps`` steps and return the policy inputs.

    Args:
        config: the policy's config (resolution, depth range, goal encoding, text size).
        scene: a scene/1 file; by default a home generated from ``seed``.
        embed: instruction embedder (texts -> (N, text_dim)); the memory's default when None.
    """
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
    from embodied_stack.sim.generate import generate_scene
    from embodied_stack.sim.scene import load_scene

    if episodes < 1 or steps < 1:
        raise DeployError(f"need at least one episode and one step, got episodes={episodes}, steps={steps}")
    vln = config.state_inputs == "odometry"
    if scene is not None:
        scene_obj = load_scene(scene)
    elif vln:
        from embodied_stack.sim.vln import make_task_scene, split_seeds

        scene_obj = make_task_scene(split_seeds("dev", 1)[0] + seed)
    else:
        scene_obj = generate_scene(seed)
    if not scene_obj.objects:
        raise DeployError(f"scene {scene_obj.name!r} has no objects to walk towards")
    if config.instruction_tokens:
        from embodied_stack.policy.text_tokens import shared_token_embedder

        embed = shared_token_embedder(config.instruction_tokens).embed
    elif embed is None:
        from embodied_stack.policy.agent import default_embedder

        embed = default_embedder()
    sim = EmbeddedSim(scene_obj, SimConfig(width=config.image_width, height=config.image_height, seed=seed))
    rng = np.random.default_rng(seed)
    recorded: list[list[PolicyStep]] = []
    try:
        for _ in range(episodes):
            target = scene_obj.objects[int(rng.integers(len(scene_obj.objects)))]
            instruction = f"go to the {target.description.split(' ', 1)[-1] if vln else target.category}"
            vector = np.asarray(embed([instruction]), dtype=np.float32)
            vector = vector if config.instruction_tokens else vector.reshape(1, -1)
            if vector.shape[-1] != config.text_dim:
                raise DeployError(f"the embedder returns {vector.shape[-1]}-d vectors; the policy expects {config.text_dim}")
            goal_xy = np.asarray(target.center[:2], dtype=np.float64)
            frame = sim.reset()
            start = sim.agent_pose
            prev = NO_PREVIOUS_ACTION
            episode: list[PolicyStep] = []
            for index in range(steps):
                pose: Pose2D = sim.agent_pose
                distance, bearing = AgentInput(frame, pose, goal_xy, instruction, index).goal_vector()
                rgb, depth = resize_frame(frame.rgb, frame.depth, config)
                goal = odometry_features(start, pose, index, prev) if vln else goal_features(distance, bearing, prev, config)
                episode.append(PolicyStep(rgb.unsqueeze(0).numpy(), depth.unsqueeze(0).numpy(), vector,
                                          goal.reshape(1, -1).astype(np.float32)))
                action = Action(int(rng.choice(len(_WALK_PROBS), p=_WALK_PROBS)))
                result = sim.step(action)
                if result.collided:
                    action = Action.TURN_LEFT if rng.random() < 0.5 else Action.TURN_RIGHT
                    result = sim.step(action)
                frame, prev = result.frame, int(action)
            recorded.append(episode)
    finally:
        sim.close()
    logger.info("recorded %d x %d policy steps in scene %s", episodes, steps, scene_obj.name)
    return RecordedEpisodes(recorded, scene_obj.name, seed)

