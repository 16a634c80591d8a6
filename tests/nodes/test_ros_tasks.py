"""The nodes together on the rclpy stand-in (marker ``fake_rclpy``): a memory that starts late
still fills, a task whose object was never seen fails honestly, a new goal preempts a running
one, the bridge explores on its own, and the planner can hand navigation to nav2."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from ros_fake_types import GoalStatus
from ros_fakes import Bus
from test_ros_nodes import call, nodes, spin

pytestmark = pytest.mark.fake_rclpy


def _run_goal(bus: Bus, handle: Any, thread: Any, names: tuple[str, ...], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while thread.is_alive() and time.monotonic() < deadline:
        spin(bus, names, 1)
        time.sleep(0.002)
    thread.join(timeout=5.0)


def test_a_memory_started_late_fills_from_the_republished_tracks(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes(world, monkeypatch, "sim_bridge", "sensing")
    spin(world, ("sim_bridge", "sensing"), 4)
    assert world.published["/memory/observations"]  # sent while nobody listened (volatile: lost)
    nodes(world, monkeypatch, "memory")
    spin(world, ("memory",), 1)
    assert world.latched["/memory/stats"].leaves == 0
    spin(world, ("sensing", "memory"), 1)  # the robot stands still; sensing re-publishes its tracks
    assert world.latched["/memory/stats"].leaves >= 2
    assert call(world, "/memory/query", query="where is the fridge?").hits[0].name == "fridge"


def test_a_task_whose_object_was_never_seen_fails_honestly(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    world.overrides["planner"].update({"max_attempts": 2, "min_score": -1.0})
    world.overrides["policy"].update({"explore_turn_steps": 2})
    nodes(world, monkeypatch, "sim_bridge", "sensing", "memory", "planner", "policy")
    spin(world, ("sim_bridge", "sensing", "memory"), 4)
    goal_type = world.actions["/planner/execute"]["type"]
    handle, thread = world.send_goal("/planner/execute", goal_type.Goal(instruction="go to the toilet"))
    _run_goal(world, handle, thread, ("sim_bridge", "sensing", "memory", "policy"))
    assert handle.status == "aborted" and not handle.result.success, handle.result.summary
    assert "toilet" in handle.result.summary and world.latched["/planner/status"].state == 6  # FAILED


def test_a_new_goal_preempts_the_running_one(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes(world, monkeypatch, "sim_bridge", "sensing", "memory", "planner", "policy")
    spin(world, ("sim_bridge", "sensing", "memory"), 4)
    goal_type = world.actions["/planner/execute"]["type"]
    first, first_thread = world.send_goal("/planner/execute", goal_type.Goal(instruction="go to the fridge"))
    spin(world, ("sim_bridge", "policy"), 2)
    second, second_thread = world.send_goal("/planner/execute", goal_type.Goal(instruction="where is the sofa?"))
    _run_goal(world, first, first_thread, ("sim_bridge", "sensing", "memory", "policy"))
    _run_goal(world, second, second_thread, ("sim_bridge", "sensing", "memory", "policy"))
    assert first.status == "aborted" and "preempted" in first.result.summary
    assert second.status == "succeeded" and second.result.success


def test_the_bridge_explores_when_nobody_commands_the_robot(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    world.overrides["sim_bridge"].update({"explore": True, "explore_idle_s": 0.0})
    bridge = nodes(world, monkeypatch, "sim_bridge")["sim_bridge"]
    start = bridge.env.agent_pose
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and math.hypot(bridge.env.agent_pose.x - start.x,
                                                     bridge.env.agent_pose.y - start.y) < 0.2:
        spin(world, ("sim_bridge",), 1)
        time.sleep(0.005)
    moved = math.hypot(bridge.env.agent_pose.x - start.x, bridge.env.agent_pose.y - start.y)
    bridge.on_shutdown()
    assert moved >= 0.2 or bridge.env.agent_pose.yaw != start.yaw


def test_navigation_by_nav2_reports_through_the_action(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    goals: list[Any] = []

    def nav2(goal: Any) -> tuple[bool, int]:
        goals.append(goal)
        return True, GoalStatus.STATUS_ABORTED

    world.nav2 = nav2
    world.overrides["planner"].update({"navigator": "nav2", "max_attempts": 1, "explore_on_miss": False})
    nodes(world, monkeypatch, "sim_bridge", "sensing", "memory", "planner")
    spin(world, ("sim_bridge", "sensing", "memory"), 4)
    goal_type = world.actions["/planner/execute"]["type"]
    handle, thread = world.send_goal("/planner/execute", goal_type.Goal(instruction="go to the fridge"))
    _run_goal(world, handle, thread, ("sim_bridge", "sensing", "memory"))
    assert goals and goals[0].pose.header.frame_id == "map"
    assert handle.status == "aborted" and "nav2 ended with goal status 6" in handle.result.summary
    assert world.latched["/planner/subgoal"].id == ""  # the policy was never asked to drive


def test_the_planner_searches_for_what_the_memory_has_not_seen(world: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sofa is behind the robot (it faces the fridge): the memory has not seen it, so the
    planner runs the core's search (driving with policy/action, perceiving through
    memory/observations), finds it, then the policy drives there and the goal check holds."""
    built = nodes(world, monkeypatch, "sim_bridge", "sensing", "memory", "planner", "policy")
    spin(world, ("sim_bridge", "sensing", "memory"), 4)
    assert call(world, "/memory/query", query="where is the sofa?").hits[0].name != "sofa"
    goal_type = world.actions["/planner/execute"]["type"]
    handle, thread = world.send_goal("/planner/execute", goal_type.Goal(instruction="find the sofa"))
    _run_goal(world, handle, thread, ("sim_bridge", "sensing", "memory", "policy"), timeout_s=120.0)
    assert handle.status == "succeeded", (handle.result.summary if handle.result else None, world.logs["planner"])
    searched = [m for m in world.published["/policy/action"] if m.subgoal_id == "search"]
    assert searched, "the planner drove the search itself"
    assert any("search for 'the sofa': saw a sofa" in msg for _level, msg in world.logs["planner"]), world.logs["planner"]
    pose = built["sim_bridge"].env.agent_pose
    assert math.hypot(pose.x - 1.0, pose.y - 4.4) <= 1.6
    for name in built:
        assert world.errors(name) == [], (name, world.errors(name))
