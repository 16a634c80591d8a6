"""DeeR's offline threshold calibration for an average-compute budget and a peak cap.

Given consistency scores of validation steps at every exit (N, E), pick a target exit
distribution ``p_k ∝ ratio**(k-1)`` over exits 1..max_exit, solve ``ratio`` so that the
expected trunk FLOPs per step ``sum_k p_k * flops_k`` equal the average budget, then set each
threshold from the sorted scores of the samples still running so that a fraction ``p_k`` of
all samples stops at exit k. The threshold of the last allowed exit is infinite; the peak
budget is the cap ``max_exit`` itself (no step runs past it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from embodied_stack.policy.early_exit import ExitThresholds, select_exits
from embodied_stack.policy.errors import CalibrationError

_RATIO_BOUNDS = (1e-6, 1e6)


def exit_distribution(ratio: float, num_exits: int, max_exit: int) -> np.ndarray:
    """Target fraction of steps per exit 1..num_exits: ``∝ ratio**(k-1)`` up to ``max_exit``, 0 after."""
    if not ratio > 0 or not math.isfinite(ratio):
        raise CalibrationError(f"exit distribution ratio must be positive and finite, got {ratio}")
    if not 1 <= max_exit <= num_exits:
        raise CalibrationError(f"max_exit must be in 1..{num_exits}, got {max_exit}")
    log_w = np.arange(max_exit, dtype=np.float64) * math.log(ratio)
    weights = np.exp(log_w - log_w.max())
    p = np.zeros(num_exits)
    p[:max_exit] = weights / weights.sum()
    return p


def solve_ratio(budget_flops: float, exit_flops: np.ndarray, max_exit: int) -> float:
    """The ratio whose exit distribution has expected FLOPs ``budget_flops`` (bisection in log space).

    Raises :class:`CalibrationError` when the budget is below the cheapest exit. A budget at or
    above the cap's cost gives the largest ratio (nearly every step at ``max_exit``).
    """
    exit_flops = np.asarray(exit_flops, dtype=np.float64)
    if budget_flops < exit_flops[0]:
        raise CalibrationError(
            f"average budget {budget_flops:.4g} FLOPs is below the cheapest exit ({exit_flops[0]:.4g} FLOPs at exit 1)"
        )
    lo, hi = (math.log(b) for b in _RATIO_BOUNDS)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        cost = float(exit_distribution(math.exp(mid), len(exit_flops), max_exit) @ exit_flops)
        if cost > budget_flops:
            hi = mid
        else:
            lo = mid
    return math.exp(lo)


def thresholds_from_scores(scores: np.ndarray, target: np.ndarray, max_exit: int) -> np.ndarray:
    """Thresholds so that a fraction ``target[k-1]`` of the samples stops at exit k.

    Walks the exits in order; at exit k the samples still running are sorted by their score
    there and the threshold is the score of the last one that should stop (a fraction set by
    the cumulative target, so rounding does not accumulate). Exits past ``max_exit - 1`` get
    ``inf``; an exit that should take nobody gets ``-inf``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise CalibrationError(f"calibration needs scores of shape (N > 0, E), got {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise CalibrationError("calibration scores contain NaN or inf")
    n, num_exits = scores.shape
    thresholds = np.full(num_exits, math.inf)
    running = np.ones(n, dtype=bool)
    cumulative = np.rint(np.cumsum(target) * n).astype(np.int64)
    for k in range(max_exit - 1):
        want = int(cumulative[k] - (n - running.sum()))
        if want <= 0 or not running.any():
            thresholds[k] = -math.inf
            continue
        ordered = np.sort(scores[running, k])
        thresholds[k] = ordered[min(want, ordered.size) - 1]
        running &= ~(scores[:, k] <= thresholds[k])
    return thresholds


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`: thresholds and what they do on the calibration scores."""

    thresholds: ExitThresholds
    ratio: float
    target_distribution: np.ndarray
    achieved_distribution: np.ndarray
    budget_flops: float
    expected_flops: float
    peak_flops: float
    full_flops: float

    def summary(self) -> dict[str, object]:
        return {
            "thresholds": self.thresholds.to_dict(),
            "ratio": self.ratio,
            "budget_trunk_flops": self.budget_flops,
            "calibration_trunk_flops_mean": self.expected_flops,
            "peak_trunk_flops": self.peak_flops,
            "full_trunk_flops": self.full_flops,
            "reduction_x": self.full_flops / self.expected_flops,
            "target_exit_distribution": [round(float(p), 6) for p in self.target_distribution],
            "calibration_exit_distribution": [round(float(p), 6) for p in self.achieved_distribution],
        }


def calibrate(
    scores: np.ndarray, exit_flops: np.ndarray, budget_flops: float, max_exit: int, metric: str = "tv"
) -> Calibration:
    """DeeR offline calibration: thresholds meeting ``budget_flops`` on average, capped at ``max_exit``.

    Args:
        scores: (N, E) consistency scores of validation steps at exits 1..E.
        exit_flops: (E,) trunk FLOPs of a step stopping at each exit.
        budget_flops: target average trunk FLOPs per step.
        max_exit: peak cap; no step runs past this exit.
        metric: the score metric the scores were computed with (stored with the thresholds).
    """
    scores = np.asarray(scores, dtype=np.float64)
    exit_flops = np.asarray(exit_flops, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != exit_flops.shape[0]:
        raise CalibrationError(f"scores {scores.shape} do not match {exit_flops.shape[0]} exits")
    ratio = solve_ratio(budget_flops, exit_flops, max_exit)
    target = exit_distribution(ratio, len(exit_flops), max_exit)
    values = thresholds_from_scores(scores, target, max_exit)
    exits = select_exits(scores, values, max_exit)
    achieved = np.bincount(exits - 1, minlength=len(exit_flops)) / len(exits)
    thresholds = ExitThresholds(
        tuple(values), max_exit, metric, {"kind": "calibrated", "budget_trunk_flops": float(budget_flops)}
    )
    return Calibration(
        thresholds=thresholds,
        ratio=ratio,
        target_distribution=target,
        achieved_distribution=achieved,
        budget_flops=float(budget_flops),
        expected_flops=float(achieved @ exit_flops),
        peak_flops=float(exit_flops[max_exit - 1]),
        full_flops=float(exit_flops[-1]),
    )


_BUDGET = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(?:(x)|([kmg]?)\s*(flops?)?)\s*$", re.IGNORECASE
)
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_budget(text: str, full_flops: float) -> float:
    """Average trunk-FLOPs budget from text: ``0.2`` (fraction of the full trunk, in (0, 1]),
    ``5x`` (a reduction factor), or an absolute count such as ``40M``, ``40MFLOPs``, ``1.2G``."""
    match = _BUDGET.match(str(text))
    if not match:
        raise CalibrationError(
            f"budget {text!r}: expected a fraction of the full trunk (0.2), a reduction (5x) or FLOPs (40M, 1.2GFLOPs)"
        )
    value, reduction, prefix, flops_word = match.groups()
    value = float(value)
    if value <= 0:
        raise CalibrationError(f"budget {text!r} must be positive")
    if reduction:
        if value < 1:
            raise CalibrationError(f"budget {text!r}: a reduction factor must be >= 1x")
        return full_flops / value
    if prefix or flops_word:
        return value * _PREFIX[prefix.lower()]
    if value > 1:
        raise CalibrationError(
            f"budget {text!r}: a bare number is a fraction of the full trunk and must be in (0, 1]; "
            "write FLOPs with a unit (40M) or a reduction with x (5x)"
        )
    return value * full_flops
