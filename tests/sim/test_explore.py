"""Frontier exploration: coverage of the true navigable area, the robot's own map, callbacks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from simb_scenes import AWS_HOUSE, box, hall_scene, two_rooms

from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.explore import ExploreConfig, explore
from embodied_stack.sim.occupancy import FREE, OCCUPIED, OccupancyGrid
from embodied_stack.sim.scene import load_scene
from embodied_stack.types import Frame, Pose2D

pytest.importorskip("open3d")

LOW_RES = SimConfig(width=64, height=48, render_threads=1)


def test_two_rooms_are_covered_within_budget() -> None:
    sim = EmbeddedSim(two_rooms(), LOW_RES)
    seen: list[Frame] = []
    calls: list[int] = []
    result = explore(sim, ExploreConfig(max_steps=300), start=Pose2D(1.0, 2.0, 0.0), on_frame=seen.append,
                     progress=lambda steps, total: calls.append(steps))
    assert result.coverage >= 0.9
    assert result.stop_reason == "no_frontier" and result.steps < 300
    assert len(result.trajectory) == result.steps + 1 == len(seen)
    assert calls == list(range(1, result.steps + 1))
    steps = np.array([[p.x, p.y] for p in result.trajectory])
    assert np.all(np.linalg.norm(np.diff(steps, axis=0), axis=1) <= 0.25 + 1e-9)
    assert result.frames == []  # not kept unless asked


def test_own_map_sees_obstacles_and_free_floor() -> None:
    sim = EmbeddedSim(two_rooms(), LOW_RES)
    result = explore(sim, ExploreConfig(max_steps=300), start=Pose2D(1.0, 2.0, 0.0), keep_frames=True)
    assert len(result.frames) == result.steps + 1
    grid = result.grid
    state = grid.state()

    def cells_in(lo: tuple[float, float], hi: tuple[float, float]) -> np.ndarray:
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0], 0.05), np.arange(lo[1], hi[1], 0.05))
        rows, cols, _ = grid.cells_of(np.stack([xs.ravel(), ys.ravel()], axis=1))
        return state[rows, cols]

    # objects' surfaces are seen (their insides stay unknown); the open floor is free
    assert (cells_in((1.35, 0.55), (2.65, 1.45)) == OCCUPIED).sum() >= 10  # the table
    assert (cells_in((0.05, 3.15), (0.75, 3.85)) == OCCUPIED).sum() >= 5  # the fridge
    assert (cells_in((2.0, 2.0), (3.5, 3.5)) == FREE).all()
    assert (cells_in((5.0, 0.5), (6.5, 1.5)) == FREE).all()


def test_step_budget_stops_early() -> None:
    sim = EmbeddedSim(two_rooms(), LOW_RES)
    result = explore(sim, ExploreConfig(max_steps=15), start=Pose2D(1.0, 2.0, 0.0))
    assert result.steps == 15 and result.stop_reason == "max_steps"
    assert result.coverage < 0.9


def test_initial_spin_uses_the_env_turn_angle() -> None:
    sim = EmbeddedSim(hall_scene(), LOW_RES.replace(turn_angle_deg=45.0))
    result = explore(sim, ExploreConfig(max_steps=8, turn_angle_deg=30.0), start=Pose2D(2.0, 0.0, 0.0))
    turns = np.diff(np.unwrap([p.yaw for p in result.trajectory[:9]]))
    assert np.allclose(turns, math.radians(45.0))


def test_integrate_marks_floor_free_and_obstacles_occupied() -> None:
    scene = hall_scene([box("shelf_1", "wall shelf", [2.5, 1.0, 1.7], [0.4, 0.8, 0.4]),
                        box("crate_1", "crate", [2.5, -1.0, 0.2], [0.4, 0.4, 0.4])])
    sim = EmbeddedSim(scene, SimConfig(width=160, height=120, render_threads=1))
    frame = sim.reset(Pose2D(1.0, 0.0, 0.0))
    grid = OccupancyGrid(np.array([1.0, 0.0]), 12.0, 0.1)
    grid.integrate(frame, 0.0)
    points = np.array([[2.0, 0.0], [3.98, 0.0], [4.5, 0.0], [2.5, 1.0], [2.32, -1.0]])
    rows, cols, _ = grid.cells_of(points)
    assert grid.known_free()[rows[0], cols[0]]
    assert grid.occupied[rows[1], cols[1]]  # the wall
    assert not grid.seen_free[rows[2], cols[2]] and not grid.occupied[rows[2], cols[2]]  # behind the wall
    assert grid.known_free()[rows[3], cols[3]]  # under the shelf (bottom 1.5 m, above the robot)
    assert grid.occupied[rows[4], cols[4]]  # the crate's near face


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        ExploreConfig(max_steps=0)
    with pytest.raises(ValueError, match="obstacle_min_height_m"):
        ExploreConfig(obstacle_min_height_m=1.5)


def test_aws_house_coverage() -> None:
    if not AWS_HOUSE.exists():
        pytest.skip(f"shared data not present: {AWS_HOUSE}")
    sim = EmbeddedSim(load_scene(AWS_HOUSE), LOW_RES)
    result = explore(sim, ExploreConfig(max_steps=900), start=Pose2D(0.5, -2.0, 0.0))
    assert result.coverage >= 0.9


def test_sim_explore_command(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from embodied_stack.cli import main
    from embodied_stack.sim.scene import save_scene

    scene = tmp_path / "rooms.scene.json"
    save_scene(two_rooms(), scene)
    traj = tmp_path / "traj.json"
    code = main(["sim", "explore", str(scene), "--start", "1.0", "2.0", "0.0", "--width", "48", "--height", "36",
                 "--max-steps", "300", "--out", str(traj), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["coverage"] >= 0.9 and summary["stop_reason"] == "no_frontier"
    poses = json.loads(traj.read_text())["poses"]
    assert len(poses) == summary["steps"] + 1 and poses[0] == [1.0, 2.0, 0.0]
