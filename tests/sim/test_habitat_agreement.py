"""Shortest paths (SPL's ``l``) to the goal regions, the same on both simulators.

``tests/artifacts/habitat_shortest_paths.json`` is a regression reference of the *embedded*
simulator's figures (grid geodesic from each start to its goal region) on every shipped episode
and on episodes generated here; it is not a habitat-sim measurement: habitat-sim cannot be
installed on the machines this project is built on. Regenerate it with
``EMBODIED_STACK_REGENERATE=1 python -m pytest tests/sim/test_habitat_agreement.py``.

Where habitat-sim is installed, the ``habitat``-marked test exports each scene
(``sim export-habitat``), builds habitat-sim's navmesh for it and checks that its geodesic to the
same region (``MultiGoalShortestPath`` to the region's border) is within 5% of ours.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.sim.episodes import EpisodeSet, generate_episodes, load_episodes
from embodied_stack.sim.generate import generate_scene
from embodied_stack.sim.habitat.agreement import relative_gap, scene_navmap, shortest_paths
from embodied_stack.sim.scene import Scene, load_scene

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "artifacts" / "habitat_shortest_paths.json"
SHIPPED = ("home_0001", "home_0002", "home_0011", "office_0003", "office_0004")
GENERATED = ((21, "home"), (22, "office"))


def _cases() -> list[tuple[str, Scene, EpisodeSet]]:
    cases = []
    for name in SHIPPED:
        scene = load_scene(REPO / "sim" / "scenes" / f"{name}.scene.json")
        cases.append((name, scene, load_episodes(REPO / "sim" / "episodes" / f"{name}.episodes.json", scene)))
    for seed, kind in GENERATED:
        scene = generate_scene(seed, kind=kind)
        cases.append((scene.name, scene, generate_episodes(scene, scene_navmap(scene), 8, seed=0)))
    return cases


def test_embedded_shortest_paths_match_the_recorded_reference() -> None:
    figures = {name: shortest_paths(scene, episodes) for name, scene, episodes in _cases()}
    if os.environ.get("EMBODIED_STACK_REGENERATE"):
        REFERENCE.write_text(json.dumps({
            "what": "embedded-simulator grid geodesic (m) from each episode start to its goal region "
                    "(navigable points within success_distance_m of a target box, or in a target room); "
                    "a regression reference, not a habitat-sim measurement",
            "regenerate": "EMBODIED_STACK_REGENERATE=1 python -m pytest tests/sim/test_habitat_agreement.py",
            "scenes": figures}, indent=1) + "\n", encoding="utf-8")
    recorded = json.loads(REFERENCE.read_text(encoding="utf-8"))["scenes"]
    assert set(recorded) == set(figures)
    for name, rows in figures.items():
        assert [r["id"] for r in rows] == [r["id"] for r in recorded[name]], name
        for now, then in zip(rows, recorded[name], strict=True):
            assert now["embedded_m"] == pytest.approx(then["embedded_m"], abs=2e-3), (name, now["id"])


def test_goal_regions_hold_only_points_near_the_target_box() -> None:
    scene = load_scene(REPO / "sim" / "scenes" / "home_0001.scene.json")
    episodes = load_episodes(REPO / "sim" / "episodes" / "home_0001.episodes.json", scene)
    navmap = scene_navmap(scene)
    from embodied_stack.sim.geometry import polygon_distance

    checked = 0
    for e in episodes.episodes:
        if e.target_rooms:
            continue
        goal = episodes.goal(scene, navmap, e)
        boxes = [o for c in e.target_categories for o in scene.objects_of_category(c)]
        boxes += [scene.object_by_id(i) for i in e.target_objects]
        cells = goal.cells_xy
        d = np.min([polygon_distance(cells, o.footprint()) for o in boxes], axis=0)
        assert d.max() <= episodes.success_distance_m + 1e-9, e.id
        border = goal.boundary_xy()
        assert len(border) and goal.distance(e.start.xy) == pytest.approx(
            navmap.geodesic_distance(e.start.xy, border), abs=0.06)
        checked += 1
    assert checked >= 5


@pytest.mark.habitat
def test_habitat_navmesh_geodesics_agree_within_5_percent(tmp_path: Path) -> None:
    pytest.importorskip("habitat_sim", reason="habitat-sim is not installed (conda or source build; see docs/habitat.md)")
    from embodied_stack.sim.habitat.config import HabitatConfig
    from embodied_stack.sim.habitat.env import HabitatEnv
    from embodied_stack.sim.habitat.export import export_habitat

    worst: dict[str, float] = {}
    for name, scene, episodes in _cases():
        exported = export_habitat(scene, tmp_path / name)
        cfg = HabitatConfig.from_yaml(exported.config_yaml).replace(
            width=64, height=48, semantic=False, gpu_device_id=int(os.environ.get("EMBODIED_STACK_HABITAT_GPU", "-1")))
        env = HabitatEnv(cfg)
        try:
            env.reset(episodes.episodes[0].start)
            rows = shortest_paths(scene, episodes, other=env.geodesic_distance)
        finally:
            env.close()
        gaps = [relative_gap(r["embedded_m"], r["other_m"]) for r in rows]
        worst[name] = max(gaps)
        print(name, json.dumps(rows))
    print("worst relative gap per scene:", worst)
    assert all(math.isfinite(g) and g <= 0.05 for g in worst.values()), worst
