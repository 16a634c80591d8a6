"""A stand-in for ``habitat_sim`` 0.3.x, for tests only.

habitat-sim cannot be installed on the machines this project is built and tested on (it comes
from conda or a source build), so the adapter is tested against this fake. It follows the API as
habitat-sim's own source defines it, and is strict where a wrong call would otherwise pass:

- ``Simulator.step(action)`` returns the observations with the collision flag under
  ``"collided"`` (src_python/habitat_sim/simulator.py); there is no ``previous_step_collided``.
- ``PathFinder`` (src/esp/bindings/ShortestPathBindings.cpp): ``is_loaded``, ``seed``,
  ``num_islands``, ``island_area(island_index=-1)``,
  ``get_random_navigable_point(max_tries=10, island_index=-1)``,
  ``snap_point(point, island_index=-1)``, ``try_step(start, end)``, ``find_path(path)`` for a
  ``ShortestPath`` (``requested_start``/``requested_end``) or a ``MultiGoalShortestPath``
  (``requested_start``/``requested_ends``), both filling ``geodesic_distance`` (inf if none).
- ``NavMeshSettings`` has ``set_defaults()`` and the recast fields (``cell_height`` 0.2 by
  default); ``Simulator.recompute_navmesh(pathfinder, navmesh_settings)``.
- ``agent.Agent.get_state()`` returns an ``AgentState`` (position, rotation, absolute
  ``sensor_states`` of ``SixDOFPose``); ``set_state(state, reset_sensors=True,
  infer_sensor_states=True, is_initial=False)`` (src_python/habitat_sim/agent/agent.py).

Classes use ``__slots__`` so that setting a field habitat-sim does not have raises. Rotations
are (x, y, z, w) arrays: the fake ``quat_from_coeffs``/``quat_to_coeffs`` are identities.

The world: a navmesh surface 0.04 m above a floor at y = 0 over x in [0, 6], z in [-5, 0]
(island 0, 30 m^2) and a "bed top" island at y = 0.6 over x in [4, 5], z in [-1, 0] (island 1).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from embodied_stack.sim.habitat.convert import (
    habitat_from_map,
    habitat_quaternion_from_yaw,
    quaternion_to_matrix,
    yaw_from_habitat_quaternion,
)

NAVMESH_Y = 0.04
BED_Y = 0.6
ISLANDS = ((0.0, 6.0, -5.0, 0.0, NAVMESH_Y), (4.0, 5.0, -1.0, 0.0, BED_Y))


class _Slotted:
    __slots__: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        for k, v in kwargs.items():
            setattr(self, k, v)


class SimulatorConfiguration(_Slotted):
    __slots__ = ("scene_id", "scene_dataset_config_file", "gpu_device_id", "enable_physics", "random_seed",
                 "allow_sliding", "load_semantic_mesh", "default_agent_id")


class CameraSensorSpec(_Slotted):
    __slots__ = ("uuid", "sensor_type", "resolution", "hfov", "position", "orientation")


class NavMeshSettings(_Slotted):
    __slots__ = ("cell_size", "cell_height", "agent_height", "agent_radius", "agent_max_climb", "agent_max_slope",
                 "include_static_objects", "defaults")

    def set_defaults(self) -> None:
        self.cell_size, self.cell_height, self.agent_height, self.agent_radius = 0.05, 0.2, 1.5, 0.1
        self.agent_max_climb, self.agent_max_slope, self.include_static_objects = 0.2, 45.0, False
        self.defaults = True


class ShortestPath(_Slotted):
    __slots__ = ("requested_start", "requested_end", "points", "geodesic_distance")


class MultiGoalShortestPath(_Slotted):
    __slots__ = ("requested_start", "requested_ends", "points", "geodesic_distance", "closest_end_point_index")


class Configuration:
    def __init__(self, sim_cfg: SimulatorConfiguration, agents: list[Any]) -> None:
        self.sim_cfg, self.agents = sim_cfg, agents


class AgentConfiguration(_Slotted):
    __slots__ = ("height", "radius", "sensor_specifications", "action_space", "body_type")


class ActuationSpec(_Slotted):
    __slots__ = ("amount", "constraint")

    def __init__(self, amount: float, constraint: float | None = None) -> None:
        self.amount, self.constraint = amount, constraint


class ActionSpec(_Slotted):
    __slots__ = ("name", "actuation")

    def __init__(self, name: str, actuation: ActuationSpec | None = None) -> None:
        self.name, self.actuation = name, actuation


class SixDOFPose(_Slotted):
    __slots__ = ("position", "rotation")

    def __init__(self, position: Any = None, rotation: Any = None) -> None:
        self.position = np.zeros(3) if position is None else np.asarray(position, dtype=np.float64)
        self.rotation = np.array([0.0, 0.0, 0.0, 1.0]) if rotation is None else np.asarray(rotation, dtype=np.float64)


class AgentState(_Slotted):
    __slots__ = ("position", "rotation", "sensor_states")

    def __init__(self, position: Any = None, rotation: Any = None, sensor_states: dict[str, SixDOFPose] | None = None) -> None:
        self.position = np.zeros(3) if position is None else np.asarray(position, dtype=np.float64)
        self.rotation = np.array([0.0, 0.0, 0.0, 1.0]) if rotation is None else np.asarray(rotation, dtype=np.float64)
        self.sensor_states = dict(sensor_states or {})


class PathFinder:
    """The two islands above; geodesics are straight lines within an island."""

    def __init__(self) -> None:
        self.is_loaded = True
        self.settings: NavMeshSettings | None = None

    def seed(self, new_seed: int) -> None:
        self._seed = new_seed

    @property
    def num_islands(self) -> int:
        return len(ISLANDS)

    def island_area(self, island_index: int = -1) -> float:
        areas = [(x1 - x0) * (z1 - z0) for x0, x1, z0, z1, _ in ISLANDS]
        return float(sum(areas)) if island_index == -1 else float(areas[island_index])

    def _island_of(self, p: np.ndarray) -> int:
        for i in reversed(range(len(ISLANDS))):
            x0, x1, z0, z1, y = ISLANDS[i]
            if x0 <= p[0] <= x1 and z0 <= p[2] <= z1 and abs(p[1] - y) < 0.3:
                return i
        return 0

    def get_random_navigable_point(self, max_tries: int = 10, island_index: int = -1) -> np.ndarray:
        i = 1 if island_index == -1 else island_index  # an unrestricted draw lands on the bed
        x0, x1, z0, z1, y = ISLANDS[i]
        return np.array([(x0 + x1) / 2, y, (z0 + z1) / 2], dtype=np.float32)

    def snap_point(self, point: Any, island_index: int = -1) -> np.ndarray:
        p = np.asarray(point, dtype=np.float64)
        i = self._island_of(p) if island_index == -1 else island_index
        x0, x1, z0, z1, y = ISLANDS[i]
        return np.array([min(max(p[0], x0), x1), y, min(max(p[2], z0), z1)], dtype=np.float32)

    def try_step(self, start: Any, end: Any) -> np.ndarray:
        s, e = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
        x0, x1, z0, z1, y = ISLANDS[self._island_of(s)]
        return np.array([min(max(e[0], x0), x1), y, min(max(e[2], z0), z1)], dtype=np.float32)

    def find_path(self, path: ShortestPath | MultiGoalShortestPath) -> bool:
        start = np.asarray(path.requested_start, dtype=np.float64)
        ends = [path.requested_end] if isinstance(path, ShortestPath) else list(path.requested_ends)
        best = math.inf
        for end in ends:
            e = np.asarray(end, dtype=np.float64)
            if self._island_of(e) == self._island_of(start):
                best = min(best, float(np.linalg.norm((e - start)[[0, 2]])))
        path.geodesic_distance = best
        path.points = []
        return math.isfinite(best)


class Agent:
    """Body position/rotation plus per-sensor offsets in the body frame (about y only here)."""

    def __init__(self, cfg: AgentConfiguration) -> None:
        self.agent_config = cfg
        self.body = AgentState()
        self.offsets = {s.uuid: np.asarray(s.position, dtype=np.float64) for s in cfg.sensor_specifications}
        self.set_state_calls: list[dict[str, bool]] = []

    def get_state(self) -> AgentState:
        rot = quaternion_to_matrix(self.body.rotation)
        sensors = {k: SixDOFPose(self.body.position + rot @ v, self.body.rotation.copy()) for k, v in self.offsets.items()}
        return AgentState(self.body.position.copy(), self.body.rotation.copy(), sensors)

    def set_state(self, state: AgentState, reset_sensors: bool = True, infer_sensor_states: bool = True,
                  is_initial: bool = False) -> None:
        self.set_state_calls.append({"reset_sensors": reset_sensors, "infer_sensor_states": infer_sensor_states})
        self.body = AgentState(np.asarray(state.position, dtype=np.float64), np.asarray(state.rotation, dtype=np.float64))
        if reset_sensors:
            self.offsets = {s.uuid: np.asarray(s.position, dtype=np.float64) for s in self.agent_config.sensor_specifications}
        if not infer_sensor_states:
            rot = quaternion_to_matrix(self.body.rotation)
            for k, v in state.sensor_states.items():
                assert k in self.offsets, f"unknown sensor {k}"
                self.offsets[k] = rot.T @ (np.asarray(v.position, dtype=np.float64) - self.body.position)


class Simulator:
    """A 64x48 view; records renders; ``step`` acts, renders once and adds ``"collided"``."""

    def __init__(self, config: Configuration, semantic: bool = True) -> None:
        self.config = config
        self.pathfinder = PathFinder()
        (agent_cfg,) = config.agents
        self.agents = [Agent(agent_cfg)]
        self.renders = 0
        self.closed = False
        self.recomputed: list[NavMeshSettings] = []
        objects = [SimpleNamespace(semantic_id=5, id="chair_5", category=SimpleNamespace(name=lambda: "Chair"),
                                   aabb=SimpleNamespace(center=[1.0, 0.5, -3.0], sizes=[0.5, 1.0, 0.6]), region=None),
                   SimpleNamespace(semantic_id=7, id="table_7", category=SimpleNamespace(name=lambda: "table"),
                                   aabb=SimpleNamespace(center=[2.0, 0.4, -1.0], sizes=[1.2, 0.8, 0.7]), region=None)]
        self.semantic_scene = SimpleNamespace(objects=[None, *objects] if semantic else [])

    def recompute_navmesh(self, pathfinder: PathFinder, navmesh_settings: NavMeshSettings) -> bool:
        assert isinstance(navmesh_settings, NavMeshSettings)
        self.recomputed.append(navmesh_settings)
        return True

    def get_agent(self, agent_id: int) -> Agent:
        return self.agents[agent_id]

    def step(self, action: str | int, dt: float = 1.0 / 60.0) -> dict[str, Any]:
        agent = self.agents[0]
        spec = agent.agent_config.action_space[action]
        body = agent.body
        yaw = yaw_from_habitat_quaternion(body.rotation)
        collided = False
        if spec.name == "move_forward":
            target = body.position + habitat_from_map(np.array([math.cos(yaw), math.sin(yaw), 0.0]) * spec.actuation.amount)
            reached = np.asarray(self.pathfinder.try_step(body.position, target), dtype=np.float64)
            collided = bool(np.linalg.norm((reached - target)[[0, 2]]) > 1e-5)
            body.position = reached
        else:
            sign = 1.0 if spec.name == "turn_left" else -1.0
            body.rotation = habitat_quaternion_from_yaw(yaw + sign * math.radians(spec.actuation.amount))
        obs = self.get_sensor_observations()
        obs["collided"] = collided
        return obs

    def get_sensor_observations(self, agent_ids: int = 0) -> dict[str, Any]:
        self.renders += 1
        depth = np.full((48, 64), 3.0, dtype=np.float32)
        depth[:4] = 0.2  # nearer than the 0.5 m minimum
        semantic = np.zeros((48, 64), dtype=np.uint32)
        semantic[20:30, 10:20], semantic[20:30, 40:50], semantic[0, 0] = 5, 7, 99
        specs = {s.uuid for s in self.agents[0].agent_config.sensor_specifications}
        obs = {"color": np.full((48, 64, 4), 128, dtype=np.uint8), "depth": depth, "semantic": semantic}
        return {k: v for k, v in obs.items() if k in specs}

    def close(self, destroy: bool = True) -> None:
        self.closed = True


def fake_module(*, semantic_annotation: bool = True) -> SimpleNamespace:
    """The fake ``habitat_sim`` module (and its ``agent`` and ``utils.common`` submodules);
    ``created`` lists the simulators made through it."""
    common = SimpleNamespace(quat_to_coeffs=lambda q: np.asarray(q, dtype=np.float64),
                             quat_from_coeffs=lambda c: np.asarray(c, dtype=np.float64))
    agent = SimpleNamespace(AgentConfiguration=AgentConfiguration, ActionSpec=ActionSpec, ActuationSpec=ActuationSpec,
                            AgentState=AgentState, SixDOFPose=SixDOFPose)
    created: list[Simulator] = []

    def make_simulator(cfg: Configuration) -> Simulator:
        created.append(Simulator(cfg, semantic=semantic_annotation))
        return created[-1]

    return SimpleNamespace(
        created=created, SimulatorConfiguration=SimulatorConfiguration, CameraSensorSpec=CameraSensorSpec,
        SensorType=SimpleNamespace(COLOR="COLOR", DEPTH="DEPTH", SEMANTIC="SEMANTIC"),
        Configuration=Configuration, NavMeshSettings=NavMeshSettings, ShortestPath=ShortestPath,
        MultiGoalShortestPath=MultiGoalShortestPath, agent=agent,
        Simulator=make_simulator,
        utils=SimpleNamespace(common=common), _common=common,
    )


def install(monkeypatch: Any, *, semantic_annotation: bool = True) -> SimpleNamespace:
    """Put the fake into ``sys.modules`` for the duration of a test."""
    import sys

    hs = fake_module(semantic_annotation=semantic_annotation)
    monkeypatch.setitem(sys.modules, "habitat_sim", hs)
    monkeypatch.setitem(sys.modules, "habitat_sim.agent", hs.agent)
    monkeypatch.setitem(sys.modules, "habitat_sim.utils", hs.utils)
    monkeypatch.setitem(sys.modules, "habitat_sim.utils.common", hs._common)
    return hs
