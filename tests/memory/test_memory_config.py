"""MemoryConfig validation and YAML loading."""

from __future__ import annotations

import pytest

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.errors import MemoryConfigError


@pytest.mark.parametrize(("field", "value"), [
    ("fusion_distance_m", -1.0), ("fusion_min_similarity", 1.5), ("beam_width", 0),
    ("level_thresholds", (0.5, 0.6)), ("level_cell_sizes_m", (30.0, 20.0, 90.0)), ("affordance_weight", 2.0),
    ("embed_batch_size", True), ("timezone_offset_h", 30.0),
])
def test_bad_values_quote_the_setting(field: str, value: object) -> None:
    with pytest.raises(MemoryConfigError, match=field):
        MemoryConfig(**{field: value})


def test_yaml_round_trip_and_unknown_keys(tmp_path) -> None:
    path = tmp_path / "memory.yaml"
    path.write_text("memory:\n  fusion_distance_m: 0.8\n  level_thresholds: [0.5, 0.6, 0.7]\n")
    config = MemoryConfig.from_yaml(path)
    assert config.fusion_distance_m == 0.8 and config.level_thresholds == (0.5, 0.6, 0.7)
    assert MemoryConfig.from_dict(config.to_dict()) == config
    path.write_text("fusion_distanse_m: 0.8\n")
    with pytest.raises(MemoryConfigError, match="fusion_distanse_m"):
        MemoryConfig.from_yaml(path)
    path.write_text("fusion_distance_m: [\n")
    with pytest.raises(MemoryConfigError, match="YAML"):
        MemoryConfig.from_yaml(path)
