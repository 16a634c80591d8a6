"""The language-vision task (sim/vln.py), its policy inputs and honest evaluation (no goal given)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from policy_helpers import tiny_config

from embodied_stack.eval.nav import ABLATIONS, ablate_input, evaluate
from embodied_stack.policy.agent import PolicyAgent
from embodied_stack.policy.early_exit import EarlyExitController, ExitThresholds
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.modeling_vla import VLAModel
from embodied_stack.policy.odometry import OdometryTracker, odometry_features
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.errors import SimError
from embodied_stack.sim.vln import (
    COLORS,
    load_split,
    make_task,
    make_task_scene,
    split_seeds,
    task_navmap,
    write_split,
)
from embodied_stack.types import Action, AgentInput, Pose2D


def _attributes(scene):  # noqa: ANN001, ANN202
    names = {v: k for k, v in COLORS.items()}
    return [(names[tuple(o.color)], o.category) for o in scene.objects]


def test_every_target_has_a_same_colour_and_a_same_category_distractor() -> None:
    for seed in range(6):
        scene = make_task_scene(seed)
        pairs = _attributes(scene)
        assert len(set(pairs)) == len(pairs) and len(pairs) in (4, 5)
        for colour, category in pairs[:4]:
            assert sum(c == colour and k != category for c, k in pairs) >= 1
            assert sum(k == category and c != colour for c, k in pairs) >= 1
        assert make_task_scene(seed).objects == scene.objects  # deterministic


def test_episodes_name_one_object_far_enough_and_reachable() -> None:
    scene, episodes = make_task(3)
    navmap = task_navmap(scene)
    assert len(episodes.episodes) == len(scene.objects)
    for episode in episodes.episodes:
        (target,) = episode.target_objects
        obj = scene.object_by_id(target)
        assert obj.description.split(" ", 1)[1] in episode.instruction
        goal = episodes.goal(scene, navmap, episode)
        assert 1.5 <= goal.distance(episode.start.xy) < math.inf


def test_splits_are_disjoint_by_scene_and_round_trip(tmp_path) -> None:
    seeds = [set(split_seeds(s, 100)) for s in ("train", "dev", "test")]
    assert not (seeds[0] & seeds[1]) and not (seeds[0] & seeds[2]) and not (seeds[1] & seeds[2])
    index = write_split(tmp_path / "dev", "dev", 2)
    pairs = load_split(index.parent)
    assert len(pairs) == 2 and all(a.is_file() and b.is_file() for a, b in pairs)
    with pytest.raises(SimError):
        split_seeds("holdout", 3)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SimError):
        load_split(tmp_path / "bad.json")


def test_odometry_features_hold_displacement_in_the_start_frame_and_no_goal() -> None:
    start = Pose2D(1.0, 2.0, math.pi / 2)
    f = odometry_features(start, Pose2D(1.0, 3.0, math.pi), steps=10, prev_action=int(Action.TURN_LEFT))
    assert f[0] == pytest.approx(1.0 / 5.0) and f[1] == pytest.approx(0.0, abs=1e-6)
    assert f[2] == pytest.approx(1.0) and f[3] == pytest.approx(0.0, abs=1e-6)
    assert f[4] == pytest.approx(0.1) and f[5 + int(Action.TURN_LEFT) + 1] == 1.0
    with pytest.raises(ValueError):
        odometry_features(start, start, steps=0, prev_action=7)


def _vln_config(**overrides: object):  # noqa: ANN202
    return tiny_config(instruction_tokens=4, state_inputs="odometry", waypoints=False, **overrides)


def test_token_instructions_change_the_output_and_padding_is_a_learned_token() -> None:
    torch.manual_seed(0)
    model = VLAModel(_vln_config()).eval()
    rgb, depth = torch.rand(1, 3, 24, 32), torch.rand(1, 1, 24, 32) * 3
    goal = torch.zeros(1, model.config.goal_features)
    a, b = torch.randn(1, 4, 384), torch.randn(1, 4, 384)
    with torch.no_grad():
        fa, fb = model.exit_features(rgb, depth, a, goal), model.exit_features(rgb, depth, b, goal)
        padded = a.clone()
        padded[:, 2:] = 0.0
        fp = model.exit_features(rgb, depth, padded, goal)
    assert not torch.allclose(fa[-1], fb[-1]) and not torch.allclose(fa[-1], fp[-1])
    assert model.config.num_tokens == 1 + 4 + model.config.num_visual_tokens


class _RecordingEmbed:
    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 4, 384), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, : min(4, len(t.split()) + 1)] = (len(t) % 7 + 1) / 7.0
        return out


def test_language_vision_agent_is_never_given_the_goal_and_ablations_apply() -> None:
    torch.manual_seed(0)
    agent = PolicyAgent(VLAModel(_vln_config()), embed=_RecordingEmbed())
    assert not agent.needs_goal and isinstance(agent.tracker, OdometryTracker)
    scene, episodes = make_task(5)
    episodes.episodes = episodes.episodes[:1]
    episodes.max_steps = 6
    env = EmbeddedSim(scene, SimConfig(width=32, height=24, render_threads=1))
    seen: list[np.ndarray] = []
    act = agent.act

    def spy(inp: AgentInput) -> Action:
        seen.append(inp.goal_xy.copy())
        return act(inp)

    agent.act = spy  # type: ignore[method-assign]
    report = evaluate(env, scene, env.navmap, episodes, agent, ablate="vision")
    assert seen and all(np.isnan(g).all() for g in seen)
    assert report.summary()["ablate"] == "vision"
    stats = report.agent_stats
    assert stats["network_flops_mean"] >= stats["trunk_flops_mean"] + stats["vision_flops"]
    with pytest.raises(SimError):
        evaluate(env, scene, env.navmap, episodes, agent, ablate="smell")
    frame = env.reset(episodes.episodes[0].start)
    assert (ablate_input(frame, "vision").rgb == 128).all()
    assert (ablate_input(frame, "depth").depth == 0).all() and (ablate_input(frame, "depth").rgb == frame.rgb).all()
    assert set(ABLATIONS) == {"language", "vision", "depth"}


def test_static_depth_runs_the_head_once_and_counts_whole_network_flops() -> None:
    torch.manual_seed(0)
    model = VLAModel(tiny_config())
    flops = StepFlops.from_config(model.config)
    inputs = (torch.rand(1, 3, 24, 32), torch.rand(1, 1, 24, 32), torch.randn(1, 384), torch.randn(1, 15))
    static = EarlyExitController(model, ExitThresholds.fixed(2, model.num_exits)).step(*inputs)
    assert static.exit_index == 2 and static.scores == ()
    assert static.network_flops == flops.vision + flops.trunk(2) + flops.head
    dynamic = EarlyExitController(model, ExitThresholds((math.inf,) * 4, 4)).step(*inputs)
    assert dynamic.exit_index == 1 and dynamic.network_flops == flops.total(1) == flops.vision + flops.trunk(1) + 2 * flops.head
    assert flops.full_network == flops.static(4)


def test_privileged_expert_demonstrations_reach_the_named_object() -> None:
    from embodied_stack.policy.agent import VLN_CHECKPOINT, parse_agent_spec
    from embodied_stack.policy.demos import CollectConfig
    from embodied_stack.policy.vln_demos import VLNCollector

    assert parse_agent_spec("policy:vln")[0] == VLN_CHECKPOINT
    collector = VLNCollector([make_task(11)], _vln_config(), _RecordingEmbed())
    demos, stats = collector.collect(CollectConfig(3, beta=1.0, noise_prob=0.0, stop_noise_prob=0.0, max_steps=80),
                                     np.random.default_rng(0))
    assert stats["episodes"] == 3 and stats["success"] == 1.0
    arrays = demos.arrays()
    assert arrays["goal"].shape[1] == _vln_config().goal_features == 10
    assert arrays["rgb"].shape[1:] == (24, 32, 3)
    ends = demos.offsets[1:] - 1
    assert (arrays["action"][ends] == int(Action.STOP)).all()  # every episode ends with the expert's STOP


def test_teacher_values_say_where_the_named_object_is_and_old_files_load_without_them(tmp_path) -> None:
    from embodied_stack.policy.dataset import TEACHER_DIM, DemoBuffer
    from embodied_stack.policy.demos import CollectConfig
    from embodied_stack.policy.vln_demos import VLNCollector

    scene, episodes = make_task(11)
    collector = VLNCollector([(scene, episodes)], _vln_config(teacher_targets=4), _RecordingEmbed())
    demos, _ = collector.collect(CollectConfig(2, beta=1.0, noise_prob=0.0, stop_noise_prob=0.0, max_steps=80),
                                 np.random.default_rng(0))
    teacher = demos.arrays()["teacher"]
    assert teacher.shape == (len(demos), TEACHER_DIM) and np.isfinite(teacher).all()
    assert set(np.unique(teacher[:, 0])) <= {0.0, 1.0}
    np.testing.assert_allclose(np.hypot(teacher[:, 1], teacher[:, 2]), 1.0, atol=1e-5)
    ends = demos.offsets[1:] - 1
    # the expert stops next to the named object, facing it: in view, close, straight ahead-ish
    assert (teacher[ends, 0] == 1.0).all() and (teacher[ends, 3] < 1.8).all() and (teacher[ends, 2] > 0.5).all()
    # a file written before the teacher array existed loads with NaN teacher values
    path = demos.save(tmp_path / "d.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "teacher"}
    np.savez(tmp_path / "old.npz", **arrays)
    old = DemoBuffer.load(tmp_path / "old.npz")
    assert old.arrays()["teacher"].shape == teacher.shape and np.isnan(old.arrays()["teacher"]).all()


def test_teacher_loss_counts_only_recorded_steps_and_bearing_only_in_view() -> None:
    from embodied_stack.policy.train import _teacher_loss

    pred = torch.zeros(2, 1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    nan = float("nan")
    teacher = torch.tensor([[[0.0, 0.0, 1.0, 2.0], [nan, nan, nan, nan], [1.0, 1.0, 0.0, 9.0]]])
    loss, figures = _teacher_loss(pred, teacher, mask)
    # one valid step (not in view): only the logistic term at logit 0, log 2
    assert abs(float(loss) - math.log(2.0)) < 1e-5 and figures["view_acc_exit1"] == 1.0
    teacher[0, 0] = torch.tensor([1.0, 1.0, 0.0, 2.0])  # in view at bearing +90 deg, 2 m
    loss_seen, _ = _teacher_loss(pred, teacher, mask)
    assert float(loss_seen) > float(loss) + 1.0  # bearing error 2 (sin 1, cos 0 vs 0, 0) now counts
    empty, none = _teacher_loss(pred, teacher, torch.zeros(1, 3, dtype=torch.bool))
    assert float(empty) == 0.0 and none == {}
    assert tiny_config(teacher_targets=4).teacher_targets == 4
    with pytest.raises(Exception, match="teacher_targets"):
        tiny_config(teacher_targets=3)
