"""The Habitat adapter: y-up <-> z-up conversions, configuration building and ``HabitatEnv``.

habitat_sim is faked here (tests/sim/habitat_fake.py) because it cannot be installed on the
machines this project is built on (conda or source build only); the fake follows habitat-sim
0.3.x's API as its source defines it, so a call the real simulator does not have fails here.
The test that needs a real simulator skips unless habitat-sim is importable."""

from __future__ import annotations

import math
import os
from pathlib import Path

import habitat_fake
import numpy as np
import pytest

from embodied_stack.errors import FormatError
from embodied_stack.sim.env import Env
from embodied_stack.sim.habitat.config import (
    HabitatConfig,
    build_habitat_configuration,
    build_navmesh_settings,
    habitat_spec,
)
from embodied_stack.sim.habitat.convert import (
    HABITAT_TO_MAP,
    habitat_from_map,
    habitat_quaternion_from_yaw,
    habitat_state_from_pose2d,
    map_from_habitat,
    matrix_to_quaternion,
    optical_pose_from_habitat_sensor,
    pose2d_from_habitat,
    quaternion_to_matrix,
    yaw_from_habitat_quaternion,
)
from embodied_stack.sim.render import camera_pose_matrix
from embodied_stack.types import Action, Pose2D

SHIPPED = Path(__file__).resolve().parents[2] / "sim" / "habitat" / "objectnav_hm3d.yaml"


def test_points_round_trip_and_up_axis() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    assert np.allclose(map_from_habitat(habitat_from_map(pts)), pts)
    assert np.allclose(habitat_from_map(map_from_habitat(pts)), pts)
    assert np.allclose(map_from_habitat(np.array([0.0, 1.0, 0.0])), [0, 0, 1])  # Habitat up is our up
    assert np.allclose(map_from_habitat(np.array([0.0, 0.0, -1.0])), [0, 1, 0])  # Habitat -Z is map +y
    assert np.allclose(HABITAT_TO_MAP @ pts.T, map_from_habitat(pts).T)
    assert np.linalg.det(HABITAT_TO_MAP) == pytest.approx(1.0)


@pytest.mark.parametrize("yaw", np.linspace(-math.pi, math.pi, 13, endpoint=False))
def test_yaw_quaternion_round_trip_and_forward_axis(yaw: float) -> None:
    q = habitat_quaternion_from_yaw(yaw)
    assert np.linalg.norm(q) == pytest.approx(1.0)
    assert math.remainder(yaw_from_habitat_quaternion(q) - yaw, 2 * math.pi) == pytest.approx(0.0, abs=1e-12)
    forward = HABITAT_TO_MAP @ quaternion_to_matrix(q) @ np.array([0.0, 0.0, -1.0])
    assert np.allclose(forward, [math.cos(yaw), math.sin(yaw), 0.0])


def test_identity_rotation_faces_map_plus_y() -> None:
    assert yaw_from_habitat_quaternion(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(math.pi / 2)
    # a quarter turn left about Habitat's up axis faces map -x
    q = np.array([0.0, math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4)])
    assert abs(yaw_from_habitat_quaternion(q)) == pytest.approx(math.pi)


def test_quaternion_matrix_round_trip() -> None:
    rng = np.random.default_rng(1)
    for q in rng.normal(size=(20, 4)):
        q = q / np.linalg.norm(q)
        q = -q if q[3] < 0 else q
        rot = quaternion_to_matrix(q)
        assert np.allclose(rot @ rot.T, np.eye(3)) and np.linalg.det(rot) == pytest.approx(1.0)
        assert np.allclose(matrix_to_quaternion(rot), q)


def test_pose_round_trip() -> None:
    pose = Pose2D(3.2, -1.5, 2.0)
    position, q = habitat_state_from_pose2d(pose, floor_z=0.1)
    assert np.allclose(position, [3.2, 0.1, 1.5])
    back = pose2d_from_habitat(position, q)
    assert (back.x, back.y) == pytest.approx((3.2, -1.5)) and back.yaw == pytest.approx(2.0)


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.5])
def test_habitat_camera_matches_the_embedded_camera(yaw: float) -> None:
    """A Habitat sensor 0.88 m above the agent gives the same optical pose as our renderer."""
    pose = Pose2D(1.0, 2.0, yaw)
    position, q = habitat_state_from_pose2d(pose)
    sensor_position = position + np.array([0.0, 0.88, 0.0])
    assert np.allclose(optical_pose_from_habitat_sensor(sensor_position, q), camera_pose_matrix(pose, 0.88))


def test_spec_from_the_shipped_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HM3D_ROOT", "/data/hm3d")
    cfg = HabitatConfig.from_yaml(SHIPPED)
    assert cfg.scene.startswith("/data/hm3d/") and cfg.scene.endswith(".basis.glb")
    assert cfg.scene_dataset_config == "/data/hm3d/hm3d_annotated_basis.scene_dataset_config.json"
    spec = habitat_spec(cfg)
    assert spec["sim"]["scene_id"] == cfg.scene and spec["sim"]["gpu_device_id"] == 0
    assert spec["agent"] == {"height": 0.88, "radius": 0.18,
                             "action_space": {"move_forward": 0.25, "turn_left": 30.0, "turn_right": 30.0}}
    assert [s["uuid"] for s in spec["sensors"]] == ["color", "depth", "semantic"]
    for s in spec["sensors"]:
        assert s["resolution"] == [480, 640] and s["hfov"] == 79.0 and s["position"] == [0.0, 0.88, 0.0]
    assert (cfg.min_depth_m, cfg.max_depth_m, cfg.max_steps, cfg.success_distance_m) == (0.5, 5.0, 500, 1.0)


def test_config_paths_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    path.write_text("scene: scenes/a.glb\nepisodes: eps.json\ngpu_device_id: -1\nsemantic: false\n")
    cfg = HabitatConfig.from_yaml(path)
    assert cfg.scene == str(tmp_path / "scenes" / "a.glb") and cfg.episodes == str(tmp_path / "eps.json")
    assert [s["uuid"] for s in habitat_spec(cfg)["sensors"]] == ["color", "depth"]
    assert habitat_spec(cfg)["sim"]["gpu_device_id"] == -1
    path.write_text("scene: 00800-TEEsavR23oF\n")  # a dataset scene id is not a path
    assert HabitatConfig.from_yaml(path).scene == "00800-TEEsavR23oF"
    path.write_text("scene: a.glb\nhfov: 90\n")
    with pytest.raises(FormatError, match="hfov") as err:
        HabitatConfig.from_yaml(path)
    assert str(path) in str(err.value)
    path.write_text("scene: a.glb\ngpu_device_id: -2\n")
    with pytest.raises(FormatError, match="gpu_device_id"):
        HabitatConfig.from_yaml(path)
    with pytest.raises(ValueError, match="depth range"):
        HabitatConfig(scene="a.glb", min_depth_m=6.0)


def test_build_configuration_sets_the_documented_fields() -> None:
    hs = habitat_fake.fake_module()
    spec = habitat_spec(HabitatConfig(scene="a.glb", scene_dataset_config="d.json", gpu_device_id=-1, width=160,
                                      height=120))
    config = build_habitat_configuration(spec, hs)  # type: ignore[arg-type]
    sim_cfg, (agent,) = config.sim_cfg, config.agents
    assert (sim_cfg.scene_id, sim_cfg.scene_dataset_config_file, sim_cfg.gpu_device_id) == ("a.glb", "d.json", -1)
    assert sim_cfg.enable_physics is False
    assert (agent.height, agent.radius) == (0.88, 0.18)
    assert {s.uuid: s.sensor_type for s in agent.sensor_specifications} == {
        "color": "COLOR", "depth": "DEPTH", "semantic": "SEMANTIC"}
    assert all(s.resolution == [120, 160] and s.position == [0.0, 0.88, 0.0] for s in agent.sensor_specifications)
    forward = agent.action_space["move_forward"]
    assert forward.name == "move_forward" and forward.actuation.amount == 0.25
    assert agent.action_space["turn_left"].actuation.amount == 30.0
    settings = build_navmesh_settings(spec, hs)  # type: ignore[arg-type]
    assert settings.defaults and (settings.agent_radius, settings.agent_height) == (0.18, 0.88)
    assert settings.cell_height == pytest.approx(0.05)  # not recast's 0.2: the surface stays near the floor


@pytest.mark.habitat
def test_real_habitat_env() -> None:
    pytest.importorskip("habitat_sim", reason="habitat-sim is not installed (conda or source build; see docs/habitat.md)")
    scene = os.environ.get("EMBODIED_STACK_HABITAT_SCENE")
    if not scene:
        pytest.skip("set EMBODIED_STACK_HABITAT_SCENE to a .glb (and a dataset config in the YAML) to run this")
    from embodied_stack.sim.habitat.env import HabitatEnv

    env = HabitatEnv(HabitatConfig(scene=scene, width=64, height=48, semantic=False,
                                   gpu_device_id=int(os.environ.get("EMBODIED_STACK_HABITAT_GPU", "-1"))))
    try:
        assert isinstance(env, Env)
        frame = env.reset()
        assert frame.rgb.shape == (48, 64, 3) and frame.depth.shape == (48, 64)
        turned = env.step(Action.TURN_LEFT)
        assert isinstance(turned.collided, bool)
        assert math.remainder(turned.frame.agent_pose.yaw - frame.agent_pose.yaw, 2 * math.pi) == pytest.approx(
            math.radians(30), abs=1e-3)
        moved = env.step(Action.MOVE_FORWARD)
        assert moved.info["moved_m"] <= 0.25 + 1e-3
        here = env.agent_pose.xy
        assert env.geodesic_distance(here, here) == pytest.approx(0.0, abs=1e-3)
    finally:
        env.close()


def _env(monkeypatch: pytest.MonkeyPatch, **changes: object) -> tuple[object, object]:
    hs = habitat_fake.install(monkeypatch, semantic_annotation=bool(changes.pop("annotated", True)))
    from embodied_stack.sim.habitat.env import HabitatEnv

    return hs, HabitatEnv(HabitatConfig(scene="fake.glb", width=64, height=48, **changes))  # type: ignore[arg-type]


def test_habitat_env_plumbing_with_a_fake_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """HabitatEnv's own logic (frames, labels, motion, geodesics) against the fake simulator."""
    _, env = _env(monkeypatch)
    sim = env.simulator
    assert isinstance(env, Env) and len(sim.recomputed) == 1 and sim.recomputed[0].cell_height == pytest.approx(0.05)
    assert env.categories == ["chair", "table"]
    assert {i: (o.object_id, o.category) for i, o in env.instances.items()} == {5: ("chair_5", "chair"),
                                                                                7: ("table_7", "table")}
    chair = env.objects[0]
    assert chair.center == pytest.approx((1.0, 3.0, 0.5)) and chair.size == pytest.approx((0.5, 0.6, 1.0))
    frame = env.reset(Pose2D(1.0, 2.0, 0.0))
    assert (frame.agent_pose.x, frame.agent_pose.y, frame.agent_pose.yaw) == pytest.approx((1.0, 2.0, 0.0))
    assert frame.rgb.shape == (48, 64, 3) and frame.depth[0, 0] == 0.0 and frame.depth[10, 0] == 3.0
    assert frame.instance[25, 15] == 5 and frame.instance[25, 45] == 7
    assert frame.instance[0, 0] == -1 and frame.instance[47, 63] == -1  # unknown id 99 and id 0
    assert env.categories[frame.semantic[25, 15]] == "chair" and frame.semantic[0, 0] == -1
    renders = sim.renders
    moved = env.step(Action.MOVE_FORWARD)
    assert sim.renders == renders + 1  # one render per step: sim.step's own observations
    assert moved.frame.agent_pose.x == pytest.approx(1.25) and moved.info["moved_m"] == pytest.approx(0.25)
    assert moved.collided is False
    turned = env.step(Action.TURN_LEFT).frame.agent_pose
    assert turned.yaw == pytest.approx(math.radians(30.0))
    env.reset(Pose2D(5.9, 2.0, 0.0))
    bumped = env.step(Action.MOVE_FORWARD)  # the island ends at x = 6: habitat's "collided"
    assert bumped.collided is True and bumped.frame.agent_pose.x == pytest.approx(6.0)
    env.reset(Pose2D(5.5, 2.0, 0.0))
    blocked = env.step_velocity(1.0, 0.0, 1.0)
    assert blocked.collided and blocked.frame.agent_pose.x == pytest.approx(6.0)
    assert env.geodesic_distance(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(5.0)
    assert env.geodesic_distance(np.array([0.0, 1.0]), np.array([[3.0, 5.0], [0.0, 3.0]])) == pytest.approx(2.0)
    renders = sim.renders
    assert env.step(Action.STOP).done and sim.renders == renders  # STOP renders nothing
    env.close()
    assert sim.closed


def test_camera_height_is_measured_from_the_floor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The navmesh surface is 0.04 m above the floor: without a source scene the camera sits
    0.88 m above the navmesh; with one (floor at z = 0) it sits 0.88 m above the floor."""
    from embodied_stack.sim.scene import Room, Scene, save_scene

    _, env = _env(monkeypatch)
    frame = env.reset(Pose2D(1.0, 2.0, 0.3))
    assert frame.camera_pose[2, 3] == pytest.approx(habitat_fake.NAVMESH_Y + 0.88)
    scene = Scene("flat", [Room("r", "living room", ((-1.0, -1.0), (7.0, -1.0), (7.0, 6.0), (-1.0, 6.0)))], [], [])
    path = tmp_path / "flat.scene.json"
    save_scene(scene, path)
    _, env = _env(monkeypatch, source_scene=str(path), semantic=False)
    frame = env.reset(Pose2D(1.0, 2.0, 0.3))
    assert frame.camera_pose[2, 3] == pytest.approx(0.88)
    assert np.allclose(frame.camera_pose[:3, :3], camera_pose_matrix(Pose2D(1.0, 2.0, 0.3), 0.88)[:3, :3])
    after = env.step(Action.MOVE_FORWARD).frame  # stays 0.88 m above the floor while moving
    assert after.camera_pose[2, 3] == pytest.approx(0.88)
    assert all(not c["infer_sensor_states"] for c in env.simulator.get_agent(0).set_state_calls)


def test_starts_are_drawn_and_snapped_on_the_largest_island(monkeypatch: pytest.MonkeyPatch) -> None:
    _, env = _env(monkeypatch)
    assert env.largest_island == 0
    for _ in range(3):
        start = env.reset()  # an unrestricted draw would land on the bed (island 1)
        position = env.simulator.get_agent(0).get_state().position
        assert position[1] == pytest.approx(habitat_fake.NAVMESH_Y)
    on_bed = env.reset(Pose2D(4.5, 0.5, 0.0))  # a start over the bed snaps to the floor island
    assert env.simulator.get_agent(0).get_state().position[1] == pytest.approx(habitat_fake.NAVMESH_Y)
    assert (on_bed.agent_pose.x, on_bed.agent_pose.y) == pytest.approx((4.5, 0.5))
    assert start.rgb.shape == (48, 64, 3)


def test_semantic_sensor_without_annotation_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from embodied_stack.sim.errors import SimError

    with pytest.raises(SimError, match="no semantic annotation.*semantic: false"):
        _env(monkeypatch, annotated=False)
    _, env = _env(monkeypatch, annotated=False, semantic=False)
    frame = env.reset(Pose2D(1.0, 2.0, 0.0))
    assert frame.instance is None and env.categories == []


def test_an_exported_scene_gives_our_instances_scene_and_navmap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Through ``habitat:NAME.habitat.yaml`` of ``sim export-habitat``: instance ids, object ids and
    categories are the embedded simulator's, and the source scene and its navmap are there (goal
    regions, the oracle, ``sim record``)."""
    from embodied_stack.sim.embedded import EmbeddedSim
    from embodied_stack.sim.envs import make_env
    from embodied_stack.sim.habitat.export import export_habitat
    from embodied_stack.sim.scene import load_scene

    habitat_fake.install(monkeypatch)
    scene = load_scene(SHIPPED.parents[1] / "scenes" / "home_0001.scene.json")
    exported = export_habitat(scene, tmp_path)
    env = make_env(f"habitat:{exported.config_yaml}", width=64, height=48)
    embedded = EmbeddedSim(scene)
    assert env.instances == embedded.instances and env.categories == embedded.categories
    assert env.scene is not None and env.scene.name == "home_0001" and env.navmap is not None
    assert env.navmap.free.shape == embedded.navmap.free.shape
    env.close()
    embedded.close()
