"""Static-vs-dynamic curve settings and the comparison the closing figures come from."""

from __future__ import annotations

import pytest

from embodied_stack.eval.curve import compare_static_dynamic, expand_settings, plot_curve, setting_spec
from embodied_stack.policy.errors import PolicyError


def test_settings_expand_and_map_to_static_or_dynamic_specs() -> None:
    assert expand_settings(["static", "0.3"], 3) == ["exit:1", "exit:2", "exit:3", "0.3"]
    with pytest.raises(PolicyError):
        expand_settings(["exit:9"], 3)
    spec, kind = setting_spec("policy:a.safetensors", "exit:2")
    assert kind == "static" and "budget=full" in spec and "max_exit=2" in spec
    assert setting_spec("policy:a.safetensors", "0.25")[1] == "dynamic"
    assert setting_spec("policy:a.safetensors", "full")[1] == "static"


def test_comparison_finds_the_full_model_and_the_static_depths_around_a_dynamic_point(tmp_path) -> None:
    points = [
        {"setting": "exit:1", "kind": "static", "success": 0.2, "spl": 0.1, "network_flops_mean": 10.0},
        {"setting": "exit:2", "kind": "static", "success": 0.5, "spl": 0.4, "network_flops_mean": 20.0},
        {"setting": "exit:4", "kind": "static", "success": 0.8, "spl": 0.7, "network_flops_mean": 40.0},
        {"setting": "0.4", "kind": "dynamic", "success": 0.78, "spl": 0.6, "network_flops_mean": 13.0},
    ]
    (row,) = compare_static_dynamic(points)
    assert row["full_success"] == 0.8 and row["reduction_vs_full_x"] == pytest.approx(40 / 13)
    assert row["best_static_at_or_below"] == "exit:1"
    assert row["success_minus_best_static_at_or_below"] == pytest.approx(0.58)
    assert row["next_static_above"] == "exit:2" and row["success_minus_next_static_above"] == pytest.approx(0.28)
    png = plot_curve({"scene": "x", "points": points, "full_network_flops": 40.0}, tmp_path / "c.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
