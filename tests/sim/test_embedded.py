"""The embedded simulator: Env protocol, discrete actions with collisions and sliding, velocity
mode, resets, the simulated clock, configuration and ``make_env``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simb_scenes import hall_scene, two_rooms

from embodied_stack._deps import available
from embodied_stack.errors import FormatError, MissingDependencyError
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.env import Env
from embodied_stack.sim.envs import make_env
from embodied_stack.sim.errors import NavigationError
from embodied_stack.sim.scene import save_scene
from embodied_stack.types import Action, Pose2D

pytest.importorskip("open3d")

SMALL = SimConfig(width=32, height=24, render_threads=1)


@pytest.fixture(scope="module")
def hall() -> EmbeddedSim:
    return EmbeddedSim(hall_scene(), SMALL)


def test_implements_env_protocol(hall: EmbeddedSim) -> None:
    assert isinstance(hall, Env)
    frame = hall.reset(Pose2D(2.0, 0.0, 0.0))
    assert frame.rgb.shape == (24, 32, 3) and frame.depth.shape == (24, 32)
    assert frame.instance is not None and frame.semantic is not None
    assert frame.intrinsics == hall.intrinsics and frame.agent_pose == Pose2D(2.0, 0.0, 0.0)
    assert frame.camera_pose[2, 3] == pytest.approx(0.88)


def test_forward_into_a_wall_stops_at_the_radius(hall: EmbeddedSim) -> None:
    hall.reset(Pose2D(2.0, 0.0, 0.0))
    first = hall.step(Action.MOVE_FORWARD)
    assert first.frame.agent_pose.x == pytest.approx(2.25) and not first.collided
    results = [hall.step(Action.MOVE_FORWARD) for _ in range(10)]
    pose = hall.agent_pose
    # the wall's face is at x = 3.95; the robot's centre stays a radius (0.18 m) away, to a cell
    assert 3.95 - 0.18 - 0.06 <= pose.x <= 3.95 - 0.18 + 1e-9
    assert pose.y == pytest.approx(0.0) and pose.yaw == pytest.approx(0.0)
    assert results[-1].collided and results[-1].info["moved_m"] < 1e-9


def test_oblique_move_slides_along_the_wall(hall: EmbeddedSim) -> None:
    hall.reset(Pose2D(3.0, 0.0, math.radians(45.0)))
    results = [hall.step(Action.MOVE_FORWARD) for _ in range(10)]
    pose = hall.agent_pose
    assert pose.x <= 3.95 - 0.18 + 1e-9
    assert pose.y > 1.5  # kept moving along the wall (10 x 0.25 m x sin 45 deg = 1.77 m unobstructed)
    assert any(r.collided for r in results)
    assert all(r.info["moved_m"] > 0.1 for r in results)


def test_turns_use_the_configured_angle() -> None:
    sim = EmbeddedSim(hall_scene(), SMALL.replace(turn_angle_deg=10.0))
    sim.reset(Pose2D(2.0, 0.0, 0.0))
    assert sim.step(Action.TURN_LEFT).frame.agent_pose.yaw == pytest.approx(math.radians(10.0))
    sim.step(Action.TURN_RIGHT)
    assert sim.step(Action.TURN_RIGHT).frame.agent_pose.yaw == pytest.approx(math.radians(-10.0))
    sim.reset(Pose2D(2.0, 0.0, math.radians(175.0)))
    assert sim.step(Action.TURN_LEFT).frame.agent_pose.yaw == pytest.approx(math.radians(-175.0))


def test_stop_ends_without_moving(hall: EmbeddedSim) -> None:
    hall.reset(Pose2D(2.0, 0.0, 0.0))
    result = hall.step(Action.STOP)
    assert result.done and not result.collided and hall.agent_pose == Pose2D(2.0, 0.0, 0.0)


def test_velocity_mode_integrates_an_arc(hall: EmbeddedSim) -> None:
    hall.reset(Pose2D(1.0, 0.0, 0.0))
    straight = hall.step_velocity(0.5, 0.0, 1.0)
    assert straight.frame.agent_pose.x == pytest.approx(1.5) and not straight.collided
    hall.reset(Pose2D(1.0, 0.0, 0.0))
    arc = hall.step_velocity(0.5, 0.5, 2.0)  # radius 1 m, 1 rad
    pose = arc.frame.agent_pose
    assert pose.x == pytest.approx(1.0 + math.sin(1.0), abs=5e-3)
    assert pose.y == pytest.approx(1.0 - math.cos(1.0), abs=5e-3)
    assert pose.yaw == pytest.approx(1.0)
    assert hall.time_s == pytest.approx(2.0) and arc.frame.timestamp == pytest.approx(2.0)


def test_velocity_mode_collides_with_walls(hall: EmbeddedSim) -> None:
    hall.reset(Pose2D(3.0, 0.0, 0.0))
    result = hall.step_velocity(1.0, 0.0, 2.0)
    assert result.collided and hall.agent_pose.x <= 3.95 - 0.18 + 1e-9
    with pytest.raises(ValueError, match="finite"):
        hall.step_velocity(float("nan"), 0.0, 1.0)


def test_clock_and_step_count(hall: EmbeddedSim) -> None:
    hall.reset(Pose2D(2.0, 0.0, 0.0))
    for _ in range(3):
        result = hall.step(Action.TURN_LEFT)
    assert hall.steps == 3
    assert result.frame.timestamp == pytest.approx(3 * SMALL.action_duration_s)
    hall.reset(Pose2D(2.0, 0.0, 0.0))
    assert hall.time_s == 0.0 and hall.steps == 0


def test_default_start_is_navigable_and_seeded() -> None:
    a = EmbeddedSim(two_rooms(), SMALL.replace(seed=3))
    b = EmbeddedSim(two_rooms(), SMALL.replace(seed=3))
    pa, pb = a.reset().agent_pose, b.reset().agent_pose
    assert pa == pb
    assert a.navmap.is_navigable(pa.xy[None])[0]
    assert a.reset().agent_pose != pa


def test_reset_snaps_near_starts_and_rejects_far_ones(hall: EmbeddedSim) -> None:
    frame = hall.reset(Pose2D(3.9, 0.0, 0.0))  # inside the clearance band of the wall
    assert hall.navmap.is_navigable(frame.agent_pose.xy[None])[0]
    assert frame.agent_pose.x < 3.9
    with pytest.raises(NavigationError, match="navigable"):
        hall.reset(Pose2D(9.0, 0.0, 0.0))


def test_render_at_does_not_move_and_instances_name_objects() -> None:
    sim = EmbeddedSim(two_rooms(), SMALL)
    sim.reset(Pose2D(2.0, 2.0, 0.0))
    frame = sim.render_at(Pose2D(6.0, 1.5, math.pi / 2))
    assert sim.agent_pose == Pose2D(2.0, 2.0, 0.0) and frame.agent_pose.x == 6.0
    assert sim.categories == ["bed", "fridge", "table", "wall shelf"]
    info = sim.instances[2]
    assert (info.object_id, info.category, info.room) == ("bed_1", "bed", "bedroom_1")
    assert sim.geodesic_distance(np.array([2.0, 2.0]), np.array([6.0, 2.0])) == pytest.approx(4.0, abs=0.1)


def test_config_validation_and_yaml(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="hfov_deg"):
        SimConfig(hfov_deg=200.0)
    with pytest.raises(ValueError, match="width"):
        SimConfig(width=0)
    with pytest.raises(ValueError, match="clamp_depth"):
        SimConfig(clamp_depth=1)  # type: ignore[arg-type]
    good = tmp_path / "sim.yaml"
    good.write_text("sim:\n  width: 160\n  height: 120\n  min_depth_m: 0.5\n  max_depth_m: 5.0\n  clamp_depth: true\n")
    cfg = SimConfig.from_yaml(good)
    assert (cfg.width, cfg.height, cfg.clamp_depth) == (160, 120, True)
    assert cfg.intrinsics.fx == pytest.approx(80.0 / math.tan(math.radians(39.5)))
    assert SimConfig.from_dict(cfg.to_dict()) == cfg
    bad = tmp_path / "bad.yaml"
    bad.write_text("widht: 160\n")
    with pytest.raises(FormatError, match="widht") as err:
        SimConfig.from_yaml(bad)
    assert str(bad) in str(err.value)
    bad.write_text("forward_step_m: -1\n")
    with pytest.raises(FormatError, match="forward_step_m"):
        SimConfig.from_yaml(bad)


def test_make_env(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "rooms.scene.json"
    save_scene(two_rooms(), path)
    env = make_env(str(path), width=40, height=30, config=SMALL)
    assert isinstance(env, EmbeddedSim)
    assert (env.intrinsics.width, env.intrinsics.height) == (40, 30)
    assert env.config.render_threads == 1
    if available("habitat_sim"):
        pytest.skip("habitat_sim is installed; the missing-dependency path cannot be checked here")
    cfg = tmp_path / "hab.yaml"
    cfg.write_text("scene: scene.glb\n")
    with pytest.raises(MissingDependencyError, match="habitat"):
        make_env(f"habitat:{cfg}")
