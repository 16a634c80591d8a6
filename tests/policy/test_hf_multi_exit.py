"""Bring-your-own VLA: the multi-exit wrapper on tiny random Llama, Qwen2 and GPT-2 models saved locally."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from embodied_stack.policy.errors import PolicyConfigError
from embodied_stack.policy.hf_multi_exit import (
    MultiExitDecoder,
    MultiExitSpec,
    all_exit_scores,
    calibrate_exits,
    deer_loss,
    exit_consistency,
)


def _save_tiny(family: str, path) -> None:  # noqa: ANN001
    from transformers import AutoModel, GPT2Config, LlamaConfig, Qwen2Config

    common = {"vocab_size": 64, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    if family == "gpt2":
        config = GPT2Config(n_embd=32, n_layer=4, n_head=2, n_positions=32, **common)
    elif family == "llama":
        config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=2,
                             num_key_value_heads=1, max_position_embeddings=32, **common)
    else:
        config = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=2,
                             num_key_value_heads=1, max_position_embeddings=32, use_sliding_window=False, **common)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(str(path))


@pytest.fixture(scope="module", params=["llama", "qwen2", "gpt2"])
def wrapped(request, tmp_path_factory):  # noqa: ANN001, ANN201
    path = tmp_path_factory.mktemp(request.param)
    _save_tiny(request.param, path)
    torch.manual_seed(1)
    spec = MultiExitSpec(exit_every=2, num_actions=3, action_dim=2, action_bounds=(0.5, 1.5), adapter_dim=16,
                         seq_len=8)
    return MultiExitDecoder.from_pretrained(path, spec)


def test_wraps_the_local_model_with_an_exit_every_two_layers(wrapped: MultiExitDecoder) -> None:
    assert wrapped.num_exits == 2 and wrapped.exit_layers == (2, 4)
    x = torch.randn(3, 8, 32)
    logits, actions = wrapped(x)
    assert logits.shape == (3, 3, 3) and actions.shape == (3, 3, 2)
    assert (actions[..., 0].abs() <= 0.5).all() and (actions[..., 1].abs() <= 1.5).all()
    ids = torch.randint(0, 64, (1, 5))
    assert wrapped.embed_ids(ids).shape == (1, 5, 32)
    with pytest.raises(PolicyConfigError):
        wrapped(torch.randn(1, 9, 32))  # longer than seq_len
    flops = wrapped.exit_flops()
    assert flops.shape == (2,) and flops[1] > 1.9 * flops[0] > 0


def test_deer_loss_trains_every_exit(wrapped: MultiExitDecoder) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, 32, generator=gen)
    action = (x[:, 0, 0] > 0).long()  # learnable from the input
    continuous = torch.stack([x[:, 0, 1].clamp(-0.4, 0.4), x[:, 1, 1].clamp(-1, 1)], -1)
    opt = torch.optim.Adam(wrapped.parameters(), lr=3e-3)
    with torch.no_grad():
        first = float(deer_loss(wrapped, x, action, continuous))
    for _ in range(40):
        loss = deer_loss(wrapped, x, action, continuous)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(deer_loss(wrapped, x, action, continuous)) < 0.7 * first
    with torch.no_grad():
        logits, _ = wrapped(x)
    assert (logits[-1].argmax(-1) == action).float().mean() > 0.8
    with pytest.raises(PolicyConfigError):
        deer_loss(wrapped, x)


def test_consistency_scores_calibration_and_early_exit(wrapped: MultiExitDecoder) -> None:
    p = torch.tensor([[4.0, 0.0, 0.0]])
    assert float(exit_consistency(p, p, torch.zeros(1, 2), torch.zeros(1, 2), "tv")) == 0.0
    assert float(exit_consistency(p, -p, torch.zeros(1, 2), torch.zeros(1, 2), "tv")) > 0.9
    bounds = torch.tensor([0.5, 1.5])
    v = exit_consistency(p, p, torch.zeros(1, 2), torch.tensor([[0.5, 0.0]]), "velocity", bounds)
    assert float(v) == pytest.approx(math.sqrt(0.5))
    scores = all_exit_scores(wrapped, torch.randn(64, 8, 32))
    assert scores.shape == (64, 2) and np.isfinite(scores).all()
    cal = calibrate_exits(wrapped, scores, average_budget=0.75, peak_exit=2)
    assert cal.expected_flops <= 0.8 * wrapped.exit_flops()[-1]
    capped = calibrate_exits(wrapped, scores, average_budget=1.0, peak_exit=1)
    assert capped.thresholds.max_exit == 1 and capped.achieved_distribution[0] == 1.0
    with pytest.raises(PolicyConfigError):
        calibrate_exits(wrapped, scores, average_budget=1.5)
    x = torch.randn(1, 8, 32)
    assert wrapped.step(x, (math.inf, math.inf)).exit_index == 1
    full = wrapped.step(x, (-math.inf, -math.inf))
    assert full.exit_index == 2 and len(full.scores) == 1
    with torch.no_grad():
        logits, _ = wrapped(x)
    assert torch.allclose(full.logits, logits[-1], atol=1e-5)


def test_continuous_metric_needs_continuous_actions() -> None:
    with pytest.raises(PolicyConfigError):
        MultiExitSpec(num_actions=4, action_dim=0, metric="velocity")
    with pytest.raises(PolicyConfigError):
        MultiExitSpec(num_actions=0, action_dim=2, metric="tv")


def test_every_segment_exports_to_onnx_within_1e4(wrapped: MultiExitDecoder, tmp_path) -> None:
    import onnxruntime as ort

    from embodied_stack.deploy.hf_export import export_multi_exit

    index = export_multi_exit(wrapped, tmp_path)
    assert [g["name"] for g in index["graphs"]] == ["input", "segment_1", "segment_2"]
    assert all(g["parity_max_abs_diff"] <= 1e-4 for g in index["graphs"])
    x = torch.randn(1, 8, 32)  # another batch size than the export's example
    hidden = x.numpy()
    outs = []
    for g in index["graphs"]:
        session = ort.InferenceSession(str(tmp_path / g["file"]), providers=["CPUExecutionProvider"])
        hidden, logits, actions = session.run(None, {g["input"]: hidden})
        outs.append(logits)
    with torch.no_grad():
        want, _ = wrapped(x)
    assert np.abs(np.stack(outs) - want.numpy()).max() <= 1e-4
