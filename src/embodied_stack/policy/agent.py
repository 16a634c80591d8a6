"""The VLA policy as a navigation agent (``embodied_stack.sim.env.Agent``) with early exit.

:class:`PolicyAgent` turns each :class:`~embodied_stack.sim.env.AgentInput` into the network's
inputs (camera resized to the policy resolution, the goal as distance and bearing from odometry,
the instruction embedded once per episode), runs :class:`EarlyExitController`, and keeps exit
statistics (histogram, trunk FLOPs per step, wall-clock). :func:`make_agent` builds one from an
agent spec ``policy:CHECKPOINT`` for ``embodied-stack eval nav``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from embodied_stack.policy.calibration import calibrate, parse_budget
from embodied_stack.policy.checkpoint import LoadedPolicy, load_policy
from embodied_stack.policy.early_exit import (
    EarlyExitController,
    ExitStats,
    ExitStep,
    ExitThresholds,
)
from embodied_stack.policy.errors import CalibrationError, PolicyError
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.inputs import resize_frame
from embodied_stack.policy.modeling_vla import VLAModel
from embodied_stack.policy.odometry import OdometryTracker
from embodied_stack.policy.waypoints import GoalTracker
from embodied_stack.types import Action, AgentInput

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]
AGENT_PREFIX = "policy:"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "policy" / "vla_default.safetensors"
"""The checkpoint shipped with the package (``policy:default``); see the README beside it."""
VLN_CHECKPOINT = DEFAULT_CHECKPOINT.with_name("vla_vln.safetensors")
"""The language-vision policy shipped with the package (``policy:vln``); see the README beside it."""
NAMED_CHECKPOINTS = {"default": DEFAULT_CHECKPOINT, "vln": VLN_CHECKPOINT}


def default_embedder() -> EmbedFn:
    """The memory's default text embedder (all-MiniLM-L6-v2, 384-d, loaded offline)."""
    from embodied_stack.text.embedders import load_embedder

    return load_embedder("default").embed


class PolicyAgent:
    """Early-exit VLA navigation agent.

    Args:
        model: the network (put in eval mode).
        thresholds: exit thresholds; ``None`` runs the full model (always the last exit).
        embed: text -> (N, text_dim) normalised embeddings; defaults to the memory's embedder,
            loaded on first use.
    """

    def __init__(self, model: VLAModel, thresholds: ExitThresholds | None = None, embed: EmbedFn | None = None) -> None:
        self.model = model.eval()
        self.config = model.config
        self.thresholds = thresholds or ExitThresholds.full(model.num_exits, model.config.exit_metric)
        self.controller = EarlyExitController(self.model, self.thresholds)
        self._embed = embed
        self._instruction_cache: dict[str, torch.Tensor] = {}
        self.stats = ExitStats(model.num_exits)
        self.episode_stats = ExitStats(model.num_exits)
        self.last_step: ExitStep | None = None
        tokens = self.config.instruction_tokens
        self._instruction = torch.zeros(1, tokens, self.config.text_dim) if tokens else torch.zeros(1, self.config.text_dim)
        self.tracker: GoalTracker | OdometryTracker = (
            GoalTracker(self.config) if self.config.state_inputs == "goal" else OdometryTracker()
        )

    @property
    def needs_goal(self) -> bool:
        """Whether the agent reads the goal point; the language-vision policy does not (it gets
        only RGB-D, the instruction and odometry), and ``eval nav`` then hands it no goal."""
        return self.config.state_inputs == "goal"

    @property
    def render_size(self) -> tuple[int, int]:
        """(width, height) the policy reads; rendering at this size skips the resize."""
        return self.config.image_width, self.config.image_height

    @property
    def flops(self) -> StepFlops:
        return self.controller.flops

    def embed_instruction(self, text: str) -> torch.Tensor:
        """(1, text_dim) embedding of ``text`` (or (1, instruction_tokens, text_dim) token
        embeddings for a token policy), cached per string."""
        if text not in self._instruction_cache:
            tokens = self.config.instruction_tokens
            if self._embed is None:
                if tokens:
                    from embodied_stack.policy.text_tokens import shared_token_embedder

                    self._embed = shared_token_embedder(tokens).embed
                else:
                    self._embed = default_embedder()
            vector = np.asarray(self._embed([text]), dtype=np.float32)
            want = (1, tokens, self.config.text_dim) if tokens else (1, self.config.text_dim)
            vector = vector.reshape(want) if vector.size == int(np.prod(want)) else vector
            if vector.shape != want:
                raise PolicyError(f"the text embedder returns shape {vector.shape[1:]}; the policy expects {want[1:]}")
            self._instruction_cache[text] = torch.from_numpy(np.ascontiguousarray(vector))
        return self._instruction_cache[text]

    def reset(self, instruction: str, goal_xy: np.ndarray) -> None:
        """Start an episode: embed the instruction, clear the recurrent state and episode stats."""
        self._instruction = self.embed_instruction(instruction)
        self.tracker.reset(goal_xy)
        self.controller.reset()
        self.episode_stats = ExitStats(self.model.num_exits)
        self.last_step = None

    def act(self, inp: AgentInput) -> Action:
        """One early-exit step on the current frame and the state token's input.

        Point-goal policy: ``inp.goal_xy`` is the target; the waypoint planner (``config.waypoints``)
        maps ``inp.frame`` with its camera pose. Language-vision policy: odometry only (the goal
        is never read). The network's wall-clock and the host-side input work (mapping, planning,
        odometry) are timed apart.
        """
        host_start = time.perf_counter()
        goal = torch.from_numpy(self.tracker.features(inp)).unsqueeze(0)
        host_s = time.perf_counter() - host_start
        start = time.perf_counter()
        rgb, depth = resize_frame(inp.frame.rgb, inp.frame.depth, self.config)
        step = self.controller.step(rgb.unsqueeze(0), depth.unsqueeze(0), self._instruction, goal)
        elapsed = time.perf_counter() - start
        self.stats.add(step, elapsed, host_s)
        self.episode_stats.add(step, elapsed, host_s)
        self.last_step = step
        self.tracker.record_action(step.action)
        return Action(step.action)

    def velocity_command(self) -> tuple[float, float]:
        """(v m/s, omega rad/s) from the velocity head at the last step (zero before the first)."""
        return self.last_step.velocity if self.last_step is not None else (0.0, 0.0)

    def exit_summary(self) -> dict[str, object]:
        """Exit statistics over every step since construction, with the compute figures."""
        summary = self.stats.summary()
        summary["full_trunk_flops"] = self.flops.full_trunk
        summary["trunk_flops_reduction_x"] = (
            self.flops.full_trunk / summary["trunk_flops_mean"] if self.stats.steps else None
        )
        summary["full_network_flops"] = self.flops.full_network
        summary["network_flops_reduction_x"] = (
            self.flops.full_network / summary["network_flops_mean"] if self.stats.steps else None
        )
        summary["vision_flops"] = self.flops.vision
        summary["head_flops"] = self.flops.head
        summary["thresholds"] = self.thresholds.to_dict()
        return summary


def thresholds_for_budget(loaded: LoadedPolicy, budget: str | None, max_exit: int | None) -> ExitThresholds:
    """Exit thresholds for a checkpoint at an average-compute budget and a peak cap.

    ``budget`` ``None`` uses the thresholds stored by ``policy calibrate`` (or the full model if
    there are none; a ``max_exit`` then caps it); ``"full"`` is the full model; anything else
    (``0.2``, ``5x``, ``40M``: see :func:`parse_budget`) is calibrated on the validation scores
    stored in the checkpoint.
    """
    num_exits = loaded.config.num_exits
    metric = loaded.config.exit_metric
    cap = num_exits if max_exit is None else max_exit
    if not 1 <= cap <= num_exits:
        raise CalibrationError(f"max exit must be in 1..{num_exits}, got {max_exit}")
    if budget is None:
        if loaded.thresholds is None:
            return ExitThresholds.full(num_exits, metric) if max_exit is None else ExitThresholds.fixed(cap, num_exits, metric)
        if max_exit is None:
            return loaded.thresholds
        stored = loaded.thresholds
        return ExitThresholds(stored.values[: cap - 1] + (math.inf,) * (num_exits - cap + 1), cap, stored.metric,
                              {**stored.info, "max_exit_override": cap})
    if budget.strip().lower() == "full":
        return ExitThresholds.full(num_exits, metric) if max_exit is None else ExitThresholds.fixed(cap, num_exits, metric)
    if loaded.calibration_scores is None:
        raise CalibrationError(
            f"{loaded.path}: no calibration scores stored; run `embodied-stack policy calibrate` on it first"
        )
    flops = StepFlops.from_config(loaded.config)
    budget_flops = parse_budget(budget, flops.full_trunk)
    return calibrate(loaded.calibration_scores, np.asarray(flops.trunk_per_exit), budget_flops, cap, metric).thresholds


def parse_agent_spec(spec: str) -> tuple[Path, dict[str, str]]:
    """Split ``policy:CHECKPOINT[?budget=B&max_exit=K]`` into the path and its options.

    ``policy:default`` names the point-goal checkpoint shipped with the package
    (:data:`DEFAULT_CHECKPOINT`), ``policy:vln`` the language-vision one (:data:`VLN_CHECKPOINT`).
    """
    if not spec.startswith(AGENT_PREFIX):
        raise PolicyError(f"agent spec {spec!r}: expected '{AGENT_PREFIX}CHECKPOINT[?budget=B&max_exit=K]'")
    path, _, query = spec[len(AGENT_PREFIX):].partition("?")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or key not in ("budget", "max_exit"):
            raise PolicyError(f"agent spec {spec!r}: unknown option {item!r}; expected budget=B or max_exit=K")
        options[key] = value
    if not path:
        raise PolicyError(f"agent spec {spec!r}: no checkpoint path")
    return NAMED_CHECKPOINTS.get(path, Path(path)), options


def make_agent(
    spec: str, *, budget: str | None = None, max_exit: int | None = None, embed: EmbedFn | None = None
) -> PolicyAgent:
    """Build the agent for an agent spec ``policy:CHECKPOINT[?budget=B&max_exit=K]`` (``eval nav --agent``).

    Args:
        spec: ``"policy:"``, the path of a ``.safetensors`` policy checkpoint, and optional
            ``?budget=...&max_exit=...`` (as the keyword arguments; the keywords win).
        budget: average trunk-compute budget (see :func:`thresholds_for_budget`).
        max_exit: peak cap (the deepest exit any step may reach).
        embed: text embedder; defaults to the memory's.
    """
    path, options = parse_agent_spec(spec)
    budget = budget if budget is not None else options.get("budget")
    if max_exit is None and "max_exit" in options:
        try:
            max_exit = int(options["max_exit"])
        except ValueError as err:
            raise PolicyError(f"agent spec {spec!r}: max_exit must be an integer") from err
    loaded = load_policy(path)
    thresholds = thresholds_for_budget(loaded, budget, max_exit)
    logger.info("policy %s: exits up to %d, thresholds %s", path, thresholds.max_exit, thresholds.info)
    return PolicyAgent(loaded.model, thresholds, embed)
