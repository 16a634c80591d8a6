"""The onnxruntime policy runs the torch policy's exit logic: same exits, same actions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from deploy_helpers import REPO, hash_embed

from embodied_stack.deploy.bench import replay
from embodied_stack.deploy.errors import RuntimeConfigError
from embodied_stack.deploy.policy_spec import PolicyExport
from embodied_stack.deploy.runtime import OnnxPolicy, make_onnx_agent, parse_agent_spec
from embodied_stack.deploy.sessions import parse_providers
from embodied_stack.deploy.sim_inputs import RecordedEpisodes
from embodied_stack.eval.nav import run_eval_nav
from embodied_stack.policy.agent import PolicyAgent, thresholds_for_budget
from embodied_stack.policy.checkpoint import load_policy
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.modeling_vla import VLAModel
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.generate import generate_scene
from embodied_stack.types import AgentInput


def test_exit_decisions_and_actions_match_torch_over_recorded_episodes(
    tiny_export: PolicyExport, tiny_model: VLAModel, tiny_thresholds: ExitThresholds, recorded: RecordedEpisodes
) -> None:
    want_exits, want_actions = replay(tiny_model, tiny_thresholds, recorded)
    got_exits, got_actions = replay(OnnxPolicy(tiny_export.root), tiny_thresholds, recorded)
    assert len(set(want_exits.tolist())) >= 2, "thresholds should make steps stop at different exits"
    np.testing.assert_array_equal(got_exits, want_exits)
    np.testing.assert_array_equal(got_actions, want_actions)


def test_onnx_agent_drives_the_simulator_like_the_torch_agent(
    tiny_export: PolicyExport, tiny_model: VLAModel, tiny_thresholds: ExitThresholds
) -> None:
    scene = generate_scene(3)
    config = tiny_model.config
    torch_agent = PolicyAgent(tiny_model, tiny_thresholds, hash_embed)
    onnx_agent = make_onnx_agent(f"onnx:{tiny_export.root}", embed=hash_embed)
    assert isinstance(onnx_agent, PolicyAgent) and onnx_agent.thresholds == tiny_thresholds
    traces = []
    for agent in (torch_agent, onnx_agent):
        sim = EmbeddedSim(scene, SimConfig(width=config.image_width, height=config.image_height, seed=4))
        goal = np.asarray(scene.objects[0].center[:2])
        agent.reset(f"go to the {scene.objects[0].category}", goal)
        frame = sim.reset()
        trace = []
        for i in range(15):
            action = agent.act(AgentInput(frame, sim.agent_pose, goal, "", i))
            trace.append((int(action), agent.last_step.exit_index, sim.agent_pose))
            frame = sim.step(action).frame
        traces.append(trace)
    assert traces[0] == traces[1]
    assert onnx_agent.exit_summary()["steps"] == 15


def test_eval_nav_with_the_onnx_agent_repeats_the_torch_run(tiny_checkpoint: Path, tiny_export: PolicyExport,
                                                            tmp_path: Path) -> None:
    scene = REPO / "sim" / "scenes" / "home_0001.scene.json"
    shipped = REPO / "sim" / "episodes" / "home_0001.episodes.json"
    if not scene.is_file() or not shipped.is_file():
        pytest.skip("the shipped home_0001 scene and episodes are not in this checkout")
    episodes = json.loads(shipped.read_text())
    episodes["max_steps"] = 30
    path = tmp_path / "short.episodes.json"
    path.write_text(json.dumps(episodes))
    reports = [run_eval_nav(scene=scene, episodes_path=path, agent_spec=spec, max_episodes=3)
               for spec in (f"policy:{tiny_checkpoint}", f"onnx:{tiny_export.root}")]
    torch_runs, onnx_runs = (r.episodes for r in reports)
    assert [e.trajectory for e in onnx_runs] == [e.trajectory for e in torch_runs]
    assert [e.metrics for e in onnx_runs] == [e.metrics for e in torch_runs]
    assert reports[1].agent_stats["exit_histogram"] == reports[0].agent_stats["exit_histogram"]
    assert sum(e.steps for e in torch_runs) >= 30
    assert sum(1 for count in reports[0].agent_stats["exit_histogram"].values() if count) >= 2


def test_agent_spec_options_and_budget_override(tiny_export: PolicyExport, tiny_checkpoint: Path) -> None:
    path, options = parse_agent_spec(f"onnx:{tiny_export.root}?precision=fp32&providers=cpu&max_exit=2")
    assert path == tiny_export.root and options == {"precision": "fp32", "providers": "cpu", "max_exit": "2"}
    agent = make_onnx_agent(f"onnx:{tiny_export.root}?max_exit=2", embed=hash_embed)
    assert agent.thresholds.max_exit == 2
    full = make_onnx_agent(f"onnx:{tiny_export.root}", budget="full", embed=hash_embed)
    assert full.thresholds == ExitThresholds.full(3, "tv")
    assert (tiny_export.root / "calibration_scores.npy").is_file()
    want = thresholds_for_budget(load_policy(tiny_checkpoint), "0.7", None)
    assert make_onnx_agent(f"onnx:{tiny_export.root}?budget=0.7", embed=hash_embed).thresholds == want
    with pytest.raises(RuntimeConfigError, match="threads='two' must be an integer"):
        make_onnx_agent(f"onnx:{tiny_export.root}?threads=two", embed=hash_embed)


@pytest.mark.parametrize("spec, message", [
    ("policy:/x", "expected 'onnx:DIR"),
    ("onnx:", "no directory"),
    ("onnx:/tmp/x?speed=fast", "unknown option"),
])
def test_bad_agent_specs_are_named(spec: str, message: str) -> None:
    with pytest.raises(RuntimeConfigError, match=message):
        parse_agent_spec(spec)


def test_providers_are_checked_against_this_onnxruntime() -> None:
    assert parse_providers("cpu") == [("CPUExecutionProvider", {})]
    with pytest.raises(RuntimeConfigError, match="unknown execution provider 'gpu'"):
        parse_providers("gpu,cpu")
    with pytest.raises(RuntimeConfigError, match="not in this onnxruntime build"):
        parse_providers("tensorrt,cpu")


def test_int8_precision_needs_an_int8_export(tiny_export: PolicyExport, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no int8 file"):
        OnnxPolicy(tiny_export.root, precision="int8")
    with pytest.raises(RuntimeConfigError, match="precision"):
        OnnxPolicy(tiny_export.root, precision="fp16")
