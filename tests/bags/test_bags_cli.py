"""The commands end to end: ``sim record`` writes a bag, ``memory build --bag`` rebuilds a memory."""

from __future__ import annotations

import json

import pytest

from embodied_stack.bags.reader import BagReader
from embodied_stack.cli import main

pytest.importorskip("rosbags")

RGB, DEPTH, INFO = "/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw", "/camera/color/camera_info"


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    from embodied_stack.sim.episodes import generate_episodes, save_episodes
    from embodied_stack.sim.generate import generate_scene
    from embodied_stack.sim.navmap import NavMap
    from embodied_stack.sim.scene import save_scene

    root = tmp_path_factory.mktemp("scene")
    scene = generate_scene(5, kind="home", rooms=4)
    save_scene(scene, root / "home.scene.json")
    save_episodes(generate_episodes(scene, NavMap.from_scene(scene), 2, 0), root / "home.episodes.json")
    return root / "home.scene.json", root / "home.episodes.json"


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_sim_record_then_memory_build(scene_files, tmp_path, capsys):
    scene, episodes = scene_files
    bag = tmp_path / "run.mcap"
    code = main(["sim", "record", "--scene", str(scene), "--episodes", str(episodes), "--out", str(bag),
                 "--width", "64", "--height", "48", "--max-episodes", "1", "--max-steps", "12",
                 "--live-memory", "--markers-every", "1.0", "--embedder", "hash", "--json"])
    assert code == 0
    recorded = last_json(capsys)
    assert recorded["episodes"] == 1 and 1 <= recorded["frames"] <= 13
    with BagReader(bag) as reader:
        markers = [item.msg for item in reader.messages(["/memory/markers"])]
    assert markers, "live memory markers were not written"
    labels = {m.text for array in markers for m in array.markers if m.type == 9}
    assert labels, "the last marker array draws no labelled memory node"

    store = tmp_path / "store"
    code = main(["memory", "build", "--bag", str(bag), "--rgb", RGB, "--depth", DEPTH, "--info", INFO,
                 "--store", str(store), "--root", str(tmp_path), "--embedder", "hash", "--scene", str(scene),
                 "--json"])
    assert code == 0
    built = last_json(capsys)
    assert built["samples"] == recorded["frames"] and built["skipped"] == {}
    assert built["observations"] > 0 and built["stats"]["leaves"] > 0
    from embodied_stack.bags.sim_runs import open_store

    memory = open_store(store, create=False, embedder="hash", root=tmp_path)
    try:
        leaves = list(memory.iter_leaves())
    finally:
        memory.close()
    assert leaves and all(leaf.level == 0 for leaf in leaves)
    assert built["stats"]["rooms"] > 0  # room polygons from --scene

    # draw the built memory into a new recording: one latched MarkerArray at the start
    replay = tmp_path / "replay.mcap"
    assert main(["sim", "record", "--scene", str(scene), "--episodes", str(episodes), "--out", str(replay),
                 "--width", "32", "--height", "24", "--max-episodes", "1", "--max-steps", "3",
                 "--memory", str(store), "--root", str(tmp_path), "--embedder", "hash"]) == 0
    with BagReader(replay) as reader:
        (array,) = [item.msg for item in reader.messages(["/memory/markers"])]
    drawn = {m.text for m in array.markers if m.type == 9}
    assert {leaf.name for leaf in leaves} <= drawn


def test_memory_build_reports_missing_topics_and_bad_backend(scene_files, tmp_path, capsys):
    scene, episodes = scene_files
    bag = tmp_path / "small"
    assert main(["sim", "record", "--scene", str(scene), "--episodes", str(episodes), "--out", str(bag),
                 "--width", "32", "--height", "24", "--max-episodes", "1", "--max-steps", "2",
                 "--no-instance", "--storage", "sqlite3"]) == 0
    assert (bag / "metadata.yaml").is_file() and (bag / "small.db3").is_file()
    capsys.readouterr()
    common = ["memory", "build", "--bag", str(bag), "--rgb", RGB, "--info", INFO, "--store", str(tmp_path / "s"),
              "--root", str(tmp_path)]
    assert main([*common, "--depth", "/depth/missing"]) == 1
    assert "['/depth/missing'] not in the bag" in capsys.readouterr().err
    assert main([*common, "--depth", DEPTH]) == 1  # no instance table: not a semantic-sensor recording
    assert "--backend semantic needs the simulator's instance table" in capsys.readouterr().err
    assert main([*common, "--depth", DEPTH, "--backend", "yolo"]) == 1
    assert "unknown detector backend 'yolo'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
