"""DeeR offline calibration: target distributions, thresholds from sorted scores, budget parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embodied_stack.policy.calibration import (
    calibrate,
    exit_distribution,
    parse_budget,
    solve_ratio,
    thresholds_from_scores,
)
from embodied_stack.policy.early_exit import select_exits
from embodied_stack.policy.errors import CalibrationError

FLOPS = np.arange(1, 9, dtype=np.float64) * 10e6  # 8 exits, 10 MFLOPs per exit


def _synthetic_scores(n: int = 4000, exits: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.0, 1.0, size=(n, 1))
    decay = np.linspace(1.0, 0.1, exits)[None, :]
    return difficulty * decay + rng.uniform(0.0, 0.05, size=(n, exits))


def test_exit_distribution_is_geometric_up_to_the_cap() -> None:
    p = exit_distribution(0.5, 8, max_exit=4)
    assert p.sum() == pytest.approx(1.0)
    assert p[4:].tolist() == [0.0] * 4
    assert p[1] / p[0] == pytest.approx(0.5) and p[3] / p[2] == pytest.approx(0.5)


@pytest.mark.parametrize("budget_fraction", [0.15, 0.3, 0.6])
def test_solved_ratio_meets_the_budget(budget_fraction: float) -> None:
    budget = budget_fraction * FLOPS[-1]
    ratio = solve_ratio(budget, FLOPS, max_exit=8)
    assert exit_distribution(ratio, 8, 8) @ FLOPS == pytest.approx(budget, rel=1e-6)


@pytest.mark.parametrize(("budget_fraction", "max_exit"), [(0.2, 8), (0.35, 8), (0.3, 5)])
def test_calibration_hits_the_requested_average_on_synthetic_scores(budget_fraction: float, max_exit: int) -> None:
    scores = _synthetic_scores()
    budget = budget_fraction * FLOPS[-1]
    result = calibrate(scores, FLOPS, budget, max_exit)
    exits = select_exits(scores, np.asarray(result.thresholds.values), max_exit)
    assert exits.max() <= max_exit
    assert FLOPS[exits - 1].mean() == pytest.approx(budget, rel=0.02)
    assert result.expected_flops == pytest.approx(budget, rel=0.02)
    np.testing.assert_allclose(result.achieved_distribution, result.target_distribution, atol=0.01)
    assert result.peak_flops == FLOPS[max_exit - 1]
    assert math.isinf(result.thresholds.values[max_exit - 1])
    held_out = _synthetic_scores(seed=1)
    held_exits = select_exits(held_out, np.asarray(result.thresholds.values), max_exit)
    assert FLOPS[held_exits - 1].mean() == pytest.approx(budget, rel=0.1)


def test_thresholds_from_sorted_scores_on_a_hand_example() -> None:
    scores = np.array([[0.1, 0.0], [0.2, 0.0], [0.3, 0.0], [0.4, 0.0]])
    thresholds = thresholds_from_scores(scores, np.array([0.5, 0.5]), max_exit=2)
    assert thresholds.tolist() == [0.2, math.inf]


def test_budget_below_the_cheapest_exit_is_an_error() -> None:
    with pytest.raises(CalibrationError, match="cheapest exit"):
        calibrate(_synthetic_scores(100), FLOPS, 0.5 * FLOPS[0], 8)


def test_budget_above_the_cap_puts_everything_at_the_cap() -> None:
    result = calibrate(_synthetic_scores(500), FLOPS, FLOPS[-1], max_exit=3)
    assert result.achieved_distribution[2] > 0.99


def test_parse_budget_forms() -> None:
    full = 160e6
    assert parse_budget("0.2", full) == pytest.approx(32e6)
    assert parse_budget("5x", full) == pytest.approx(32e6)
    assert parse_budget("32M", full) == pytest.approx(32e6)
    assert parse_budget("0.032GFLOPs", full) == pytest.approx(32e6)
    for bad in ("2", "0.5x", "fast", "-1"):
        with pytest.raises(CalibrationError):
            parse_budget(bad, full)
