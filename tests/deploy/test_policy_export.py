"""Per-stage ONNX export of the policy: manifest contents and fp32 parity with torch."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from embodied_stack.deploy.manifest import DEFAULT_OPSET, POLICY_FORMAT
from embodied_stack.deploy.policy_spec import PolicyExport
from embodied_stack.deploy.runtime import OnnxPolicy
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.modeling_vla import VLAModel


def _inputs(model: VLAModel, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    config = model.config
    gen = torch.Generator().manual_seed(seed)
    h, w = config.image_height, config.image_width
    depth = torch.rand(batch, 1, h, w, generator=gen) * 6.0
    depth[:, :, :3] = 0.0
    return (torch.rand(batch, 3, h, w, generator=gen), depth,
            torch.randn(batch, config.text_dim, generator=gen), torch.randn(batch, config.goal_features, generator=gen))


def test_manifest_lists_stages_exits_thresholds_and_flops(tiny_export: PolicyExport, tiny_model: VLAModel,
                                                          tiny_thresholds: ExitThresholds) -> None:
    data = json.loads((tiny_export.root / "manifest.json").read_text())
    assert data["format"] == POLICY_FORMAT and data["opset"] == DEFAULT_OPSET
    assert [g["name"] for g in data["graphs"]] == ["vision", "segment_1", "segment_2", "segment_3", "head"]
    assert [g.get("exit") for g in data["graphs"]] == [None, 1, 2, 3, None]
    head = data["graphs"][-1]
    assert [t["name"] for t in head["inputs"]] == ["feature", "h", "c"]
    assert [t["name"] for t in head["outputs"]] == ["logits", "velocity", "h_next", "c_next"]
    assert head["inputs"][1]["shape"] == [1, "batch", 32]
    assert all(g["inputs"][0]["shape"][0] == "batch" for g in data["graphs"][:-1])
    flops = StepFlops.from_config(tiny_model.config)
    assert data["exits"]["flops"]["trunk_per_exit"] == list(flops.trunk_per_exit)
    assert data["exits"]["flops"]["total_per_exit"] == [flops.total(k) for k in (1, 2, 3)]
    assert tiny_export.thresholds == tiny_thresholds
    assert all(0.0 <= g["parity_max_abs_diff"] <= 1e-4 for g in data["graphs"])
    for g in data["graphs"]:
        onnx_file = tiny_export.root / g["file"]
        assert onnx_file.stat().st_size == g["bytes"]
        assert not list(tiny_export.root.glob("*.data")), "weights must live inside the .onnx files"


@pytest.mark.parametrize("batch", [1, 3])
def test_every_stage_matches_torch_within_1e4(tiny_export: PolicyExport, tiny_model: VLAModel, batch: int) -> None:
    policy = OnnxPolicy(tiny_export.root)
    inputs = _inputs(tiny_model, batch, seed=batch)
    with torch.no_grad():
        want = tiny_model.exit_features(*inputs)
        got = policy.exit_features(*inputs)
        assert got.shape == want.shape == (4, batch, 64)
        assert torch.max(torch.abs(got - want)) < 1e-4
        h = torch.randn(1, batch, 32)
        c = torch.randn(1, batch, 32)
        for ref, out in zip(tiny_model.head(want[-1], h, c), policy.head(want[-1], h, c), strict=True):
            assert out.shape == ref.shape
            assert torch.max(torch.abs(out - ref)) < 1e-4


def test_graphs_are_standard_onnx_with_a_dynamic_batch(tiny_export: PolicyExport) -> None:
    session = ort.InferenceSession(str(tiny_export.root / "segment_2.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        hidden = np.random.default_rng(0).standard_normal((batch, tiny_export.config.num_tokens, 32)).astype(np.float32)
        hidden_next, feature = session.run(None, {"hidden": hidden})
        assert hidden_next.shape == hidden.shape and feature.shape == (batch, 64)
