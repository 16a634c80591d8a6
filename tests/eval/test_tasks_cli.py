"""`run task` and `eval tasks` end to end: a memory store built from the scene's objects, the oracle."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from embodied_stack.cli import main
from embodied_stack.eval.tasks import Task, TaskSet, TaskStep, save_tasks
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.sim.scene import save_scene
from embodied_stack.types.observations import Observation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simb_scenes import two_rooms  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tasks")
    scene = two_rooms()
    scene_path = root / "two_rooms.scene.json"
    save_scene(scene, scene_path)
    observations = [Observation(category=o.category, position=o.center, extent=o.size, caption=f"a {o.category}",
                                room=o.room, timestamp=1.0) for o in scene.objects]
    with SemanticMemory.open(root / "memory", root=root) as memory:
        memory.ingest(observations)
    return scene_path, root / "memory"


def test_run_task_prints_subgoals(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    scene, memory = setup
    code = main(["run", "task", "--scene", str(scene), "--memory", str(memory), "--agent", "oracle",
                 "--start", "6.0", "1.0", "0.0", "go to the fridge, then to the bed"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "navigate_to 'the fridge'" in out and "navigate_to 'the bed'" in out and "succeeded" in out


def test_eval_tasks_reports_success(setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene, memory = setup
    tasks = TaskSet("test", [Task("t1", "take me to the fridge", (TaskStep(target_categories=("fridge",)),)),
                             Task("t2", "go to the bed then the table",
                                  (TaskStep(target_categories=("bed",)), TaskStep(target_objects=("table_1",))))])
    save_tasks(tasks, tmp_path / "tasks.json")
    code = main(["eval", "tasks", "--scene", str(scene), "--memory", str(memory), "--agent", "oracle",
                 "--tasks", str(tmp_path / "tasks.json"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["tasks"] == 2 and summary["task_success"] == 1.0 and 0.3 < summary["spl"] <= 1.0


def test_eval_search_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "search", "--split", "dev", "--variants", "memory,teleport"]) == 2
    assert "teleport" in capsys.readouterr().err
    bad = tmp_path / "bad.search.json"
    bad.write_text(json.dumps({"format": "embodied-stack.search/1", "scenes": [{"scene": "home_0001", "episodes": [
        {"id": "a", "kind": "moved", "target": "chair"}]}]}))
    assert main(["eval", "search", "--episodes", str(bad)]) != 0
    assert "object" in capsys.readouterr().err


def test_the_task_printer_says_the_final_status_once() -> None:
    import io

    from embodied_stack.eval.tasks_cli import _printer
    from embodied_stack.planning.types import PlannerState, PlannerStatus

    stream = io.StringIO()
    show = _printer(stream)
    done = PlannerStatus(plan_id="plan_1", state=PlannerState.FAILED, message="'the mug' failed")
    show("status", done)
    show("status", PlannerStatus(plan_id="plan_1", state=PlannerState.FAILED, message="'the mug' failed"))
    show("status", PlannerStatus(plan_id="plan_1", state=PlannerState.SUCCEEDED, message="all subgoals done"))
    lines = stream.getvalue().splitlines()
    assert lines == ["  planner: failed ('the mug' failed)", "  planner: succeeded (all subgoals done)"]
