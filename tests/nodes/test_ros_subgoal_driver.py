"""The policy node's per-subgoal rules (subgoal_driver.py), step by step."""

from __future__ import annotations

import math

import pytest
from embodied_stack_ros.subgoal_driver import DriverConfig, SubgoalDriver

from embodied_stack.planning.types import FeedbackStatus, Subgoal, SubgoalType
from embodied_stack.types import Action, Pose2D

START = Pose2D(0.0, 0.0, 0.0)


def navigate(attempts: int = 1) -> Subgoal:
    return Subgoal("plan_1.1", SubgoalType.NAVIGATE_TO, "fridge", target_pose=Pose2D(4.0, 0.0, 0.0), attempts=attempts)


def test_stop_near_the_target_is_reached_and_far_is_failed() -> None:
    driver = SubgoalDriver(DriverConfig(reach_distance_m=1.0))
    assert driver.start(navigate(), START) and driver.needs_policy
    action, feedback = driver.step(Pose2D(3.5, 0.0), Action.STOP)
    assert action == Action.STOP and feedback is not None
    assert feedback.status == FeedbackStatus.REACHED and feedback.progress == 1.0
    assert feedback.distance_remaining_m == pytest.approx(0.5)
    assert driver.active is None
    driver.start(navigate(attempts=2), START)
    _, feedback = driver.step(Pose2D(1.0, 0.0), Action.STOP)
    assert feedback is not None and feedback.status == FeedbackStatus.FAILED
    assert feedback.progress == pytest.approx(0.25) and "3.00 m" in feedback.message


def test_policy_actions_pass_through_with_progress_reports() -> None:
    driver = SubgoalDriver(DriverConfig(progress_every=2))
    driver.start(navigate(), START)
    reports = []
    for step in range(1, 5):
        action, feedback = driver.step(Pose2D(0.25 * step, 0.0), Action.MOVE_FORWARD)
        assert action == Action.MOVE_FORWARD
        reports.append(feedback)
    assert reports[0] is None and reports[2] is None
    assert reports[1] is not None and reports[1].status == FeedbackStatus.PROGRESS
    assert reports[3] is not None and reports[3].progress == pytest.approx(0.25)


def test_forward_steps_that_do_not_move_are_blocked() -> None:
    driver = SubgoalDriver(DriverConfig(blocked_after_steps=3, progress_every=100))
    driver.start(navigate(), START)
    outcomes = [driver.step(START, Action.MOVE_FORWARD) for _ in range(5)]
    statuses = [fb.status if fb else None for _, fb in outcomes]
    assert statuses == [None, None, None, FeedbackStatus.BLOCKED, None]
    assert outcomes[3][0] == Action.STOP and outcomes[4] == (None, None)


def test_turning_in_place_is_not_blocked() -> None:
    driver = SubgoalDriver(DriverConfig(blocked_after_steps=2, progress_every=100, max_steps_per_subgoal=50))
    driver.start(navigate(), START)
    for _ in range(10):
        _, feedback = driver.step(START, Action.TURN_LEFT)
        assert feedback is None


def test_too_many_steps_fail() -> None:
    driver = SubgoalDriver(DriverConfig(max_steps_per_subgoal=3, progress_every=100))
    driver.start(navigate(), START)
    results = [driver.step(Pose2D(0.1 * i, 0.0), Action.MOVE_FORWARD) for i in range(1, 4)]
    final = results[-1][1]
    assert final is not None and final.status == FeedbackStatus.FAILED and "3 steps" in final.message


@pytest.mark.parametrize("kind", [SubgoalType.EXPLORE, SubgoalType.SEARCH])
def test_exploration_turns_a_full_circle_then_reports_reached(kind: SubgoalType) -> None:
    driver = SubgoalDriver(DriverConfig(explore_turn_steps=12))
    driver.start(Subgoal("plan_2.1", kind, "mug", category="mug", attempts=1), START)
    assert not driver.needs_policy
    actions = [driver.step(START, None) for _ in range(13)]
    assert [a for a, _ in actions[:12]] == [Action.TURN_LEFT] * 12
    action, feedback = actions[12]
    assert action == Action.STOP and feedback is not None and feedback.status == FeedbackStatus.REACHED
    assert math.isnan(feedback.distance_remaining_m)


def test_latched_redelivery_is_ignored_and_a_retry_restarts() -> None:
    driver = SubgoalDriver()
    assert driver.start(navigate(1), START)
    driver.step(Pose2D(0.5, 0.0), Action.MOVE_FORWARD)
    assert not driver.start(navigate(1), START)
    assert driver.start(navigate(2), START)
    assert driver.start(None, START) and driver.active is None
    assert driver.step(START, Action.MOVE_FORWARD) == (None, None)


def test_navigation_without_the_policy_action_is_an_error() -> None:
    driver = SubgoalDriver()
    driver.start(navigate(), START)
    with pytest.raises(ValueError, match="needs the policy"):
        driver.step(START, None)


@pytest.mark.parametrize("bad", [{"reach_distance_m": 0.0}, {"blocked_after_steps": 0}, {"explore_turn_steps": -1},
                                 {"min_move_m": math.nan}])
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        DriverConfig(**bad)
