"""``bench sim`` runs on a tiny setting and prints its figures as one JSON object (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simb_scenes import two_rooms

from embodied_stack.cli import main
from embodied_stack.sim.bench import one_core
from embodied_stack.sim.scene import save_scene

pytest.importorskip("open3d")


def test_bench_sim_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = tmp_path / "rooms.scene.json"
    save_scene(two_rooms(), scene)
    code = main(["bench", "sim", "--json", "--scene", str(scene), "--resolutions", "32x24,48x36",
                 "--frames", "3", "--steps", "5", "--queries", "2"])
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (entry,) = report["scenes"]
    assert set(entry["render"]) == {"32x24", "48x36"}
    for figures in entry["render"].values():
        assert figures["frames"] == 3 and figures["fps"] > 0 and figures["baseline_fps"] > 0
        assert figures["speedup"] > 0
    assert entry["steps_per_s_160x120"] > 0 and entry["geodesic_ms"] > 0
    assert report["embree_threads"] == 1
    assert "meets_target" not in report["summary"]["32x24"]  # no target at that size


def test_one_core_restores_affinity() -> None:
    import os

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this OS")
    before = os.sched_getaffinity(0)
    with one_core() as cpu:
        assert os.sched_getaffinity(0) == {cpu}
    assert os.sched_getaffinity(0) == before
