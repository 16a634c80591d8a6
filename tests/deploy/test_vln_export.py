"""Per-segment ONNX export and the early-exit runtime for the language-vision policy (token
instructions, odometry state token): fp32 parity with torch within 1e-4."""

from __future__ import annotations

import math

import numpy as np
import torch
from deploy_helpers import tiny_config

from embodied_stack.deploy.policy_export import export_policy
from embodied_stack.deploy.runtime import OnnxPolicy
from embodied_stack.policy.early_exit import EarlyExitController, ExitThresholds
from embodied_stack.policy.modeling_vla import VLAModel


def test_token_policy_exports_and_exits_like_torch(tmp_path) -> None:
    torch.manual_seed(0)
    model = VLAModel(tiny_config(instruction_tokens=5, state_inputs="odometry", waypoints=False)).eval()
    export = export_policy(model, tmp_path / "vln")
    assert all(g.parity_max_abs_diff <= 1e-4 for g in export.manifest.graphs)
    policy = OnnxPolicy(tmp_path / "vln")
    gen = torch.Generator().manual_seed(3)
    for batch in (1, 3):
        text = torch.randn(batch, 5, 384, generator=gen)
        text[:, 3:] = 0.0  # padding rows
        inputs = (torch.rand(batch, 3, 24, 32, generator=gen), torch.rand(batch, 1, 24, 32, generator=gen) * 4,
                  text, torch.rand(batch, model.config.goal_features, generator=gen))
        with torch.no_grad():
            assert torch.max(torch.abs(policy.exit_features(*inputs) - model.exit_features(*inputs))) < 1e-4
    thresholds = ExitThresholds((0.05,) * model.num_exits, model.num_exits)
    ours, theirs = EarlyExitController(model, thresholds), EarlyExitController(policy, thresholds)  # type: ignore[arg-type]
    for _ in range(4):
        step_inputs = tuple(x[:1] for x in inputs)
        a, b = ours.step(*step_inputs), theirs.step(*step_inputs)
        assert a.exit_index == b.exit_index and a.action == b.action
        assert np.abs(a.probs - b.probs).max() < 1e-4
    assert math.isfinite(a.network_flops) and a.network_flops > a.trunk_flops
