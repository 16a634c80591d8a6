"""Analytic compute count of the policy, per step and per exit depth.

Convention (the usual one for transformer FLOPs): a multiply-add is 2 FLOPs, and only matrix
products and convolutions are counted (projections, attention scores and weighted sums, MLPs,
conv kernels, LSTM gates). Norms, activations, softmax, rotary embeddings and biases are
left out; they are well under 1 % here. The trunk count is what the early-exit budget is about
(as DeeR reports "LLM GFLOPs"); the whole-network count (:meth:`StepFlops.total` for an early-exit
step, :meth:`StepFlops.static` for a fixed depth) adds the vision encoder and every head run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embodied_stack.policy.configuration_vla import VLAConfig


def decoder_layer_flops(config: VLAConfig) -> int:
    """FLOPs of one trunk decoder layer over the ``num_tokens`` sequence (batch 1)."""
    t, d, i = config.num_tokens, config.hidden_size, config.intermediate_size
    q_dim = config.num_attention_heads * config.head_dim
    kv_dim = config.num_key_value_heads * config.head_dim
    projections = 2 * t * d * q_dim + 2 * (2 * t * d * kv_dim) + 2 * t * q_dim * d
    attention = 2 * (2 * config.num_attention_heads * t * t * config.head_dim)
    mlp = 3 * (2 * t * d * i)
    return projections + attention + mlp


def trunk_flops_per_exit(config: VLAConfig) -> np.ndarray:
    """Trunk FLOPs of one step that stops at exit k, for k = 1..num_exits: (num_exits,) int64."""
    return decoder_layer_flops(config) * np.asarray(config.exit_layers, dtype=np.int64)


def vision_flops(config: VLAConfig) -> int:
    """FLOPs of the tokenizer: conv stages, visual/goal/instruction projections (batch 1)."""
    total = 0
    height, width, in_ch = config.image_height, config.image_width, config.in_channels
    first_refined = len(config.vision_channels) - config.vision_refine_stages
    for index, out_ch in enumerate(config.vision_channels):
        height, width = height // 2, width // 2
        refine = out_ch * out_ch if index >= first_refined else 0
        total += 2 * height * width * 9 * (in_ch * out_ch + refine)
        in_ch = out_ch
    d = config.hidden_size
    total += 2 * config.num_visual_tokens * in_ch * d
    total += 2 * (config.goal_features * d + d * d)
    total += 2 * config.text_dim * d * config.num_text_tokens
    return total


def head_flops(config: VLAConfig) -> int:
    """FLOPs of one shared action-head evaluation (projection, LSTM step, output MLP)."""
    feature, hidden = 2 * config.hidden_size, config.lstm_hidden_size
    lstm = sum(2 * 4 * hidden * (hidden + hidden) for _ in range(config.lstm_layers))
    out = 2 * (2 * hidden * config.head_hidden_size + config.head_hidden_size * (config.num_actions + 2))
    return 2 * feature * hidden + lstm + out


@dataclass(frozen=True)
class StepFlops:
    """Compute of one policy step by exit depth (FLOPs, batch 1)."""

    trunk_per_exit: tuple[int, ...]
    vision: int
    head: int

    @classmethod
    def from_config(cls, config: VLAConfig) -> StepFlops:
        return cls(tuple(int(x) for x in trunk_flops_per_exit(config)), vision_flops(config), head_flops(config))

    @property
    def full_trunk(self) -> int:
        """Trunk FLOPs of the full model (the last exit)."""
        return self.trunk_per_exit[-1]

    def trunk(self, exit_index: int) -> int:
        """Trunk FLOPs of a step that stops at ``exit_index`` (1-based)."""
        if not 1 <= exit_index <= len(self.trunk_per_exit):
            raise ValueError(f"exit index must be in 1..{len(self.trunk_per_exit)}, got {exit_index}")
        return self.trunk_per_exit[exit_index - 1]

    def total(self, exit_index: int) -> int:
        """All FLOPs of an early-exit step stopping at ``exit_index``: vision, trunk, and the
        shared head run at exits 0..exit_index (each exit's action is compared with the previous one)."""
        return self.vision + self.trunk(exit_index) + (exit_index + 1) * self.head

    def static(self, exit_index: int) -> int:
        """All FLOPs of a static-depth step (always ``exit_index``): vision, trunk, one head run."""
        return self.vision + self.trunk(exit_index) + self.head

    @property
    def full_network(self) -> int:
        """Whole-network FLOPs of the full model run statically (the last exit, one head run)."""
        return self.static(len(self.trunk_per_exit))
