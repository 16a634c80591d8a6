"""Shapes of every exportable part, exits, bidirectional attention, pretrained trunk init."""

from __future__ import annotations

import pytest
import torch
from policy_helpers import random_inputs, tiny_config

from embodied_stack.policy.modeling_vla import VLAModel, init_trunk_from_pretrained


def test_parts_have_plain_tensor_signatures_and_shapes() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    rgb, depth, instruction, goal = random_inputs(config, batch=3)
    tokens, feature0 = model.tokenizer(rgb, depth, instruction, goal)
    assert tokens.shape == (3, config.num_tokens, config.hidden_size)
    assert feature0.shape == (3, 2 * config.hidden_size)
    hidden, feature1 = model.segments[0](tokens)
    assert hidden.shape == tokens.shape and feature1.shape == feature0.shape
    h, c = model.initial_state(3)
    assert h.shape == (config.lstm_layers, 3, config.lstm_hidden_size)
    logits, velocity, h1, c1 = model.head(feature1, h, c)
    assert logits.shape == (3, 4) and velocity.shape == (3, 2)
    assert h1.shape == h.shape and c1.shape == c.shape
    assert torch.all(velocity[:, 0].abs() <= config.max_linear_mps)
    assert torch.all(velocity[:, 1].abs() <= config.max_angular_radps)


def test_exit_features_cover_every_exit_and_prefixes_agree() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    inputs = random_inputs(config, batch=2)
    with torch.no_grad():
        all_exits = model.exit_features(*inputs)
        first_two = model.exit_features(*inputs, num_exits=2)
    assert all_exits.shape == (config.num_exits + 1, 2, 2 * config.hidden_size)
    torch.testing.assert_close(first_two, all_exits[:3])
    assert not torch.allclose(all_exits[1], all_exits[-1])


def test_sequence_outputs_match_stepwise_head_with_carried_state() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    batch, steps = 2, 5
    rgb, depth, instruction, goal = random_inputs(config, batch=batch * steps)
    seq = [x.reshape(batch, steps, *x.shape[1:]) for x in (rgb, depth, instruction, goal)]
    with torch.no_grad():
        features, logits, velocity = model.sequence_outputs(*seq)
        assert logits.shape == (config.num_exits + 1, batch, steps, 4)
        h, c = model.initial_state(batch)
        for t in range(steps):
            step_logits, step_velocity, h, c = model.head(features[-1, :, t], h, c)
            torch.testing.assert_close(step_logits, logits[-1, :, t], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(step_velocity, velocity[-1, :, t], atol=1e-5, rtol=1e-5)


def test_attention_is_bidirectional() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    tokens = torch.randn(1, config.num_tokens, config.hidden_size)
    changed = tokens.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        first, _ = model.segments[0](tokens)
        second, _ = model.segments[0](changed)
    assert not torch.allclose(first[:, 0], second[:, 0]), "the goal token must see the visual tokens"


def test_depth_is_used_and_can_be_switched_off() -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    rgb, depth, instruction, goal = random_inputs(config)
    with torch.no_grad():
        a, _ = model.tokenizer(rgb, depth, instruction, goal)
        b, _ = model.tokenizer(rgb, depth * 0.5, instruction, goal)
    assert not torch.allclose(a, b)
    blind = VLAModel(tiny_config(use_depth=False)).eval()
    with torch.no_grad():
        a, _ = blind.tokenizer(rgb, depth, instruction, goal)
        b, _ = blind.tokenizer(rgb, depth * 0.5, instruction, goal)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("backbone", ["llama", "qwen2"])
def test_trunk_initialises_from_a_local_pretrained_model(tmp_path, backbone: str) -> None:
    from transformers import LlamaConfig, LlamaModel, Qwen2Config, Qwen2Model

    cls_config, cls_model = (LlamaConfig, LlamaModel) if backbone == "llama" else (Qwen2Config, Qwen2Model)
    lm = cls_model(cls_config(hidden_size=32, intermediate_size=64, num_hidden_layers=6, num_attention_heads=2,
                              num_key_value_heads=1, vocab_size=16))
    lm.save_pretrained(tmp_path)
    from embodied_stack.policy.configuration_vla import VLAConfig

    config = VLAConfig.from_pretrained_trunk(
        tmp_path, num_layers=4, exit_interval=1, image_width=32, image_height=24, vision_channels=(8, 16),
        lstm_hidden_size=32, head_hidden_size=32,
    )
    model = VLAModel(config)
    init_trunk_from_pretrained(model)
    torch.testing.assert_close(model.segments[2].layers[0].mlp.up_proj.weight, lm.layers[2].mlp.up_proj.weight)
