"""Checkpoint round trip (safetensors + config metadata) and clear errors on mismatch."""

from __future__ import annotations

import math

import pytest
import torch
from policy_helpers import random_inputs, tiny_config

from embodied_stack.policy.checkpoint import load_policy, save_policy
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.errors import CheckpointError, CheckpointMismatchError
from embodied_stack.policy.modeling_vla import VLAModel


def _outputs(model: VLAModel, config) -> torch.Tensor:  # noqa: ANN001
    with torch.no_grad():
        features = model.exit_features(*random_inputs(config, batch=2))
        h, c = model.initial_state(2)
        return torch.cat([model.head(f, h, c)[0] for f in features])


def test_round_trip_restores_outputs_config_and_thresholds(tmp_path) -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    thresholds = ExitThresholds((0.05, 0.1, 0.2, math.inf), 4, "tv", {"kind": "calibrated"})
    path = save_policy(tmp_path / "p.safetensors", model, thresholds, training={"steps": 3})
    loaded = load_policy(path, config=config)
    assert loaded.config == config and loaded.thresholds == thresholds and loaded.training == {"steps": 3}
    torch.testing.assert_close(_outputs(loaded.model, config), _outputs(model, config))
    data = path.read_bytes()  # safetensors: an 8-byte little-endian header length, then a JSON header
    assert data[8:9] == b"{" and int.from_bytes(data[:8], "little") < len(data), "must be safetensors, not a pickle"


def test_half_precision_inference_file_is_smaller_and_close(tmp_path) -> None:
    config = tiny_config()
    model = VLAModel(config).eval()
    full = save_policy(tmp_path / "f32.safetensors", model)
    half = save_policy(tmp_path / "f16.safetensors", model, dtype=torch.float16, include_aux_heads=False)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded = load_policy(half)
    assert next(loaded.model.parameters()).dtype == torch.float32
    torch.testing.assert_close(_outputs(loaded.model, config), _outputs(model, config), atol=2e-2, rtol=2e-2)


def test_loading_with_a_different_config_names_the_fields(tmp_path) -> None:
    path = save_policy(tmp_path / "p.safetensors", VLAModel(tiny_config()))
    with pytest.raises(CheckpointMismatchError, match="hidden_size: checkpoint 32 vs requested 64"):
        load_policy(path, config=tiny_config(hidden_size=64))


def test_not_a_checkpoint(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_policy(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_policy(junk)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "something/1"})
    with pytest.raises(CheckpointError, match="format"):
        load_policy(other)


def test_tensors_not_matching_the_stored_config_are_reported(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    config = tiny_config()
    path = save_policy(tmp_path / "p.safetensors", VLAModel(config))
    tensors = load_file(str(path))
    tensors["head.lstm.weight_hh_l0"] = torch.zeros(3, 3)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_policy(path)
