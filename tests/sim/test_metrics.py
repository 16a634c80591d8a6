"""Habitat metrics on hand-made trajectories (Anderson et al. 2018; Datta et al. 2020)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.metrics import SPL, DistanceToGoal, EpisodeMetrics, SoftSPL, Success
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene
from embodied_stack.types import Action, Pose2D


class DiscGoal:
    """Open-plane goal: a disc of radius 1 m around (10, 0); distances are Euclidean."""

    centre = np.array([10.0, 0.0])

    def contains(self, xy: np.ndarray) -> bool:
        return float(np.linalg.norm(np.asarray(xy) - self.centre)) <= 1.0

    def distance(self, xy: np.ndarray) -> float:
        return max(0.0, float(np.linalg.norm(np.asarray(xy) - self.centre)) - 1.0)


def run(points: list[tuple[float, float]], stop: bool = True) -> dict[str, float]:
    m = EpisodeMetrics(DiscGoal())
    poses = [Pose2D(x, y) for x, y in points]
    m.reset(poses[0])
    for p in poses[1:]:
        m.update(p, Action.MOVE_FORWARD)
    if stop:
        m.update(poses[-1], Action.STOP)
    return m.get()


def test_shortest_path_has_spl_one() -> None:
    r = run([(float(x), 0.0) for x in np.arange(0.0, 9.01, 0.25)])
    assert r["success"] == 1.0 and r["spl"] == pytest.approx(1.0) and r["soft_spl"] == pytest.approx(1.0)
    assert r["shortest_path_m"] == pytest.approx(9.0) and r["distance_to_goal"] == 0.0


def test_detour_halves_spl() -> None:
    # out 4.5 m along +y and back down: 9 + 9 = 18 m for l = 9 m
    r = run([(0.0, 0.0), (4.5, 6.0), (9.0, 0.0)])
    assert r["path_length_m"] == pytest.approx(15.0)
    assert r["spl"] == pytest.approx(9.0 / 15.0)
    assert r["soft_spl"] == pytest.approx(9.0 / 15.0)


def test_no_stop_or_stop_outside_is_failure_but_soft_spl_counts_progress() -> None:
    no_stop = run([(0.0, 0.0), (9.0, 0.0)], stop=False)
    assert no_stop["success"] == 0.0 and no_stop["spl"] == 0.0 and no_stop["soft_spl"] == pytest.approx(1.0)
    short = run([(0.0, 0.0), (4.5, 0.0)])
    assert short["success"] == 0.0 and short["spl"] == 0.0
    assert short["distance_to_goal"] == pytest.approx(4.5)
    assert short["soft_spl"] == pytest.approx((1 - 4.5 / 9.0) * 9.0 / 9.0)
    wrong_way = run([(0.0, 0.0), (-3.0, 0.0)])
    assert wrong_way["soft_spl"] == 0.0


def test_start_inside_goal() -> None:
    r = run([(9.5, 0.0)])
    assert r["success"] == 1.0 and r["spl"] == 1.0 and r["soft_spl"] == 1.0
    moved = run([(9.5, 0.0), (9.7, 0.0)])
    assert moved["spl"] == 0.0


def test_metric_objects_declare_dependencies() -> None:
    goal = DiscGoal()
    distance, success = DistanceToGoal(goal), Success(goal)
    spl, soft = SPL(success, distance), SoftSPL(distance)
    start = Pose2D(0.0, 0.0)
    for metric in (distance, success, spl, soft):
        metric.reset(start)
    end = Pose2D(9.0, 0.0)
    distance.update(end)
    success.update(end, Action.STOP)
    spl.update(end)
    soft.update(end)
    assert (success.get(), spl.get(), soft.get(), distance.get()) == (1.0, 1.0, 1.0, 0.0)
    with pytest.raises(RuntimeError):
        DistanceToGoal(goal).get()


def test_geodesic_goal_region_on_a_navmap() -> None:
    room = {"id": "a", "category": "hall", "polygon": [[0, 0], [12, 0], [12, 3], [0, 3]]}
    nm = NavMap.from_scene(Scene.from_dict({"format": "embodied-stack.scene/1", "name": "h", "rooms": [room]}))
    goal = GoalRegion.around_points(nm, np.array([[10.0, 1.5]]), 1.0)
    start = np.array([1.0, 1.5])
    assert goal.distance(start) == pytest.approx(8.0, abs=0.05)
    assert goal.contains(np.array([9.05, 1.5])) and not goal.contains(np.array([8.9, 1.5]))
    m = EpisodeMetrics(goal)
    m.reset(Pose2D(1.0, 1.5))
    for x in [*np.arange(1.25, 9.01, 0.25), 9.05]:
        m.update(Pose2D(float(x), 1.5), Action.MOVE_FORWARD)
    m.update(Pose2D(9.05, 1.5), Action.STOP)
    r = m.get()
    assert r["success"] == 1.0
    assert math.isclose(r["path_length_m"], 8.05)
    assert r["spl"] == pytest.approx(1.0, abs=0.01)
