"""``eval nav`` on ``habitat:CONFIG`` and ``eval nav --compare``, through the habitat-sim fake.

habitat_sim is faked (tests/sim/habitat_fake.py, following habitat-sim 0.3.x's API) because it
cannot be installed on the machines this project is built on. The fake's floor island spans
x in [0, 6], z in [-5, 0] (Habitat), i.e. the 6 x 5 m room of the scene below; its navmesh
geodesics are straight lines, which is what the grid's are in an empty room.
"""

from __future__ import annotations

import json
from pathlib import Path

import habitat_fake
import pytest

from embodied_stack.cli import main
from embodied_stack.eval.nav import run_eval_nav
from embodied_stack.sim.episodes import Episode, EpisodeSet, save_episodes
from embodied_stack.sim.errors import SimError
from embodied_stack.sim.habitat.export import export_habitat
from embodied_stack.sim.scene import Room, Scene, SceneObject, save_scene
from embodied_stack.types import Pose2D


@pytest.fixture()
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    habitat_fake.install(monkeypatch)
    room = Room("r0", "living room", ((0.0, 0.0), (6.0, 0.0), (6.0, 5.0), (0.0, 5.0)))
    sofa = SceneObject("sofa_1", "sofa", "r0", (5.0, 4.0, 0.4), (1.6, 0.8, 0.8))
    scene = Scene("box_room", [room], [], [sofa])
    save_scene(scene, tmp_path / "box_room.scene.json")
    episodes = EpisodeSet("box_room", [Episode("e1", Pose2D(1.0, 1.0, 0.0), "go to the sofa", ("sofa",)),
                                       Episode("e2", Pose2D(1.0, 4.0, -1.0), "find the sofa", target_objects=("sofa_1",))])
    save_episodes(episodes, tmp_path / "box_room.episodes.json")
    exported = export_habitat(scene, tmp_path / "habitat")
    return {"scene": tmp_path / "box_room.scene.json", "episodes": tmp_path / "box_room.episodes.json",
            "habitat": exported.config_yaml}


def test_eval_nav_runs_on_habitat(files: dict[str, Path]) -> None:
    embedded = run_eval_nav(scene=files["scene"], episodes_path=files["episodes"], agent_spec="oracle")
    habitat = run_eval_nav(scene=f"habitat:{files['habitat']}", episodes_path=files["episodes"], agent_spec="oracle",
                           width=64, height=48)
    assert [e.metrics["success"] for e in habitat.episodes] == [1.0, 1.0]
    for a, b in zip(embedded.episodes, habitat.episodes, strict=True):
        # the same goal region; l measured by each simulator (grid vs navmesh) within 5%
        assert b.metrics["shortest_path_m"] == pytest.approx(a.metrics["shortest_path_m"], rel=0.05)
    assert habitat.width == 64 and habitat.height == 48


def test_habitat_scene_without_source_scene_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    habitat_fake.install(monkeypatch)
    cfg = tmp_path / "hm3d.yaml"
    cfg.write_text("scene: some.glb\n")
    with pytest.raises(SimError, match="source_scene"):
        run_eval_nav(scene=f"habitat:{cfg}", episodes_path=tmp_path / "none.json", agent_spec="oracle")


def test_compare_prints_both_simulators_and_episode_differences(files: dict[str, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.json"
    assert main(["eval", "nav", "--scene", str(files["scene"]), "--episodes", str(files["episodes"]),
                 "--compare", f"habitat:{files['habitat']}", "--width", "64", "--height", "48", "--json",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "embedded" in text and "habitat" in text and "e1" in text and "e2" in text
    summary = json.loads(text.strip().splitlines()[-1])
    assert summary["simulators"] == ["embedded", "habitat"] and summary["episodes_compared"] == 2
    assert set(summary["summary"]["habitat"]) >= {"success", "spl", "steps_mean", "collisions_mean"}
    assert summary["shortest_path_gap_max"] <= 0.05
    full = json.loads(out.read_text())
    assert len(full["per_episode"]) == 2 and set(full["runs"]) == {"embedded", "habitat"}


def test_eval_memory_surveys_on_habitat_frames(files: dict[str, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``eval memory --scene habitat:CONFIG``: the memory is built from frames habitat-sim renders
    (here the fake's), through the same perception path."""
    from embodied_stack.sim.queries import Query, QuerySet, save_queries

    hs = habitat_fake.install(monkeypatch)
    queries = tmp_path / "box_room.queries.json"
    save_queries(QuerySet("box_room", [Query("q1", "where is the sofa?", "explicit", target_categories=("sofa",))]),
                 queries)
    assert main(["eval", "memory", "--scene", f"habitat:{files['habitat']}", "--queries", str(queries),
                 "--width", "64", "--height", "48", "--max-steps", "4", "--embedder", "hash", "--no-flat",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["queries"] == 1 and summary["survey"]["frames"] > 0
    (sim,) = hs.created
    assert sim.renders >= summary["survey"]["frames"]  # every surveyed frame came from habitat-sim


def test_sim_record_takes_a_habitat_scene(files: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``sim record --scene habitat:CONFIG`` records the episodes as habitat-sim (here the fake)
    renders them; the goal regions come from the exported scene's source scene."""
    pytest.importorskip("rosbags", reason="sim record needs the bags extra")
    bag = tmp_path / "habitat_bag"
    assert main(["sim", "record", "--scene", f"habitat:{files['habitat']}", "--episodes", str(files["episodes"]),
                 "--out", str(bag), "--width", "64", "--height", "48", "--max-episodes", "1", "--max-steps", "5",
                 "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert recorded["episodes"] == 1 and recorded["frames"] >= 2 and recorded["messages"] > 0


@pytest.mark.slow
def test_demo_runs_on_habitat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``demo --habitat CONFIG``: exploration and memory on habitat-sim frames (the fake's), the
    questions scored against the exported scene."""
    from embodied_stack.sim.scene import load_scene

    hs = habitat_fake.install(monkeypatch)
    repo = Path(__file__).resolve().parents[2]
    exported = export_habitat(load_scene(repo / "sim" / "scenes" / "home_0001.scene.json"), tmp_path / "hab")
    out = tmp_path / "demo"
    assert main(["demo", "--habitat", str(exported.config_yaml), "--out", str(out), "--explore-steps", "3",
                 "--size", "64x48", "--questions", "1", "--tasks", "0", "--no-record", "--agent", "oracle"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["simulator"] == "habitat" and summary["scene"] == "home_0001"
    assert summary["questions"]["asked"] == 1 and hs.created[0].renders > 0
