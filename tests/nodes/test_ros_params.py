"""Node parameters: specs, validation through the core dataclasses, and the shipped YAML.

The YAML must document every parameter of every node (a comment right above it), hold only
declared names, and give each a value of the declared type: rclpy refuses ``1`` for a double
parameter at start-up, so that mistake must fail here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from embodied_stack_ros.errors import ParameterError
from embodied_stack_ros.params import (
    NODE_PARAMS,
    ParamSpec,
    config_from_params,
    config_params,
    field_docs,
    node_param_specs,
    validate_values,
)
from embodied_stack_ros.subgoal_driver import DriverConfig

from embodied_stack.perception.config import PerceptionConfig
from embodied_stack.planning.planner import PlannerConfig

NODES = sorted(NODE_PARAMS)
PARAMS_DIR = REPO / "launch" / "params"
DEFAULTS_YAML = PARAMS_DIR / "embodied_stack.yaml"


def _load(path: Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    out = {}
    for key, value in data.items():
        assert key.startswith("/**/"), f"{path.name}: key {key!r} should be '/**/<node>' to work under any namespace"
        out[key[4:]] = value["ros__parameters"]
    return out


def _same_type(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, list):
        return isinstance(value, list) and (not default or all(_same_type(v, default[0]) for v in value))
    return type(value) is type(default)


@pytest.mark.parametrize("node", NODES)
def test_every_parameter_has_a_typed_default_and_a_description(node: str) -> None:
    specs = node_param_specs(node)
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), f"{node}: duplicate parameter names"
    for spec in specs:
        assert spec.description.strip()
        assert isinstance(spec.default, (bool, int, float, str, list))
        assert spec.validate(spec.default, node) == spec.default


@pytest.mark.parametrize("node", NODES)
def test_shipped_yaml_documents_every_parameter_with_its_type(node: str) -> None:
    specs = {s.name: s for s in node_param_specs(node)}
    values = _load(DEFAULTS_YAML)[node]
    assert set(values) == set(specs), f"{node}: yaml lacks {set(specs) - set(values)}, has unknown {set(values) - set(specs)}"
    for name, value in values.items():
        assert _same_type(value, specs[name].default), f"{node}.{name}: {value!r} is not a {type(specs[name].default)}"
        specs[name].validate(value, node)
    lines = DEFAULTS_YAML.read_text().splitlines()
    section = lines.index(f"/**/{node}:")
    for name in values:
        row = next(i for i in range(section, len(lines)) if lines[i].strip().startswith(f"{name}:"))
        assert lines[row - 1].strip().startswith("#"), f"{node}.{name} has no comment above it"


def test_core_settings_in_the_yaml_pass_core_validation() -> None:
    data = _load(DEFAULTS_YAML)
    assert isinstance(config_from_params(PerceptionConfig, data["sensing"], "sensing"), PerceptionConfig)
    assert isinstance(config_from_params(PlannerConfig, data["planner"], "planner"), PlannerConfig)
    assert isinstance(config_from_params(DriverConfig, data["policy"], "policy"), DriverConfig)


def test_core_fields_become_parameters_with_their_docs() -> None:
    names = {s.name for s in node_param_specs("planner")}
    assert {"candidates", "min_score", "max_attempts", "explore_on_miss"} <= names
    driver = {s.name: s for s in config_params(DriverConfig)}
    assert driver["reach_distance_m"].default == 1.0
    assert "REACHED" in driver["reach_distance_m"].description
    assert field_docs(DriverConfig)["progress_every"].startswith("Steps between")


def test_node_defaults_override_core_defaults() -> None:
    memory = {s.name: s for s in node_param_specs("memory")}
    assert memory["memory_root"].default == "~/.ros/embodied_stack"


@pytest.mark.parametrize(
    ("value", "match"),
    [(1, "expected a number"), ("x", "expected a number"), (True, "expected a number"), (math.nan, "expected a number"),
     (-1.0, ">= 0.0"), (11.0, "<= 10.0")],
)
def test_a_bad_value_names_the_node_the_parameter_and_the_value(value: Any, match: str) -> None:
    spec = ParamSpec("reach_m", 1.0, "d", min_value=0.0, max_value=10.0)
    if value == 1:
        assert spec.validate(1, "policy") == 1.0
        return
    with pytest.raises(ParameterError, match=match) as info:
        spec.validate(value, "policy")
    assert "policy: parameter 'reach_m'" in str(info.value)


def test_choices_and_prefix_choices() -> None:
    spec = ParamSpec("detector", "semantic", "d", choices=("semantic", "owlv2:"), prefix_choices=True)
    assert spec.validate("owlv2:/models/owl", "sensing") == "owlv2:/models/owl"
    with pytest.raises(ParameterError, match="expected one of"):
        spec.validate("yolo", "sensing")
    exact = ParamSpec("output", "discrete", "d", choices=("discrete", "velocity"))
    with pytest.raises(ParameterError):
        exact.validate("velocity2", "policy")


def test_lists_are_checked_item_by_item() -> None:
    spec = ParamSpec("start_pose", [0.0, 0.0, 0.0], "d")
    assert spec.validate([1, 2.5, 0], "sim_bridge") == [1.0, 2.5, 0.0]
    with pytest.raises(ParameterError, match=r"start_pose'\[1\]"):
        spec.validate([1.0, "a", 0.0], "sim_bridge")


def test_core_validation_errors_become_parameter_errors() -> None:
    values = validate_values(node_param_specs("planner"), {"candidates": 0}, "planner")
    with pytest.raises(ParameterError, match="planner: candidates must be in"):
        config_from_params(PlannerConfig, values, "planner")


def test_optional_strings_and_tuples_map_both_ways() -> None:
    values = validate_values(node_param_specs("sensing"), {"ignore_categories": ["wall", "Floor"]}, "sensing")
    config = config_from_params(PerceptionConfig, values, "sensing")
    assert config.ignore_categories == ("wall", "floor")
