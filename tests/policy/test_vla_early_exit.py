"""The DeeR exit rule on hand-made outputs, and the controller that skips the remaining segments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from policy_helpers import random_inputs, tiny_config

from embodied_stack.policy.early_exit import (
    EarlyExitController,
    ExitStats,
    ExitThresholds,
    consistency_score,
    exit_scores,
    select_exits,
)
from embodied_stack.policy.errors import CalibrationError
from embodied_stack.policy.modeling_vla import VLAModel

BIG = 30.0


def _one_hot_logits(index: int) -> torch.Tensor:
    logits = torch.full((4,), -BIG)
    logits[index] = BIG
    return logits


def test_total_variation_on_hand_made_distributions() -> None:
    same = consistency_score(_one_hot_logits(1), _one_hot_logits(1), torch.zeros(2), torch.zeros(2), "tv")
    disjoint = consistency_score(_one_hot_logits(1), _one_hot_logits(2), torch.zeros(2), torch.zeros(2), "tv")
    half = consistency_score(
        torch.log(torch.tensor([0.5, 0.5, 1e-12, 1e-12])), _one_hot_logits(0), torch.zeros(2), torch.zeros(2), "tv"
    )
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert float(disjoint) == pytest.approx(1.0, abs=1e-6)
    assert float(half) == pytest.approx(0.5, abs=1e-6)


def test_jensen_shannon_and_velocity_metrics() -> None:
    js = consistency_score(_one_hot_logits(1), _one_hot_logits(2), torch.zeros(2), torch.zeros(2), "js")
    assert float(js) == pytest.approx(math.log(2.0), abs=1e-5)
    vel = consistency_score(
        _one_hot_logits(0), _one_hot_logits(0), torch.tensor([0.0, 0.0]), torch.tensor([0.5, 0.0]), "velocity",
        torch.tensor([0.5, 1.0]),
    )
    assert float(vel) == pytest.approx(math.sqrt(0.5))


def test_exit_scores_compare_consecutive_exits() -> None:
    logits = torch.stack([_one_hot_logits(i) for i in (1, 1, 2, 2)])  # exits 0..3
    scores = exit_scores(logits, torch.zeros(4, 2), "tv")
    assert scores.tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)


def test_select_exits_takes_the_first_passing_exit_or_the_cap() -> None:
    scores = np.array([[0.1, 0.9, 0.9, 0.9], [0.5, 0.2, 0.9, 0.9], [0.9, 0.9, 0.9, 0.9], [0.9, 0.9, 0.1, 0.0]])
    thresholds = np.array([0.2, 0.3, 0.2, math.inf])
    assert select_exits(scores, thresholds, max_exit=4).tolist() == [1, 2, 4, 3]
    assert select_exits(scores, thresholds, max_exit=2).tolist() == [1, 2, 2, 2]


def test_thresholds_validate_and_round_trip() -> None:
    thr = ExitThresholds((0.1, 0.2, math.inf, -math.inf), 3, "js", {"kind": "calibrated"})
    assert ExitThresholds.from_dict(thr.to_dict()) == thr
    with pytest.raises(CalibrationError, match="max_exit"):
        ExitThresholds((0.1, 0.2), 3)
    with pytest.raises(CalibrationError, match="metric"):
        ExitThresholds((0.1,), 1, "l1")


class _SegmentCalls:
    def __init__(self, model: VLAModel) -> None:
        self.calls = [0] * model.num_exits
        for k, segment in enumerate(model.segments):
            segment.register_forward_hook(self._hook(k))

    def _hook(self, k: int):  # noqa: ANN202
        def hook(*_args: object) -> None:
            self.calls[k] += 1

        return hook


def test_controller_runs_only_the_segments_up_to_the_exit() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    counter = _SegmentCalls(model)
    always_first = ExitThresholds((math.inf,) * config.num_exits, config.num_exits)
    step = EarlyExitController(model, always_first).step(*random_inputs(config))
    assert step.exit_index == 1 and counter.calls == [1, 0, 0, 0]
    capped = ExitThresholds((-math.inf,) * config.num_exits, 2)
    controller = EarlyExitController(model, capped)
    step = controller.step(*random_inputs(config))
    assert step.exit_index == 2 and counter.calls == [2, 1, 0, 0]
    assert step.trunk_flops == controller.flops.trunk(2) == 2 * controller.flops.trunk(1)
    full = EarlyExitController(model, ExitThresholds.full(config.num_exits)).step(*random_inputs(config))
    assert full.exit_index == config.num_exits and counter.calls == [3, 2, 1, 1]
    # a static depth runs the head once, no consecutive-exit scores (its whole-network cost is honest)
    assert full.scores == () and full.network_flops == controller.flops.static(config.num_exits)
    dynamic = EarlyExitController(model, ExitThresholds((-1.0,) * config.num_exits, config.num_exits))
    assert len(dynamic.step(*random_inputs(config)).scores) == config.num_exits - 1


def test_controller_stops_where_the_scores_first_pass() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    inputs = random_inputs(config, seed=3)
    with torch.no_grad():
        features = model.exit_features(*inputs)
        h, c = model.initial_state(1)
        outs = [model.head(f, h, c) for f in features]
    scores = exit_scores(torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs]), "tv")[:, 0]
    target = 2  # set the threshold of exit 2 just above its score, the others just below theirs
    values = [float(s) - 1e-6 for s in scores]
    values[target - 1] = float(scores[target - 1]) + 1e-6
    if float(scores[0]) <= values[0]:
        pytest.skip("exit 1 already agrees with exit 0 at random init")
    step = EarlyExitController(model, ExitThresholds(tuple(values), config.num_exits)).step(*inputs)
    assert step.exit_index == target
    np.testing.assert_allclose(step.probs, torch.softmax(outs[target][0][0], -1).numpy(), atol=1e-6)


def test_controller_full_model_matches_sequence_outputs_over_time() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    steps = 4
    rgb, depth, instruction, goal = random_inputs(config, batch=steps, seed=5)
    controller = EarlyExitController(model, ExitThresholds.full(config.num_exits))
    probs = [controller.step(rgb[t:t + 1], depth[t:t + 1], instruction[t:t + 1], goal[t:t + 1]).probs
             for t in range(steps)]
    with torch.no_grad():
        _, logits, _ = model.sequence_outputs(rgb[None], depth[None], instruction[None], goal[None])
    expected = torch.softmax(logits[-1, 0], -1).numpy()
    np.testing.assert_allclose(np.stack(probs), expected, atol=1e-5)
    controller.reset()
    first = controller.step(rgb[:1], depth[:1], instruction[:1], goal[:1]).probs
    np.testing.assert_allclose(first, expected[0], atol=1e-5)


def test_exit_stats_summary() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    controller = EarlyExitController(model, ExitThresholds.fixed(2, config.num_exits))
    stats = ExitStats(config.num_exits)
    for seed in range(3):
        stats.add(controller.step(*random_inputs(config, seed=seed)), wall_s=0.002)
    summary = stats.summary()
    assert summary["exit_histogram"] == {"1": 0, "2": 3, "3": 0, "4": 0}
    assert summary["trunk_flops_peak"] == summary["trunk_flops_mean"] == controller.flops.trunk(2)
    assert summary["policy_ms_per_step"] == pytest.approx(2.0)
