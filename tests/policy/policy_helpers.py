"""Helpers of the policy tests: a tiny config that builds and runs in milliseconds."""

from __future__ import annotations

import torch

from embodied_stack.policy.configuration_vla import VLAConfig


def tiny_config(**overrides: object) -> VLAConfig:
    values: dict[str, object] = {
        "image_width": 32,
        "image_height": 24,
        "vision_channels": (8, 16),
        "vision_refine_stages": 1,
        "hidden_size": 32,
        "num_layers": 4,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 64,
        "exit_interval": 1,
        "lstm_hidden_size": 32,
        "head_hidden_size": 32,
    }
    values.update(overrides)
    return VLAConfig(**values)


def random_inputs(config: VLAConfig, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(rgb, depth, instruction, goal) with the shapes ``VisionTokenizer`` takes."""
    gen = torch.Generator().manual_seed(seed)
    h, w = config.image_height, config.image_width
    return (
        torch.rand(batch, 3, h, w, generator=gen),
        torch.rand(batch, 1, h, w, generator=gen) * 4.0,
        torch.randn(batch, config.text_dim, generator=gen),
        torch.randn(batch, config.goal_features, generator=gen),
    )


def open_room_scene():  # noqa: ANN201 - embodied_stack.sim.scene.Scene
    """One 6 m x 4 m room with three pieces of furniture: point-goal navigation without doors."""
    from embodied_stack.sim.scene import Room, Scene, SceneObject

    room = Room("living_room_1", "living room", ((0.0, 0.0), (6.0, 0.0), (6.0, 4.0), (0.0, 4.0)))
    objects = [
        SceneObject("sofa_1", "sofa", "living_room_1", (5.4, 2.0, 0.4), (0.8, 1.8, 0.8), color=(0.2, 0.3, 0.7)),
        SceneObject("table_1", "table", "living_room_1", (0.6, 0.6, 0.4), (0.8, 0.8, 0.8), color=(0.6, 0.4, 0.2)),
        SceneObject("plant_1", "plant", "living_room_1", (0.5, 3.5, 0.5), (0.5, 0.5, 1.0), color=(0.1, 0.6, 0.1)),
    ]
    return Scene("open_room", [room], [], objects)


def hash_embed(texts: list[str]):  # noqa: ANN201 - np.ndarray (N, 384)
    """A fast deterministic stand-in for the MiniLM embedder (no model to load)."""
    from embodied_stack.text.embedders import HashEmbedder

    return HashEmbedder(384).embed(texts)
