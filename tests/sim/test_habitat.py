"""The Habitat adapter: y-up <-> z-up conversions and configuration building, without habitat_sim;
the real simulator only where it is installed."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from embodied_stack.errors import FormatError
from embodied_stack.sim.env import Action, Env, Pose2D
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


class _Recorder:
    """Stands in for a habitat_sim class: records attributes set on it and constructor args."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def set_defaults(self) -> None:
        self.defaults = True


def _fake_habitat_sim() -> SimpleNamespace:
    return SimpleNamespace(
        SimulatorConfiguration=type("SimulatorConfiguration", (_Recorder,), {}),
        CameraSensorSpec=type("CameraSensorSpec", (_Recorder,), {}),
        SensorType=SimpleNamespace(COLOR="COLOR", DEPTH="DEPTH", SEMANTIC="SEMANTIC"),
        Configuration=type("Configuration", (_Recorder,), {}),
        NavMeshSettings=type("NavMeshSettings", (_Recorder,), {}),
        agent=SimpleNamespace(
            AgentConfiguration=type("AgentConfiguration", (_Recorder,), {}),
            ActionSpec=type("ActionSpec", (_Recorder,), {}),
            ActuationSpec=type("ActuationSpec", (_Recorder,), {}),
        ),
    )


def test_build_configuration_sets_the_documented_fields() -> None:
    hs = _fake_habitat_sim()
    spec = habitat_spec(HabitatConfig(scene="a.glb", scene_dataset_config="d.json", gpu_device_id=-1, width=160,
                                      height=120))
    config = build_habitat_configuration(spec, hs)  # type: ignore[arg-type]
    sim_cfg, agents = config.args
    assert (sim_cfg.scene_id, sim_cfg.scene_dataset_config_file, sim_cfg.gpu_device_id) == ("a.glb", "d.json", -1)
    assert sim_cfg.enable_physics is False
    (agent,) = agents
    assert (agent.height, agent.radius) == (0.88, 0.18)
    assert {s.uuid: s.sensor_type for s in agent.sensor_specifications} == {
        "color": "COLOR", "depth": "DEPTH", "semantic": "SEMANTIC"}
    assert all(s.resolution == [120, 160] and s.position == [0.0, 0.88, 0.0] for s in agent.sensor_specifications)
    forward = agent.action_space["move_forward"]
    assert forward.args[0] == "move_forward" and forward.args[1].kwargs == {"amount": 0.25}
    assert agent.action_space["turn_left"].args[1].kwargs == {"amount": 30.0}
    settings = build_navmesh_settings(spec, hs)  # type: ignore[arg-type]
    assert settings.defaults and (settings.agent_radius, settings.agent_height) == (0.18, 0.88)


@pytest.mark.habitat
def test_real_habitat_env() -> None:
    pytest.importorskip("habitat_sim", reason="habitat-sim is not installed (conda only; see sim/habitat/README.md)")
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
        turned = env.step(Action.TURN_LEFT).frame.agent_pose
        assert math.remainder(turned.yaw - frame.agent_pose.yaw, 2 * math.pi) == pytest.approx(math.radians(30), abs=1e-3)
        here = env.agent_pose.xy
        assert env.geodesic_distance(here, here) == pytest.approx(0.0, abs=1e-3)
    finally:
        env.close()


class _FakeAgent:
    """Agent state in Habitat's frame; rotations are (x, y, z, w) arrays (fake quat_from_coeffs)."""

    def __init__(self) -> None:
        self.state = SimpleNamespace(position=np.zeros(3, dtype=np.float32), rotation=np.array([0.0, 0.0, 0.0, 1.0]),
                                     sensor_states={})

    def get_state(self) -> SimpleNamespace:
        pos = np.asarray(self.state.position, dtype=np.float64)
        self.state.sensor_states = {"color": SimpleNamespace(position=pos + [0.0, 0.88, 0.0], rotation=self.state.rotation)}
        return self.state

    def set_state(self, state: SimpleNamespace) -> None:
        self.state = state


class _FakeSimulator:
    """Just enough of habitat_sim.Simulator for HabitatEnv: a 64x48 view, a wall at x_h = 3."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.agent = _FakeAgent()
        self.previous_step_collided = False
        self.pathfinder = SimpleNamespace(
            is_loaded=True, seed=lambda s: None,
            get_random_navigable_point=lambda: np.array([1.0, 0.0, -2.0], dtype=np.float32),
            snap_point=lambda p: np.array([p[0], 0.0, p[2]], dtype=np.float32),
            try_step=lambda a, b: np.array([min(b[0], 3.0), b[1], b[2]], dtype=np.float32),
            find_path=self._find_path)
        objects = [SimpleNamespace(semantic_id=5, id="chair_5", category=SimpleNamespace(name=lambda: "Chair"),
                                   aabb=SimpleNamespace(center=[1.0, 0.5, -3.0], sizes=[0.5, 1.0, 0.6]), region=None),
                   SimpleNamespace(semantic_id=7, id="table_7", category=SimpleNamespace(name=lambda: "table"),
                                   aabb=SimpleNamespace(center=[2.0, 0.4, -1.0], sizes=[1.2, 0.8, 0.7]), region=None)]
        self.semantic_scene = SimpleNamespace(objects=[None, *objects])
        self.recomputed = False

    def _find_path(self, path: Any) -> bool:
        end = path.requested_end if hasattr(path, "requested_end") else path.requested_ends[0]
        path.geodesic_distance = float(np.hypot(*(np.asarray(end) - np.asarray(path.requested_start))[[0, 2]]))
        return True

    def recompute_navmesh(self, pathfinder: Any, settings: Any) -> None:
        self.recomputed = True

    def get_agent(self, index: int) -> _FakeAgent:
        return self.agent

    def step(self, name: str) -> None:
        state = self.agent.get_state()
        yaw = yaw_from_habitat_quaternion(state.rotation)
        if name == "move_forward":
            target = np.asarray(state.position) + habitat_from_map(np.array([0.25 * math.cos(yaw), 0.25 * math.sin(yaw), 0]))
            state.position = np.asarray(self.pathfinder.try_step(state.position, target))
        else:
            state.rotation = habitat_quaternion_from_yaw(yaw + math.radians(30.0) * (1 if name == "turn_left" else -1))

    def get_sensor_observations(self) -> dict[str, np.ndarray]:
        depth = np.full((48, 64), 3.0, dtype=np.float32)
        depth[:4] = 0.2  # nearer than the 0.5 m minimum
        semantic = np.zeros((48, 64), dtype=np.uint32)
        semantic[20:30, 10:20], semantic[20:30, 40:50], semantic[0, 0] = 5, 7, 99
        return {"color": np.full((48, 64, 4), 128, dtype=np.uint8), "depth": depth, "semantic": semantic}

    def close(self) -> None:
        self.closed = True


def test_habitat_env_plumbing_with_a_fake_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """HabitatEnv's own logic (frames, labels, motion, geodesics) against a stand-in simulator."""
    import sys

    hs = _fake_habitat_sim()
    hs.Simulator = _FakeSimulator
    hs.ShortestPath = lambda: SimpleNamespace()
    hs.MultiGoalShortestPath = lambda: SimpleNamespace()
    common = SimpleNamespace(quat_to_coeffs=lambda q: np.asarray(q, dtype=np.float64),
                             quat_from_coeffs=lambda c: np.asarray(c, dtype=np.float64))
    monkeypatch.setitem(sys.modules, "habitat_sim", hs)
    monkeypatch.setitem(sys.modules, "habitat_sim.utils", SimpleNamespace(common=common))
    monkeypatch.setitem(sys.modules, "habitat_sim.utils.common", common)
    from embodied_stack.sim.habitat.env import HabitatEnv

    env = HabitatEnv(HabitatConfig(scene="fake.glb", width=64, height=48))
    assert isinstance(env, Env) and env._sim.recomputed
    assert env.categories == ["chair", "table"]
    assert {i: (o.object_id, o.category) for i, o in env.instances.items()} == {5: ("chair_5", "chair"),
                                                                                7: ("table_7", "table")}
    chair = env.objects[0]
    assert chair.center == pytest.approx((1.0, 3.0, 0.5)) and chair.size == pytest.approx((0.5, 0.6, 1.0))
    frame = env.reset(Pose2D(1.0, 2.0, 0.0))
    assert (frame.agent_pose.x, frame.agent_pose.y, frame.agent_pose.yaw) == pytest.approx((1.0, 2.0, 0.0))
    assert np.allclose(frame.camera_pose, camera_pose_matrix(Pose2D(1.0, 2.0, 0.0), 0.88))
    assert frame.rgb.shape == (48, 64, 3) and frame.depth[0, 0] == 0.0 and frame.depth[10, 0] == 3.0
    assert frame.instance[25, 15] == 5 and frame.instance[25, 45] == 7
    assert frame.instance[0, 0] == -1 and frame.instance[47, 63] == -1  # unknown id 99 and id 0
    assert env.categories[frame.semantic[25, 15]] == "chair" and frame.semantic[0, 0] == -1
    moved = env.step(Action.MOVE_FORWARD)
    assert moved.frame.agent_pose.x == pytest.approx(1.25) and moved.info["moved_m"] == pytest.approx(0.25)
    turned = env.step(Action.TURN_LEFT).frame.agent_pose
    assert turned.yaw == pytest.approx(math.radians(30.0))
    env.reset(Pose2D(2.5, 2.0, 0.0))
    blocked = env.step_velocity(1.0, 0.0, 1.0)  # the fake wall stops x at 3
    assert blocked.collided and blocked.frame.agent_pose.x == pytest.approx(3.0)
    assert env.geodesic_distance(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(5.0)
    assert env.step(Action.STOP).done
    env.close()
