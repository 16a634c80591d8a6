"""The navigation agent: spec parsing, budgets, acting on frames, the velocity command, curve files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from policy_helpers import hash_embed, tiny_config

from embodied_stack.eval.curve import plot_curve, with_budget
from embodied_stack.policy.agent import (
    DEFAULT_CHECKPOINT,
    PolicyAgent,
    make_agent,
    parse_agent_spec,
    thresholds_for_budget,
)
from embodied_stack.policy.checkpoint import load_policy, save_policy
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.errors import CalibrationError, PolicyError
from embodied_stack.policy.modeling_vla import VLAModel
from embodied_stack.types import Action, AgentInput, CameraIntrinsics, Frame, Pose2D


def _frame(width: int = 64, height: int = 48) -> Frame:
    rng = np.random.default_rng(0)
    return Frame(rgb=rng.integers(0, 255, (height, width, 3), dtype=np.uint8),
                 depth=rng.uniform(0.0, 6.0, (height, width)).astype(np.float32),
                 intrinsics=CameraIntrinsics.from_hfov(width, height, math.radians(79.0)),
                 camera_pose=np.eye(4), agent_pose=Pose2D(0.0, 0.0, 0.0))


def test_spec_parsing_and_budget_options() -> None:
    path, options = parse_agent_spec("policy:ckpt/p.safetensors?budget=5x&max_exit=3")
    assert str(path) == "ckpt/p.safetensors" and options == {"budget": "5x", "max_exit": "3"}
    assert with_budget("policy:a.safetensors?budget=0.5", "0.2", 2) == "policy:a.safetensors?budget=0.2&max_exit=2"
    assert parse_agent_spec("policy:default")[0] == DEFAULT_CHECKPOINT
    for bad in ("oracle", "policy:", "policy:x?speed=2"):
        with pytest.raises(PolicyError):
            parse_agent_spec(bad)


def test_agent_acts_on_full_size_frames_and_reports_exits(tmp_path) -> None:
    config = tiny_config()
    path = save_policy(tmp_path / "p.safetensors", VLAModel(config), ExitThresholds.fixed(2, config.num_exits))
    agent = make_agent(f"policy:{path}", embed=hash_embed)
    assert agent.render_size == (config.image_width, config.image_height)
    agent.reset("go to the sofa", np.array([2.0, 1.0]))
    assert agent.velocity_command() == (0.0, 0.0)
    frame = _frame()
    for step in range(3):
        action = agent.act(AgentInput(frame, Pose2D(0.0, 0.0, 0.1 * step), np.array([2.0, 1.0]), "go to the sofa", step))
        assert isinstance(action, Action)
    v, omega = agent.velocity_command()
    assert abs(v) <= config.max_linear_mps and abs(omega) <= config.max_angular_radps
    summary = agent.exit_summary()
    assert summary["exit_histogram"] == {"1": 0, "2": 3, "3": 0, "4": 0}
    assert summary["trunk_flops_reduction_x"] == pytest.approx(2.0)
    capped = make_agent(f"policy:{path}?max_exit=1", embed=hash_embed)
    assert capped.thresholds.max_exit == 1


def test_budgets_need_stored_scores(tmp_path) -> None:
    config = tiny_config()
    model = VLAModel(config)
    bare = load_policy(save_policy(tmp_path / "bare.safetensors", model))
    assert thresholds_for_budget(bare, None, None) == ExitThresholds.full(config.num_exits)
    assert thresholds_for_budget(bare, "full", 2).max_exit == 2
    with pytest.raises(CalibrationError, match="policy calibrate"):
        thresholds_for_budget(bare, "0.5", None)
    scores = np.random.default_rng(0).uniform(size=(400, config.num_exits))
    scored = load_policy(save_policy(tmp_path / "s.safetensors", model, calibration_scores=scores))
    thresholds = thresholds_for_budget(scored, "2x", None)
    assert thresholds.info["kind"] == "calibrated" and thresholds.max_exit == config.num_exits
    with pytest.raises(CalibrationError, match="max exit"):
        thresholds_for_budget(scored, "2x", 9)


def test_policy_agent_rejects_a_wrong_embedding_size() -> None:
    agent = PolicyAgent(VLAModel(tiny_config()), embed=lambda texts: np.zeros((len(texts), 10), np.float32))
    with pytest.raises(PolicyError, match="384"):
        agent.reset("go", np.zeros(2))


def test_curve_plot_is_written(tmp_path) -> None:
    curve = {"scene": "x.scene.json", "full_trunk_flops": 8e6, "points": [
        {"budget": "full", "success": 0.9, "spl": 0.8, "trunk_flops_mean": 8e6},
        {"budget": "0.2", "success": 0.88, "spl": 0.79, "trunk_flops_mean": 1.6e6}]}
    png = plot_curve(curve, tmp_path / "curve.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
