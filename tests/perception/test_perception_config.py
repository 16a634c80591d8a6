"""PerceptionConfig: validation on construction and YAML loading."""

from __future__ import annotations

import pytest

from embodied_stack.perception import ConfigError, PerceptionConfig


def test_defaults_are_valid_and_round_trip_through_a_dict() -> None:
    config = PerceptionConfig()
    assert PerceptionConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_score", 1.5),
        ("min_score", -0.1),
        ("max_range_m", float("nan")),
        ("voxel_size_m", 0.0),
        ("min_detections", 0),
        ("min_points", 2.5),
        ("min_pixel_area", True),
        ("emit_mode", "sometimes"),
        ("ignore_categories", "wall"),
        ("association_min_overlap", 2.0),
    ],
)
def test_bad_values_raise_naming_the_setting(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=name):
        PerceptionConfig(**{name: value})


def test_depth_range_must_be_ordered() -> None:
    with pytest.raises(ConfigError, match="depth_max_m"):
        PerceptionConfig(depth_min_m=3.0, depth_max_m=2.0)


def test_yaml_loading_with_section_and_normalised_categories(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(
        "perception:\n  min_score: 0.5\n  max_range_m: 4.0\n  ignore_categories: [Wall, ' floor ']\n",
        encoding="utf-8",
    )
    config = PerceptionConfig.from_yaml(path, section="perception")
    assert config.min_score == 0.5
    assert config.max_range_m == 4.0
    assert config.ignore_categories == ("wall", "floor")


def test_yaml_unknown_key_and_bad_value_name_the_file(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("min_scor: 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*min_scor"):
        PerceptionConfig.from_yaml(path)
    path.write_text("min_score: 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*min_score"):
        PerceptionConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="no top-level section"):
        PerceptionConfig.from_yaml(path, section="perception")
