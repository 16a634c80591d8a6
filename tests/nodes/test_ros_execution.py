"""The planner node's task loop (execution.py) with a scripted memory and a scripted policy."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from embodied_stack_ros import conversions
from embodied_stack_ros.errors import ServiceCallError
from embodied_stack_ros.execution import ExecutionHooks, ServiceMemory, TaskExecution

from embodied_stack.planning.planner import Planner, PlannerConfig
from embodied_stack.planning.types import (
    FeedbackStatus,
    HitRef,
    Plan,
    PlannerState,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalStatus,
)
from embodied_stack.types import Pose2D


@dataclass
class Hit:
    node_id: str
    name: str
    score: float
    x: float
    level: int = 0

    @property
    def target_pose(self) -> Pose2D:
        return Pose2D(self.x, 1.0, 0.5)

    @property
    def position(self) -> tuple[float, float, float]:
        return (self.x, 1.5, 0.9)


@dataclass
class Answer:
    answer: str
    hits: list[Hit]


@dataclass
class Memory:
    hits: list[Hit]
    fail: bool = False

    def query(self, text: str, kind: Any = None, k: int = 5, robot_pose: Pose2D | None = None) -> Answer:
        if self.fail:
            raise ServiceCallError("service memory/query is not available")
        return Answer(f"the {self.hits[0].name} is in the kitchen" if self.hits else "nothing", self.hits[:k])


@dataclass
class World:
    """Scripted policy: per subgoal activation, the reports it sends (None = silence)."""

    script: deque[list[FeedbackStatus | None]]
    published: list[Subgoal | None] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    statuses: list[PlannerStatus] = field(default_factory=list)
    reports: list[tuple[int, int, SubgoalFeedback | None]] = field(default_factory=list)
    cancel_after_publish: int | None = None
    now: float = 0.0
    _pending: deque[SubgoalFeedback | None] = field(default_factory=deque)

    def publish_subgoal(self, subgoal: Subgoal | None) -> None:
        self.published.append(None if subgoal is None else Subgoal(**vars(subgoal)))
        if subgoal is not None:
            replies = self.script.popleft() if self.script else []
            self._pending = deque(
                None if r is None else SubgoalFeedback(subgoal.id, r, 0.5, 2.0, f"policy says {r.name}")
                for r in replies
            )

    def wait_feedback(self, subgoal_id: str, timeout_s: float) -> SubgoalFeedback | None:
        self.now += timeout_s
        feedback = self._pending.popleft() if self._pending else None
        assert feedback is None or feedback.subgoal_id == subgoal_id
        return feedback

    def is_canceled(self) -> bool:
        count = sum(1 for s in self.published if s is not None)
        return self.cancel_after_publish is not None and count >= self.cancel_after_publish

    def hooks(self) -> ExecutionHooks:
        return ExecutionHooks(
            publish_plan=self.plans.append,
            publish_subgoal=self.publish_subgoal,
            publish_status=self.statuses.append,
            wait_feedback=self.wait_feedback,
            report=lambda status, subgoal, index, count, fb: self.reports.append((index, count, fb)),
            is_canceled=self.is_canceled,
        )


def run(memory: Memory, world: World, instruction: str, timeout_s: float = 5.0, **config: Any):  # noqa: ANN201
    planner = Planner(memory, PlannerConfig(**config), clock=lambda: world.now)
    execution = TaskExecution(planner, world.hooks(), subgoal_timeout_s=timeout_s, clock=lambda: world.now)
    return execution.run(instruction, Pose2D(0.0, 0.0))


FRIDGE = [Hit("leaf_1", "fridge", 0.9, 3.0), Hit("leaf_2", "fridge", 0.7, 6.0)]
R, F, P = FeedbackStatus.REACHED, FeedbackStatus.FAILED, FeedbackStatus.PROGRESS


def test_navigation_succeeds_and_stops_the_policy_at_the_end() -> None:
    world = World(deque([[P, P, R]]))
    outcome = run(Memory(FRIDGE), world, "go to the fridge")
    assert outcome.success and outcome.status.state == PlannerState.SUCCEEDED
    first = world.published[0]
    assert first is not None and first.target_pose == FRIDGE[0].target_pose
    assert world.published[-1] is None
    assert [fb.status for _, _, fb in world.reports if fb is not None] == [P, P, R]
    assert all(count == 1 for _, count, _ in world.reports)
    assert "succeeded" in outcome.summary and "fridge" in outcome.summary


def test_a_failed_subgoal_is_retried_with_the_next_memory_candidate() -> None:
    world = World(deque([[F], [R]]))
    outcome = run(Memory(FRIDGE), world, "go to the fridge")
    assert outcome.success
    tries = [s for s in world.published if s is not None]
    assert [s.id for s in tries] == [tries[0].id, tries[0].id]
    assert [s.target_pose for s in tries] == [FRIDGE[0].target_pose, FRIDGE[1].target_pose]
    assert [s.attempts for s in tries] == [1, 2]
    assert outcome.status.replans == 1


def test_a_silent_policy_times_out_as_failed_and_the_task_fails() -> None:
    world = World(deque([[None] * 100] * 10))
    outcome = run(Memory(FRIDGE), world, "go to the fridge", timeout_s=1.0, max_attempts=2)
    assert not outcome.success and outcome.status.state == PlannerState.FAILED
    finals = [fb for _, _, fb in world.reports if fb is not None]
    assert finals and all("no final report" in fb.message for fb in finals)
    assert world.published[-1] is None


def test_cancel_skips_the_rest_and_stops_the_policy() -> None:
    world = World(deque([[None] * 100]), cancel_after_publish=1)
    outcome = run(Memory(FRIDGE), world, "go to the fridge then go to the sofa")
    assert not outcome.success and outcome.summary == "canceled"
    assert outcome.status.state == PlannerState.CANCELED
    assert world.published[-1] is None
    assert outcome.plan is not None and all(s.status == SubgoalStatus.SKIPPED for s in outcome.plan.subgoals)


def test_a_question_is_answered_without_moving() -> None:
    world = World(deque())
    outcome = run(Memory(FRIDGE), world, "where is the fridge?")
    assert outcome.success
    assert world.published == [None]
    assert "the fridge is in the kitchen" in outcome.summary


@pytest.mark.parametrize("instruction", ["", "   "])
def test_an_empty_instruction_fails_with_a_message(instruction: str) -> None:
    world = World(deque())
    outcome = run(Memory(FRIDGE), world, instruction)
    assert not outcome.success and "empty instruction" in outcome.summary
    assert world.statuses[-1].state == PlannerState.FAILED


def test_an_unreachable_memory_fails_the_task_without_raising() -> None:
    world = World(deque())
    outcome = run(Memory(FRIDGE, fail=True), world, "go to the fridge")
    assert not outcome.success
    assert "planning failed" in outcome.summary and "not available" in outcome.summary


def _response(messages: Any, success: bool, hits: list[Any]) -> Any:
    return messages("embodied_stack_interfaces/msg/QueryMemory_Response")(
        success=success, error_message="" if success else "query must not be empty", answer="in the kitchen",
        kind=1, hits=hits,
    )


def test_service_memory_fills_the_request_and_reads_hits(ros_messages: Any) -> None:
    sent = []
    hit = conversions.hit_ref_to_ros(HitRef("leaf_7", "fridge", 0.8, 0, Pose2D(1.0, 2.0, 0.3), (1.5, 2.5, 0.9)), 1.0)

    def call(request: Any) -> Any:
        sent.append(request)
        return _response(ros_messages, True, [hit])

    memory = ServiceMemory(call, ros_messages("embodied_stack_interfaces/msg/QueryMemory_Request"), clock=lambda: 3.0)
    answer = memory.query("where is the fridge?", kind="explicit", k=3, robot_pose=Pose2D(0.5, 0.0, 1.0))
    request = sent[0]
    assert (request.query, request.kind, request.k, request.has_robot_pose) == ("where is the fridge?", 1, 3, True)
    assert request.robot_pose.header.frame_id == "map"
    assert answer.answer == "in the kitchen"
    assert answer.hits[0].node_id == "leaf_7" and answer.hits[0].target_pose.x == pytest.approx(1.0)


def test_service_memory_raises_on_an_unsuccessful_response(ros_messages: Any) -> None:
    memory = ServiceMemory(lambda _r: _response(ros_messages, False, []),
                           ros_messages("embodied_stack_interfaces/msg/QueryMemory_Request"))
    with pytest.raises(ServiceCallError, match="must not be empty"):
        memory.query("fridge")
