"""``eval nav`` and the ``sim`` commands end to end, and the agent registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.cli import main
from embodied_stack.errors import FormatError
from embodied_stack.eval.nav import make_agent, run_eval_nav
from embodied_stack.sim.errors import SimError
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.oracle import OracleAgent, RandomAgent
from embodied_stack.sim.scene import Scene, load_scene


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sim")
    scene, episodes = out / "home.scene.json", out / "home.episodes.json"
    assert main(["sim", "generate", "--seed", "6", "--kind", "home", "--rooms", "5", "--out", str(scene)]) == 0
    assert main(["sim", "episodes", str(scene), "--n", "4", "--seed", "1", "--out", str(episodes)]) == 0
    return {"dir": out, "scene": scene, "episodes": episodes}


def test_generate_and_episodes_commands_write_valid_files(files: dict[str, Path]) -> None:
    scene = load_scene(files["scene"])
    assert scene.name == "home_0006" and len(scene.rooms) == 5
    data = json.loads(files["episodes"].read_text())
    assert data["format"] == "embodied-stack.episodes/1" and len(data["episodes"]) == 4


def test_eval_nav_json_is_the_last_stdout_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["dir"] / "results.json"
    code = main(["eval", "nav", "--scene", str(files["scene"]), "--episodes", str(files["episodes"]),
                 "--agent", "oracle", "--width", "32", "--height", "24", "--json", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["episodes"] == 4 and summary["success"] == 1.0 and summary["spl"] >= 0.9
    assert summary["width"] == 32 and summary["wall_s_per_step"] > 0
    assert "e001" in captured.err
    full = json.loads(out.read_text())
    assert len(full["per_episode"]) == 4 and len(full["per_episode"][0]["trajectory"]) >= 2


def test_map_command_draws_episodes_and_trajectories(files: dict[str, Path]) -> None:
    run = run_eval_nav(scene=files["scene"], episodes_path=files["episodes"], agent_spec="random:3",
                       max_episodes=1, width=16, height=12)
    assert run.summary()["episodes"] == 1 and run.summary()["agent"] == "random:3"
    traj = files["dir"] / "traj.json"
    traj.write_text(json.dumps({"poses": run.episodes[0].trajectory}))
    png = files["dir"] / "map.png"
    assert main(["sim", "map", str(files["scene"]), "--out", str(png), "--episodes", str(files["episodes"]),
                 "--trajectory", str(traj), "--dpi", "50"]) == 0
    assert png.stat().st_size > 10_000


def test_agent_registry() -> None:
    scene = Scene.from_dict({"format": "embodied-stack.scene/1", "name": "r", "rooms": [
        {"id": "a", "category": "hall", "polygon": [[0, 0], [3, 0], [3, 3], [0, 3]]}]})
    nm = NavMap.from_scene(scene)
    assert isinstance(make_agent("oracle", navmap=nm), OracleAgent)
    rnd = make_agent("random:4", navmap=nm)
    assert isinstance(rnd, RandomAgent) and rnd.rng.integers(0, 1000) == np.random.default_rng(4).integers(0, 1000)
    for bad in ("teleport", "random:x", "oracle:1", "policy:"):
        with pytest.raises(SimError, match="agent spec"):
            make_agent(bad, navmap=nm)


def test_eval_nav_rejects_mismatched_files(files: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "e.json"
    data = json.loads(files["episodes"].read_text())
    data["episodes"][0]["target_objects"] = ["unicorn_9"]
    other.write_text(json.dumps(data))
    assert main(["eval", "nav", "--scene", str(files["scene"]), "--episodes", str(other), "--json"]) == 1
    with pytest.raises(FormatError, match="cfg.yaml"):  # habitat scenes run (tests/eval/test_eval_habitat.py)
        run_eval_nav(scene=f"habitat:{tmp_path / 'cfg.yaml'}", episodes_path=other, agent_spec="oracle")


def test_eval_nav_suite_runs_a_split_and_reports_the_ablation(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    split = tmp_path / "vln"
    assert main(["policy", "vln-data", "--split", "test", "--count", "1", "--out", str(split)]) == 0
    capsys.readouterr()
    assert main(["eval", "nav", "--suite", str(split), "--agent", "oracle", "--ablate", "vision", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ablate"] == "vision" and summary["episodes"] >= 4
    assert summary["success"] == 1.0  # the privileged oracle ignores the blanked image
    with pytest.raises(SystemExit):
        main(["eval", "nav", "--agent", "oracle"])  # neither --suite nor --scene/--episodes
