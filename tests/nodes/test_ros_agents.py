"""The policy node's agent from its parameters (agents.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from embodied_stack_ros.agents import load_agent
from embodied_stack_ros.errors import ParameterError

from embodied_stack.policy.checkpoint import save_policy
from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.modeling_vla import VLAModel


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = VLAConfig(image_width=32, image_height=24, vision_channels=(8, 16), hidden_size=32, num_layers=4,
                       num_attention_heads=2, num_key_value_heads=1, intermediate_size=64, exit_interval=1,
                       lstm_hidden_size=32, head_hidden_size=32)
    return save_policy(tmp_path_factory.mktemp("policy") / "tiny.safetensors", VLAModel(config))


def test_a_checkpoint_loads_with_budget_cap_and_embedder(checkpoint: Path) -> None:
    agent = load_agent(f"policy:{checkpoint}", budget="full", max_exit=2, embedder="hash")
    assert agent.model.num_exits == 4
    assert agent.thresholds.max_exit == 2
    assert agent.embed_instruction("go to the fridge").shape == (1, 384)


@pytest.mark.parametrize(
    ("spec", "match"),
    [("", "is empty"), ("policy:/no/such/policy.safetensors", "cannot load agent"),
     ("onnx:/no/such/export", "cannot load agent")],
)
def test_unusable_specs_are_parameter_errors(spec: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        load_agent(spec)


def test_a_cap_beyond_the_model_is_a_parameter_error(checkpoint: Path) -> None:
    with pytest.raises(ParameterError, match="max exit"):
        load_agent(f"policy:{checkpoint}", max_exit=9)
