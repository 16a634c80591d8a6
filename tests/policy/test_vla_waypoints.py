"""Goal/state features and the waypoint planner on the robot's own depth map."""

from __future__ import annotations

import math

import numpy as np
import pytest
from policy_helpers import tiny_config

from embodied_stack.policy.inputs import goal_features
from embodied_stack.types import Action, AgentInput, Pose2D

pytest.importorskip("open3d")

from embodied_stack.policy.waypoints import GoalTracker, WaypointPlanner  # noqa: E402
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig  # noqa: E402
from embodied_stack.sim.scene import Door, Room, Scene  # noqa: E402


def _two_rooms() -> Scene:
    """Two 4 m x 4 m rooms side by side (x 0..4 and 4..8), a 1 m door at the top of the shared wall."""
    west = Room("west_1", "bedroom", ((0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)))
    east = Room("east_1", "office", ((4.0, 0.0), (8.0, 0.0), (8.0, 4.0), (4.0, 4.0)))
    return Scene("two_rooms", [west, east], [Door(("west_1", "east_1"), (4.0, 3.3), 1.0)], [])


def test_goal_features_encode_target_waypoint_path_and_previous_action() -> None:
    config = tiny_config()
    plain = goal_features(2.0, math.pi / 2, -1, config)
    assert plain.shape == (15,)
    assert plain[2] == pytest.approx(1.0) and plain[3] == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(plain[4:8], [0.2, 1.0, 0.0, 0.2], atol=1e-7)
    assert plain[8:10].tolist() == [1.0, 1.0], "2 m is the edge of the near range"
    assert plain[10:].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    way = goal_features(np.array([2.0, 3.0]), np.zeros(2), np.array([1, 3]), config, np.array([1.0, 0.5]),
                        np.array([-math.pi / 2, 0.0]), np.array([4.0, 30.0]))
    np.testing.assert_allclose(way[0, 4:8], [0.1, -1.0, 0.0, 0.4], atol=1e-7)
    assert way[1, 7] == pytest.approx(1.0), "path length clipped at goal_max_distance_m"
    np.testing.assert_allclose(way[:, 8:10], [[1.0, 1.0], [1.0, 1.0]])
    assert way[1, 10:].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    near = goal_features(0.5, 0.0, 0, config, 0.5, 0.0, 0.7)
    np.testing.assert_allclose(near[8:10], [0.35, 0.25], atol=1e-7)
    assert near[7] == pytest.approx(0.07) and near[8] - near[7] > 0.25, "near range resolves the last metre"

    with pytest.raises(ValueError, match="previous action"):
        goal_features(1.0, 0.0, 4, config)
    with pytest.raises(ValueError, match="waypoint distance"):
        goal_features(1.0, 0.0, 0, config, float("nan"), 0.0)


def test_waypoint_goes_straight_in_the_open_and_through_the_door_once_the_room_is_seen() -> None:
    sim = EmbeddedSim(_two_rooms(), SimConfig(width=64, height=48))
    planner = WaypointPlanner()
    goal = np.array([6.0, 1.0])
    start = Pose2D(2.0, 1.0, math.pi)
    frame = sim.reset(start)
    planner.reset(frame, goal)
    blind = planner.update(frame, start)
    assert blind[1] == pytest.approx(1.0, abs=0.15) and blind[0] > 2.5, "nothing seen toward the goal: straight"
    for k in range(12):
        pose = Pose2D(2.0, 1.0, k * math.pi / 6)
        waypoint = planner.update(sim.reset(pose), pose)
    assert waypoint[1] > 1.4, f"with the room mapped the plan heads for the door at y 3.3, got {waypoint}"
    path = planner.path
    assert path[:, 1].max() > 2.8 and path[-1] == pytest.approx(goal, abs=0.1)


def test_a_blocked_forward_move_marks_the_cell_ahead() -> None:
    sim = EmbeddedSim(_two_rooms(), SimConfig(width=64, height=48))
    planner = WaypointPlanner()
    pose = Pose2D(1.0, 2.0, math.pi / 2)
    frame = sim.reset(pose)
    planner.reset(frame, np.array([3.0, 2.0]))
    planner.update(frame, pose)
    assert planner.grid is not None
    ahead = np.array([[1.0, 2.0 + 0.18 + 0.1]])
    rows, cols, _ = planner.grid.cells_of(ahead)
    assert not planner.grid.occupied[rows[0], cols[0]]
    planner.update(frame, Pose2D(1.0, 2.02, math.pi / 2), moved_forward=True)
    assert planner.grid.occupied[rows[0], cols[0]]


def test_goal_tracker_with_and_without_waypoints() -> None:
    sim = EmbeddedSim(_two_rooms(), SimConfig(width=32, height=24))
    pose = Pose2D(2.0, 1.0, 0.0)
    frame = sim.reset(pose)
    inp = AgentInput(frame, pose, np.array([6.0, 1.0]))
    off = GoalTracker(tiny_config(waypoints=False))
    off.reset(inp.goal_xy)
    features = off.features(inp)
    np.testing.assert_allclose(features[4:8], [features[0], features[2], features[3], features[0]], atol=1e-6)
    on = GoalTracker(tiny_config())
    on.reset(inp.goal_xy)
    features = on.features(inp)
    assert abs(features[5]) > 0.3, "the wall ahead is mapped: the waypoint leaves the straight line"
    assert np.hypot(*(on.waypoint_xy - pose.xy)) <= 1.0 + 0.1
    on.record_action(Action.TURN_LEFT)
    assert on.features(inp)[10:].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]


def test_waypoint_expert_turns_toward_the_waypoint_and_stops_near_the_target() -> None:
    from embodied_stack.policy.waypoints import follow_waypoint

    sim = EmbeddedSim(_two_rooms(), SimConfig(width=32, height=24))
    turn = math.radians(30.0)
    tracker = GoalTracker(tiny_config())
    pose = Pose2D(1.0, 1.0, 0.0)
    tracker.reset(np.array([3.0, 1.0]))
    tracker.features(AgentInput(sim.reset(pose), pose, tracker.goal_xy))
    assert follow_waypoint(tracker, pose, turn, 0.75) == Action.MOVE_FORWARD
    facing_away = Pose2D(1.0, 1.0, math.pi / 2)
    tracker.features(AgentInput(sim.reset(facing_away), facing_away, tracker.goal_xy))
    assert follow_waypoint(tracker, facing_away, turn, 0.75) == Action.TURN_RIGHT
    near = Pose2D(2.6, 1.0, 0.0)
    tracker.features(AgentInput(sim.reset(near), near, tracker.goal_xy))
    assert tracker.path_length_m == pytest.approx(0.4, abs=0.15)
    assert follow_waypoint(tracker, near, turn, 0.75) == Action.STOP
