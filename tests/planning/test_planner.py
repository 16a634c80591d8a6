"""The planner against a scripted memory (the memory's own behaviour is tested in tests/memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from embodied_stack.planning.errors import PlanStateError
from embodied_stack.planning.planner import Planner, PlannerConfig
from embodied_stack.planning.types import (
    FeedbackStatus,
    PlannerState,
    SubgoalFeedback,
    SubgoalStatus,
    SubgoalType,
)
from embodied_stack.types import Pose2D


@dataclass
class FakeHit:
    node_id: str
    name: str
    score: float
    x: float
    level: int = 0

    @property
    def target_pose(self) -> Pose2D:
        return Pose2D(self.x, 0.0, 0.0)

    @property
    def position(self) -> tuple[float, float, float]:
        return (self.x, 0.5, 0.5)


@dataclass
class FakeResult:
    answer: str
    hits: list[FakeHit]


@dataclass
class ScriptedMemory:
    """Answers by keyword; ``later`` maps keywords to hits that appear after exploration."""

    table: dict[str, list[FakeHit]]
    later: dict[str, list[FakeHit]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def query(self, text, kind=None, k=5, robot_pose=None):  # noqa: ANN001, ANN201
        self.calls.append(text)
        for key, hits in self.table.items():
            if key in text.lower():
                return FakeResult(f"{hits[0].name} is there" if hits else "nothing", hits[:k])
        return FakeResult("I have not seen that", [])

    def explore_done(self) -> None:
        self.table.update(self.later)


def memory() -> ScriptedMemory:
    return ScriptedMemory(
        table={
            "fridge": [FakeHit("leaf_1", "fridge", 0.9, 1.0), FakeHit("leaf_2", "fridge", 0.7, 2.0)],
            "printer": [FakeHit("leaf_3", "printer", 0.8, 3.0)],
            "sofa": [FakeHit("leaf_4", "sofa", 0.85, 4.0)],
            "towel": [FakeHit("leaf_9", "rug", 0.1, 9.0)],
        },
        later={"towel": [FakeHit("leaf_10", "towel", 0.9, 10.0)]},
    )


def reached(subgoal_id: str) -> SubgoalFeedback:
    return SubgoalFeedback(subgoal_id, FeedbackStatus.REACHED, progress=1.0)


def test_two_step_plan_runs_in_order() -> None:
    planner = Planner(memory())
    plan = planner.plan("go to the fridge, then to the printer")
    assert [s.label for s in plan.subgoals] == ["the fridge", "the printer"]
    assert all(s.type == SubgoalType.NAVIGATE_TO for s in plan.subgoals)
    first = planner.next_subgoal()
    assert first is not None and first.target_pose == Pose2D(1.0, 0.0, 0.0)
    assert planner.status.state == PlannerState.EXECUTING
    assert planner.status.active_subgoal_id == first.id
    planner.on_feedback(SubgoalFeedback(first.id, FeedbackStatus.PROGRESS, progress=0.5))
    assert first.status == SubgoalStatus.ACTIVE
    planner.on_feedback(reached(first.id))
    second = planner.next_subgoal()
    assert second is not None and second.label == "the printer"
    planner.on_feedback(reached(second.id))
    assert planner.next_subgoal() is None
    assert planner.status.state == PlannerState.SUCCEEDED
    assert plan.done


def test_failure_replans_to_next_candidate_then_explores() -> None:
    mem = memory()
    planner = Planner(mem, PlannerConfig(candidates=2, max_attempts=5))
    planner.plan("go to the fridge")
    sg = planner.next_subgoal()
    assert sg is not None
    planner.on_feedback(SubgoalFeedback(sg.id, FeedbackStatus.BLOCKED, message="door closed"))
    assert planner.status.state == PlannerState.REPLANNING
    assert planner.status.replans == 1
    sg = planner.next_subgoal()
    assert sg is not None and sg.target_pose == Pose2D(2.0, 0.0, 0.0)
    assert "next candidate" in sg.message
    planner.on_feedback(SubgoalFeedback(sg.id, FeedbackStatus.FAILED))
    sg = planner.next_subgoal()
    assert sg is not None and sg.type == SubgoalType.EXPLORE
    assert planner.status.state == PlannerState.EXPLORING


def test_weak_memory_hit_leads_to_exploration_and_requery() -> None:
    mem = memory()
    planner = Planner(mem, PlannerConfig(min_score=0.3))
    plan = planner.plan("take me to the towel")
    sg = plan.subgoals[0]
    assert sg.type == SubgoalType.EXPLORE and "nothing good enough" in sg.message
    active = planner.next_subgoal()
    assert active is sg and planner.status.state == PlannerState.EXPLORING
    mem.explore_done()
    planner.on_feedback(reached(sg.id))
    assert planner.status.state == PlannerState.REPLANNING
    active = planner.next_subgoal()
    assert active is not None and active.type == SubgoalType.NAVIGATE_TO
    assert active.target_pose == Pose2D(10.0, 0.0, 0.0)
    planner.on_feedback(reached(active.id))
    assert planner.next_subgoal() is None and planner.status.state == PlannerState.SUCCEEDED


def test_exploration_that_finds_nothing_fails_the_plan() -> None:
    planner = Planner(memory())
    planner.plan("go to the unicorn")
    sg = planner.next_subgoal()
    assert sg is not None and sg.type == SubgoalType.EXPLORE
    planner.on_feedback(reached(sg.id))
    assert planner.status.state == PlannerState.FAILED
    assert planner.next_subgoal() is None


def test_max_attempts_bounds_retries() -> None:
    planner = Planner(memory(), PlannerConfig(candidates=2, max_attempts=2))
    planner.plan("go to the fridge")
    for _ in range(2):
        sg = planner.next_subgoal()
        assert sg is not None
        planner.on_feedback(SubgoalFeedback(sg.id, FeedbackStatus.FAILED))
    assert planner.status.state == PlannerState.FAILED
    assert planner.plan_ is not None and planner.plan_.subgoals[0].status == SubgoalStatus.FAILED


def test_answer_steps_complete_without_motion() -> None:
    planner = Planner(memory())
    plan = planner.plan("where is the sofa?")
    assert plan.subgoals[0].type == SubgoalType.ANSWER
    assert "sofa" in plan.subgoals[0].answer
    assert planner.next_subgoal() is None
    assert planner.status.state == PlannerState.SUCCEEDED


def test_feedback_for_wrong_subgoal_is_an_error() -> None:
    planner = Planner(memory())
    with pytest.raises(PlanStateError):
        planner.next_subgoal()
    planner.plan("go to the fridge")
    planner.next_subgoal()
    with pytest.raises(PlanStateError):
        planner.on_feedback(reached("plan_x.9"))


def test_cancel_skips_remaining() -> None:
    planner = Planner(memory())
    plan = planner.plan("go to the fridge then go to the printer")
    planner.next_subgoal()
    planner.cancel()
    assert planner.status.state == PlannerState.CANCELED
    assert all(s.status == SubgoalStatus.SKIPPED for s in plan.subgoals)
    assert planner.next_subgoal() is None


@pytest.mark.parametrize("kwargs", [{"candidates": 0}, {"min_score": 3.0}, {"max_attempts": 0}])
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PlannerConfig(**kwargs)


def test_a_candidate_found_wrong_counts_again_where_a_search_then_saw_the_target() -> None:
    """A remembered thing not seen on arrival (a missed detection) is rejected; when the search
    that follows sees the target right there, that candidate is used again, not skipped for a
    worse one elsewhere."""
    mem = ScriptedMemory({"news": [FakeHit("leaf_1", "tv stand", 0.6, 5.0), FakeHit("leaf_2", "sofa", 0.4, 1.0)]})
    planner = Planner(mem, PlannerConfig(candidates=1))
    planner.plan("I want to watch the news")
    sg = planner.next_subgoal()
    assert sg is not None and sg.target_pose == Pose2D(5.0, 0.0, 0.0)
    planner.on_feedback(SubgoalFeedback(sg.id, FeedbackStatus.FAILED, message="no tv stand seen there"))
    sg = planner.next_subgoal()
    assert sg is not None and sg.type == SubgoalType.EXPLORE
    sg.hint_xy = (5.2, 0.6)  # the search saw it there
    planner.on_feedback(reached(sg.id))
    sg = planner.next_subgoal()
    assert sg is not None and sg.type == SubgoalType.NAVIGATE_TO and sg.current_hit().name == "tv stand"
    assert sg.rejected == []


def test_a_candidate_found_wrong_stays_rejected_when_the_search_saw_it_elsewhere() -> None:
    mem = ScriptedMemory({"news": [FakeHit("leaf_1", "tv stand", 0.6, 5.0), FakeHit("leaf_2", "sofa", 0.4, 1.0)]})
    planner = Planner(mem, PlannerConfig(candidates=1))
    planner.plan("I want to watch the news")
    sg = planner.next_subgoal()
    assert sg is not None
    planner.on_feedback(SubgoalFeedback(sg.id, FeedbackStatus.FAILED, message="no tv stand seen there"))
    sg = planner.next_subgoal()
    assert sg is not None
    sg.hint_xy = (1.0, 0.5)
    planner.on_feedback(reached(sg.id))
    sg = planner.next_subgoal()
    assert sg is not None and sg.current_hit().name == "sofa"
