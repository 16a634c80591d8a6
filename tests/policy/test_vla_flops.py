"""Analytic FLOPs against a hand count and against torch's own FLOP counter."""

from __future__ import annotations

import numpy as np
import torch
from policy_helpers import random_inputs, tiny_config
from torch.utils.flop_counter import FlopCounterMode

from embodied_stack.policy.flops import (
    StepFlops,
    decoder_layer_flops,
    head_flops,
    trunk_flops_per_exit,
    vision_flops,
)
from embodied_stack.policy.modeling_vla import VLAModel


def test_decoder_layer_flops_match_a_hand_count() -> None:
    config = tiny_config()  # 50 tokens, hidden 32, 2 heads of 16, 1 kv head, mlp 64
    tokens = 2 + 8 * 6
    q = o = 2 * tokens * 32 * 32
    k = v = 2 * tokens * 32 * 16
    scores = weighted_sum = 2 * 2 * tokens * tokens * 16
    mlp = 3 * 2 * tokens * 32 * 64
    assert decoder_layer_flops(config) == q + k + v + o + scores + weighted_sum + mlp == 1_241_600
    assert trunk_flops_per_exit(config).tolist() == [1_241_600 * n for n in (1, 2, 3, 4)]


def test_trunk_count_equals_torch_flop_counter_with_eager_attention() -> None:
    config = tiny_config(exit_interval=2)
    model = VLAModel(config).eval()
    segment = model.segments[0]
    segment.layers[0].self_attn.config._attn_implementation = "eager"
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        segment(torch.randn(1, config.num_tokens, config.hidden_size))
    assert counter.get_total_flops() == 2 * decoder_layer_flops(config)


def test_vision_count_equals_torch_flop_counter() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.tokenizer(*random_inputs(config))
    assert counter.get_total_flops() == vision_flops(config)


def test_head_count_by_hand() -> None:
    config = tiny_config()  # feature 64, lstm 32 x 1 layer, head 32, 6 outputs
    assert head_flops(config) == 2 * 64 * 32 + 2 * 4 * 32 * (32 + 32) + 2 * (64 * 32 + 32 * 6)


def test_step_flops_by_exit() -> None:
    config = tiny_config()
    flops = StepFlops.from_config(config)
    assert flops.full_trunk == 4 * decoder_layer_flops(config)
    assert flops.trunk(1) * 4 == flops.full_trunk
    assert flops.total(2) == flops.vision + flops.trunk(2) + 3 * flops.head
    assert np.all(np.diff(flops.trunk_per_exit) > 0)
