"""A tiny training run lowers the loss, resumes exactly, and the policy beats a random walker."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from policy_helpers import hash_embed, open_room_scene, tiny_config

pytest.importorskip("open3d")

from embodied_stack.eval.nav import evaluate  # noqa: E402
from embodied_stack.policy.agent import PolicyAgent, make_agent  # noqa: E402
from embodied_stack.policy.checkpoint import load_policy  # noqa: E402
from embodied_stack.policy.train import TrainConfig, Trainer, train_policy  # noqa: E402
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig  # noqa: E402
from embodied_stack.sim.episodes import generate_episodes  # noqa: E402
from embodied_stack.sim.oracle import RandomAgent  # noqa: E402

TRAIN = TrainConfig(rounds=2, iterations_per_round=80, episodes_per_scene=6, batch_windows=8, window_steps=12,
                    warmup_iterations=10, learning_rate=3e-3, save_every=40, max_episode_steps=80)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("train") / "tiny.safetensors"
    train_policy([open_room_scene()], out, model_config=tiny_config(), train_config=TRAIN, embed=hash_embed,
                 progress=False)
    return out


def test_training_lowers_the_loss_and_records_its_history(trained) -> None:  # noqa: ANN001
    notes = load_policy(trained).training
    assert notes["iterations"] == TRAIN.total_iterations
    rounds = notes["history"]
    assert [r["beta"] for r in rounds] == [1.0, 0.5]
    work_state = trained.with_name(trained.name + ".work") / "state.json"
    assert work_state.exists()
    first_loss = rounds[0]["first_loss"]
    assert rounds[-1]["final_loss"] < 0.7 * first_loss


def test_resume_continues_where_it_stopped(tmp_path) -> None:
    torch.set_num_threads(1)
    config = TrainConfig(rounds=1, iterations_per_round=6, episodes_per_scene=2, batch_windows=2, window_steps=4,
                         warmup_iterations=2, save_every=3, max_episode_steps=40)
    scenes = [open_room_scene()]
    straight = Trainer(scenes, tiny_config(), config, tmp_path / "a", hash_embed)
    straight.run(progress=False)
    interrupted = Trainer(scenes, tiny_config(), config, tmp_path / "b", hash_embed)
    interrupted.collect_round()
    interrupted.save()
    interrupted.config = TrainConfig(**{**config.__dict__, "iterations_per_round": 3})
    interrupted.train_round(None)
    interrupted.save()
    resumed = Trainer(scenes, tiny_config(), config, tmp_path / "b", hash_embed)
    assert resumed.resume() and resumed.state["iteration"] == 3
    resumed.run(progress=False)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_resume_refuses_a_different_config(tmp_path) -> None:
    config = TrainConfig(rounds=1, iterations_per_round=2, episodes_per_scene=1, batch_windows=2, window_steps=4,
                         warmup_iterations=1, save_every=2, max_episode_steps=20)
    Trainer([open_room_scene()], tiny_config(), config, tmp_path, hash_embed).run(progress=False)
    from embodied_stack.policy.errors import TrainingError

    with pytest.raises(TrainingError, match="train_config"):
        Trainer([open_room_scene()], tiny_config(), TrainConfig(**{**config.__dict__, "seed": 3}), tmp_path,
                hash_embed).resume()


def test_trained_tiny_policy_beats_a_random_walker(trained) -> None:  # noqa: ANN001
    scene = open_room_scene()
    config = load_policy(trained).config
    sim = EmbeddedSim(scene, SimConfig(width=config.image_width, height=config.image_height, seed=5))
    episodes = generate_episodes(scene, sim.navmap, 5, seed=99, min_distance_m=2.0)
    episodes.episodes += generate_episodes(scene, sim.navmap, 5, seed=100, min_distance_m=2.0).episodes
    episodes.max_steps = 80
    policy = make_agent(f"policy:{trained}", embed=hash_embed)
    assert isinstance(policy, PolicyAgent)
    learned = evaluate(sim, scene, sim.navmap, episodes, policy).summary()
    random = evaluate(sim, scene, sim.navmap, episodes, RandomAgent(0)).summary()
    assert learned["success"] >= random["success"] + 0.25, (learned, random)
    assert learned["agent_stats"]["steps"] > 0
    assert np.isclose(learned["agent_stats"]["trunk_flops_reduction_x"], 1.0)


def test_cli_calibrate_writes_thresholds_that_meet_the_budget(trained, tmp_path, capsys) -> None:  # noqa: ANN001
    import json

    from embodied_stack.cli import main
    from embodied_stack.sim.scene import save_scene

    scene_path = tmp_path / "open_room.scene.json"
    save_scene(open_room_scene(), scene_path)
    out = tmp_path / "calibrated.safetensors"
    code = main(["policy", "calibrate", "--ckpt", str(trained), "--scenes", str(scene_path), "--budget", "0.5",
                 "--max-exit", "3", "--episodes-per-scene", "3", "--out", str(out), "--half", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["validation_steps"] > 10
    assert summary["calibration_trunk_flops_mean"] == pytest.approx(0.5 * summary["full_trunk_flops"], rel=0.15)
    loaded = load_policy(out)
    assert loaded.thresholds is not None and loaded.thresholds.max_exit == 3
    assert loaded.calibration_scores is not None and loaded.calibration_scores.shape[1] == loaded.config.num_exits
    assert out.stat().st_size < 0.6 * trained.stat().st_size
    agent = make_agent(f"policy:{out}?budget=0.3", embed=hash_embed)
    assert agent.thresholds.info["budget_trunk_flops"] == pytest.approx(0.3 * agent.flops.full_trunk)
    assert main(["policy", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [e["layers"] for e in info["exits"]] == [1, 2, 3, 4] and info["thresholds"]["max_exit"] == 3
    assert not load_policy(out).has_aux_heads and load_policy(trained).has_aux_heads
    # recalibrating from the stored scores needs no rollouts and keeps the inference checkpoint small
    again = tmp_path / "recalibrated.safetensors"
    assert main(["policy", "calibrate", "--ckpt", str(out), "--budget", "0.75", "--out", str(again), "--json"]) == 0
    redone = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert redone["scores"] == "stored" and redone["validation_steps"] == summary["validation_steps"]
    assert redone["calibration_trunk_flops_mean"] == pytest.approx(0.75 * redone["full_trunk_flops"], rel=0.15)
    assert again.stat().st_size == pytest.approx(out.stat().st_size, rel=0.05)
    assert main(["policy", "calibrate", "--ckpt", str(trained), "--budget", "0.5"]) == 1, "no stored scores"
