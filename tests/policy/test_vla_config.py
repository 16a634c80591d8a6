"""VLAConfig: defaults, validation messages, (de)serialisation, pretrained-trunk configs."""

from __future__ import annotations

import json

import pytest
import yaml

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.errors import PolicyConfigError


def test_default_config_has_at_least_eight_exits_every_two_layers() -> None:
    config = VLAConfig()
    assert config.num_exits >= 8
    assert config.exit_layers == tuple(range(2, config.num_layers + 1, 2))
    assert config.num_tokens == 2 + config.grid_size[0] * config.grid_size[1]
    assert config.in_channels == 4


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("hidden_size", 0, "hidden_size"),
        ("num_layers", 15, "exit_interval"),
        ("image_width", 60, "divisible"),
        ("backbone", "gpt2", "backbone"),
        ("exit_metric", "l1", "exit_metric"),
        ("num_key_value_heads", 3, "num_key_value_heads"),
        ("max_depth_m", float("nan"), "max_depth_m"),
        ("vision_channels", (), "vision_channels"),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(field: str, value: object, fragment: str) -> None:
    with pytest.raises(PolicyConfigError, match=fragment):
        VLAConfig(**{field: value})


def test_round_trip_through_json_and_yaml(tmp_path) -> None:
    config = VLAConfig(hidden_size=64, num_layers=8, vision_channels=(16, 32, 64), backbone="qwen2")
    assert VLAConfig.from_dict(json.loads(config.to_json())) == config
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert VLAConfig.from_file(path) == config


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(PolicyConfigError, match="hidden_sise"):
        VLAConfig.from_dict({"hidden_sise": 64})


def test_diff_names_changed_fields() -> None:
    assert VLAConfig().diff(VLAConfig(num_layers=8)) == {"num_layers": (16, 8)}


def test_config_from_a_local_pretrained_model(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 6, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "rms_norm_eps": 1e-6,
    }))
    config = VLAConfig.from_pretrained_trunk(tmp_path, num_layers=4)
    assert (config.hidden_size, config.num_layers, config.num_key_value_heads) == (64, 4, 2)
    assert config.pretrained_trunk_path == str(tmp_path)
    with pytest.raises(PolicyConfigError, match="exceeds"):
        VLAConfig.from_pretrained_trunk(tmp_path, num_layers=8)
