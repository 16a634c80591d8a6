"""Helpers of the deploy tests: a tiny policy config and a model-free instruction embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.text.embedders import HashEmbedder

REPO = Path(__file__).resolve().parents[2]


def tiny_config(**overrides: object) -> VLAConfig:
    """Three exits, 32 x 24 pixels: exports in seconds, runs in a fraction of a millisecond."""
    values: dict[str, object] = {
        "image_width": 32, "image_height": 24, "vision_channels": (8, 16), "hidden_size": 32,
        "num_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 64,
        "exit_interval": 1, "lstm_hidden_size": 32, "head_hidden_size": 32,
    }
    values.update(overrides)
    return VLAConfig(**values)


def hash_embed(texts: list[str]) -> np.ndarray:
    """A model-free 384-d instruction embedder (the real one is exercised in test_embedder)."""
    return HashEmbedder(384).embed(texts)
