"""DeeR's dynamic early-exit rule and a batch-1 controller that really skips the remaining layers.

The rule (Yue et al. 2024): run the trunk segment by segment; after segment k compute the
shared head's action at exit k and compare it with the action at exit k-1; stop as soon as the
difference (the *consistency score*) is at most threshold k, or at the maximum exit (the peak
compute cap). Exit 0 is the token embeddings before any trunk layer: it is never taken, only
compared against, so the earliest stop is exit 1.

For the discrete action head the score is a distance between the two action distributions
(total variation by default; Jensen-Shannon as an option); ``"velocity"`` uses DeeR's
continuous rule, the RMS difference of the velocity commands scaled to their bounds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from embodied_stack.policy.configuration_vla import EXIT_METRICS
from embodied_stack.policy.errors import CalibrationError
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.modeling_vla import VLAModel


def consistency_score(
    prev_logits: torch.Tensor,
    logits: torch.Tensor,
    prev_velocity: torch.Tensor,
    velocity: torch.Tensor,
    metric: str,
    velocity_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Disagreement between two consecutive exits, over any leading batch dimensions.

    Args:
        prev_logits, logits: (..., num_actions) action logits at exits k-1 and k.
        prev_velocity, velocity: (..., 2) velocity commands (m/s, rad/s) at exits k-1 and k.
        metric: ``"tv"`` (0..1), ``"js"`` (0..ln 2 nats) or ``"velocity"`` (RMS of the
            difference divided by ``velocity_scale``, so both components weigh alike).

    Returns:
        (...) scores; small means the exits agree.
    """
    if metric == "tv":
        return 0.5 * (torch.softmax(logits, -1) - torch.softmax(prev_logits, -1)).abs().sum(-1)
    if metric == "js":
        log_p, log_q = torch.log_softmax(prev_logits, -1), torch.log_softmax(logits, -1)
        log_m = torch.logsumexp(torch.stack([log_p, log_q]), 0) - math.log(2.0)
        kl_pm = (log_p.exp() * (log_p - log_m)).sum(-1)
        kl_qm = (log_q.exp() * (log_q - log_m)).sum(-1)
        return (0.5 * (kl_pm + kl_qm)).clamp(min=0.0)
    if metric == "velocity":
        scale = velocity_scale if velocity_scale is not None else torch.ones(velocity.shape[-1])
        return ((velocity - prev_velocity) / scale).pow(2).mean(-1).sqrt()
    raise ValueError(f"unknown exit metric {metric!r}; expected one of {EXIT_METRICS}")


def exit_scores(
    logits: torch.Tensor, velocity: torch.Tensor, metric: str, velocity_scale: torch.Tensor | None = None
) -> torch.Tensor:
    """Scores at exits 1..E from outputs at exits 0..E: (E + 1, ..., A) -> (E, ...)."""
    return consistency_score(logits[:-1], logits[1:], velocity[:-1], velocity[1:], metric, velocity_scale)


def select_exits(scores: np.ndarray, thresholds: np.ndarray, max_exit: int) -> np.ndarray:
    """The exit each sample takes under the rule: (N, E) scores -> (N,) exits in 1..max_exit.

    A sample exits at the first k <= ``max_exit`` with ``scores[:, k-1] <= thresholds[k-1]``,
    and at ``max_exit`` when none passes.
    """
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if scores.ndim != 2 or thresholds.shape != (scores.shape[1],):
        raise ValueError(f"expected scores (N, E) and thresholds (E,), got {scores.shape} and {thresholds.shape}")
    if not 1 <= max_exit <= scores.shape[1]:
        raise ValueError(f"max_exit must be in 1..{scores.shape[1]}, got {max_exit}")
    passed = scores[:, :max_exit] <= thresholds[:max_exit]
    passed[:, max_exit - 1] = True
    return passed.argmax(axis=1) + 1


def _encode_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


@dataclass(frozen=True)
class ExitThresholds:
    """Thresholds of exits 1..E, the peak cap ``max_exit`` and the score metric.

    ``-inf`` never lets a step stop there; ``inf`` always does. Saved in the checkpoint metadata
    and in calibration JSON (non-finite values as the strings ``"inf"`` / ``"-inf"``).
    """

    values: tuple[float, ...]
    max_exit: int
    metric: str = "tv"
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if not self.values:
            raise CalibrationError("exit thresholds: need at least one exit")
        if any(math.isnan(v) for v in self.values):
            raise CalibrationError(f"exit thresholds must not be NaN, got {list(self.values)}")
        if not 1 <= self.max_exit <= len(self.values):
            raise CalibrationError(f"exit thresholds: max_exit must be in 1..{len(self.values)}, got {self.max_exit}")
        if self.metric not in EXIT_METRICS:
            raise CalibrationError(f"exit thresholds: metric must be one of {EXIT_METRICS}, got {self.metric!r}")

    @property
    def num_exits(self) -> int:
        return len(self.values)

    @classmethod
    def full(cls, num_exits: int, metric: str = "tv") -> ExitThresholds:
        """Always run the whole trunk (the full model)."""
        return cls((-math.inf,) * num_exits, num_exits, metric, {"kind": "full"})

    @classmethod
    def fixed(cls, exit_index: int, num_exits: int, metric: str = "tv") -> ExitThresholds:
        """Always stop at ``exit_index`` (a static cut of the trunk)."""
        return cls((-math.inf,) * num_exits, exit_index, metric, {"kind": f"fixed:{exit_index}"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": [_encode_float(v) for v in self.values],
            "max_exit": self.max_exit,
            "metric": self.metric,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "exit thresholds") -> ExitThresholds:
        if not isinstance(data, dict) or "thresholds" not in data or "max_exit" not in data:
            raise CalibrationError(f"{where}: expected an object with 'thresholds' and 'max_exit'")
        try:
            values = tuple(float(v) for v in data["thresholds"])
            max_exit = int(data["max_exit"])
        except (TypeError, ValueError) as err:
            raise CalibrationError(f"{where}: 'thresholds' must be numbers or 'inf'/'-inf' ({err})") from err
        return cls(values, max_exit, str(data.get("metric", "tv")), dict(data.get("info", {})))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class ExitStep:
    """One early-exit inference step: the action taken and where the trunk stopped."""

    action: int
    probs: np.ndarray
    velocity: tuple[float, float]
    exit_index: int
    scores: tuple[float, ...]
    trunk_flops: int
    network_flops: int = 0
    """Whole network: vision encoder, every trunk segment run and every head run."""


class EarlyExitController:
    """Batch-1 inference with early exit; carries the action head's LSTM state across steps.

    Only the segments up to the exit taken are run; the LSTM state carried to the next step
    is the one computed at that exit.
    """

    def __init__(self, model: VLAModel, thresholds: ExitThresholds) -> None:
        if thresholds.num_exits != model.num_exits:
            raise CalibrationError(
                f"thresholds are for {thresholds.num_exits} exits but the model has {model.num_exits}"
            )
        self.model = model.eval()
        self.thresholds = thresholds
        self.flops = StepFlops.from_config(model.config)
        self.static = all(v == -math.inf for v in thresholds.values[: thresholds.max_exit - 1])
        """No exit before ``max_exit`` can pass: a static depth, run without intermediate heads."""
        self.reset()

    def reset(self) -> None:
        """Start a new episode: zero recurrent state."""
        self.state = self.model.initial_state(1)

    @torch.inference_mode()
    def step(
        self, rgb: torch.Tensor, depth: torch.Tensor, instruction: torch.Tensor, goal: torch.Tensor
    ) -> ExitStep:
        """Run one step on (1, ...) inputs (see ``VisionTokenizer``) and return the action."""
        model, thr = self.model, self.thresholds
        h, c = self.state
        hidden, feature = model.tokenizer(rgb, depth, instruction, goal)
        if self.static:
            # a fixed depth (no threshold can stop earlier): run the trunk to it and the head once
            for segment in model.segments[: thr.max_exit]:
                hidden, feature = segment(hidden)
            logits, velocity, h_k, c_k = model.head(feature, h, c)
            return self._finish(logits, velocity, h_k, c_k, thr.max_exit, (), self.flops.static(thr.max_exit))
        prev_logits, prev_velocity, _, _ = model.head(feature, h, c)
        scores: list[float] = []
        for k in range(1, thr.max_exit + 1):
            hidden, feature = model.segments[k - 1](hidden)
            logits, velocity, h_k, c_k = model.head(feature, h, c)
            if k == thr.max_exit:
                break
            score = float(
                consistency_score(prev_logits, logits, prev_velocity, velocity, thr.metric, model.head.velocity_scale)
            )
            scores.append(score)
            if score <= thr.values[k - 1]:
                break
            prev_logits, prev_velocity = logits, velocity
        return self._finish(logits, velocity, h_k, c_k, k, tuple(scores), self.flops.total(k))

    def _finish(self, logits: torch.Tensor, velocity: torch.Tensor, h: torch.Tensor, c: torch.Tensor, k: int,
                scores: tuple[float, ...], network_flops: int) -> ExitStep:
        self.state = (h, c)
        probs = torch.softmax(logits[0], -1).numpy()
        return ExitStep(
            action=int(probs.argmax()),
            probs=probs,
            velocity=(float(velocity[0, 0]), float(velocity[0, 1])),
            exit_index=k,
            scores=scores,
            trunk_flops=self.flops.trunk(k),
            network_flops=network_flops,
        )


@dataclass
class ExitStats:
    """Running statistics of early-exit steps: exit histogram, trunk and whole-network FLOPs,
    wall-clock of the network (``policy_ms``) and of the host-side input work beside it
    (``host_ms``: mapping and planning for the point-goal policy, odometry for the language-vision one)."""

    num_exits: int
    counts: np.ndarray = field(init=False)
    trunk_flops_total: int = 0
    trunk_flops_peak: int = 0
    network_flops_total: int = 0
    network_flops_peak: int = 0
    host_s_total: float = 0.0
    wall_s_total: float = 0.0
    steps: int = 0

    def __post_init__(self) -> None:
        self.counts = np.zeros(self.num_exits, dtype=np.int64)

    def add(self, step: ExitStep, wall_s: float, host_s: float = 0.0) -> None:
        self.counts[step.exit_index - 1] += 1
        self.trunk_flops_total += step.trunk_flops
        self.trunk_flops_peak = max(self.trunk_flops_peak, step.trunk_flops)
        self.network_flops_total += step.network_flops
        self.network_flops_peak = max(self.network_flops_peak, step.network_flops)
        self.wall_s_total += wall_s
        self.host_s_total += host_s
        self.steps += 1

    def merge(self, other: ExitStats) -> None:
        self.counts += other.counts
        self.trunk_flops_total += other.trunk_flops_total
        self.trunk_flops_peak = max(self.trunk_flops_peak, other.trunk_flops_peak)
        self.network_flops_total += other.network_flops_total
        self.network_flops_peak = max(self.network_flops_peak, other.network_flops_peak)
        self.host_s_total += other.host_s_total
        self.wall_s_total += other.wall_s_total
        self.steps += other.steps

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: mean/peak trunk FLOPs per step, exit histogram, ms per step."""
        steps = max(self.steps, 1)
        return {
            "steps": self.steps,
            "trunk_flops_mean": self.trunk_flops_total / steps,
            "trunk_flops_peak": self.trunk_flops_peak,
            "exit_histogram": {str(k + 1): int(n) for k, n in enumerate(self.counts)},
            "mean_exit": float((np.arange(1, self.num_exits + 1) * self.counts).sum() / steps),
            "network_flops_mean": self.network_flops_total / steps,
            "network_flops_peak": self.network_flops_peak,
            "policy_ms_per_step": 1000.0 * self.wall_s_total / steps,
            "host_ms_per_step": 1000.0 * self.host_s_total / steps,
        }
