"""``HabitatEnv``: the :class:`~embodied_stack.sim.env.Env` interface over habitat_sim 0.3.x.

Written against habitat-sim 0.3.x's Python API as its source defines it (habitat-sim cannot be
installed on the machines this project is built on: the tests drive this class through a fake
that follows that API, and a ``habitat``-marked test runs it on a real install). Everything
leaving this class is in ``map`` (z up, FORMATS.md); Habitat's y-up coordinates stay inside.

- Rendering: colour (RGBA -> RGB), depth (planar z-depth in metres, 0 where nothing was hit) and
  semantic ids (``uint32``; the scene's annotations, ``sim.semantic_scene.objects``, give each id
  a category through ``obj.category.name()``). Asking for the semantic sensor on a scene without
  annotations is refused at construction with a clear error. One render per step: ``sim.step``
  already returns the observations, which are used; STOP renders nothing.
- Motion: discrete actions go through ``sim.step(name)``, whose observations carry the collision
  flag as ``obs["collided"]``; velocity commands are integrated here, each sub-step filtered by
  ``pathfinder.try_step`` (slides along the navmesh boundary as habitat-lab's velocity control).
- Camera height: the navmesh surface lies up to a voxel (``navmesh_cell_height_m``) above the
  floor, so the sensors are placed ``camera_height_m`` above the *floor* (the room's floor of the
  ``source_scene`` when known, else the navmesh surface) through ``Agent.set_state`` with
  explicit ``sensor_states`` (``infer_sensor_states=False``).
- Starts: random starts are drawn on the largest navmesh island (``pathfinder.num_islands``,
  ``island_area``, ``get_random_navigable_point(island_index=...)``), and given starts are snapped
  to it (``snap_point(point, island_index)``), never onto a bed or table top.
- Geodesic distance: ``pathfinder.find_path`` on a ``ShortestPath`` or ``MultiGoalShortestPath``
  (``geodesic_distance``; inf when no path). Every pathfinder call first checks
  ``pathfinder.is_loaded``: without a navmesh they crash.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from embodied_stack._deps import require
from embodied_stack.sim.errors import NavigationError, SimError
from embodied_stack.sim.habitat.config import (
    HabitatConfig,
    build_habitat_configuration,
    build_navmesh_settings,
    habitat_spec,
)
from embodied_stack.sim.habitat.convert import (
    habitat_from_map,
    habitat_quaternion_from_yaw,
    map_from_habitat,
    optical_pose_from_habitat_sensor,
    pose2d_from_habitat,
)
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, load_scene
from embodied_stack.types import Action, CameraIntrinsics, Frame, InstanceInfo, Pose2D, StepResult

_SNAP_LIMIT_M = 0.5
_VELOCITY_SUBSTEP_M = 0.05


@dataclass(frozen=True)
class HabitatObject:
    """A semantically annotated object, in ``map``: axis-aligned box ``center``/``size`` (metres)."""

    instance_id: int
    object_id: str
    category: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    region: str | None = None


class HabitatEnv:
    """The Env interface over one habitat_sim scene (see the module docstring)."""

    def __init__(self, config: HabitatConfig) -> None:
        hs = require("habitat_sim")
        self._hs = hs
        self._common = importlib.import_module("habitat_sim.utils.common")
        self.config = config
        self._spec = habitat_spec(config)
        self.source_scene: Scene | None = load_scene(config.source_scene) if config.source_scene else None
        self._navmap: NavMap | None = None
        self._sim = hs.Simulator(build_habitat_configuration(self._spec, hs))
        try:
            self._setup()
        except BaseException:
            self._sim.close()
            raise
        self._time_s = 0.0
        self._last: Frame | None = None

    def _setup(self) -> None:
        config, hs = self.config, self._hs
        if config.recompute_navmesh:
            self._sim.recompute_navmesh(self._sim.pathfinder, build_navmesh_settings(self._spec, hs))
        self._pathfinder = self._sim.pathfinder
        if not self._pathfinder.is_loaded:
            raise SimError(f"habitat scene {config.scene!r} has no navmesh (pathfinder not loaded); "
                           "set recompute_navmesh: true or ship the scene's .navmesh next to it")
        self._pathfinder.seed(config.seed)
        areas = [float(self._pathfinder.island_area(i)) for i in range(int(self._pathfinder.num_islands))]
        self._island = int(np.argmax(areas)) if areas else -1
        self._rng = np.random.default_rng(config.seed)
        self._intrinsics = CameraIntrinsics.from_hfov(config.width, config.height, math.radians(config.hfov_deg))
        self._objects = _semantic_objects(self._sim.semantic_scene)
        if config.semantic and not self._objects:
            raise SimError(f"habitat scene {config.scene!r} has no semantic annotation (sim.semantic_scene has no "
                           "objects), but the semantic sensor was asked for: point scene_dataset_config at a dataset "
                           "config that attaches one (HM3D: hm3d_annotated_basis.scene_dataset_config.json; "
                           "exported scenes: the *.scene_dataset_config.json written next to the .glb), "
                           "or set semantic: false")
        if self.source_scene is not None:
            scene = self.source_scene
            self._objects = [HabitatObject(i, o.id, o.category, o.center, o.size, o.room)
                             for i, o in enumerate(scene.objects)]
        self._categories = sorted({o.category for o in self._objects})
        index = {c: i for i, c in enumerate(self._categories)}
        size = max((o.instance_id for o in self._objects), default=-1) + 1
        self._category_lut = np.full(size + 1, -1, dtype=np.int32)
        self._instance_lut = np.full(size + 1, -1, dtype=np.int32)
        for o in self._objects:
            self._category_lut[o.instance_id] = index[o.category]
            self._instance_lut[o.instance_id] = o.instance_id
        self._instances = {o.instance_id: InstanceInfo(o.instance_id, o.object_id, o.category, o.region)
                           for o in self._objects}

    # ------------------------------------------------------------------ Env properties
    @property
    def intrinsics(self) -> CameraIntrinsics:
        return self._intrinsics

    @property
    def agent_pose(self) -> Pose2D:
        state = self._agent.get_state()
        return pose2d_from_habitat(np.asarray(state.position), self._common.quat_to_coeffs(state.rotation))

    @property
    def categories(self) -> list[str]:
        return list(self._categories)

    @property
    def instances(self) -> dict[int, InstanceInfo]:
        return dict(self._instances)

    @property
    def objects(self) -> list[HabitatObject]:
        """The annotated objects (boxes in ``map``), e.g. to place episode goals."""
        return list(self._objects)

    @property
    def scene(self) -> Scene | None:
        """The scene/1 scene this habitat scene was exported from (``source_scene``), else None."""
        return self.source_scene

    @property
    def navmap(self) -> NavMap | None:
        """The embedded simulator's navigable map of :attr:`scene` (goal regions, the oracle's
        plans), so goal regions are the same points on both simulators; None without a source scene. Habitat's own collisions come from its navmesh."""
        if self.source_scene is not None and self._navmap is None:
            from embodied_stack.sim.habitat.agreement import scene_navmap

            self._navmap = scene_navmap(self.source_scene)  # the embedded simulator's: same goal regions
        return self._navmap

    @property
    def simulator(self) -> Any:
        """The underlying ``habitat_sim.Simulator`` (y up!)."""
        return self._sim

    @property
    def largest_island(self) -> int:
        """Index of the navmesh island with the largest area (where starts are drawn)."""
        return self._island

    @property
    def _agent(self) -> Any:
        return self._sim.get_agent(0)

    # ------------------------------------------------------------------ Env methods
    def reset(self, start: Pose2D | None = None) -> Frame:
        """Place the agent at ``start`` (snapped onto the largest navmesh island) or at a seeded
        random point of that island with a random yaw; render once."""
        if start is None:
            point = self._require_navmesh().get_random_navigable_point(island_index=self._island)
            position = np.asarray(point, dtype=np.float64)
            if not np.all(np.isfinite(position)):
                raise NavigationError(f"no navigable point found on the largest island of {self.config.scene!r}")
            yaw = float(self._rng.uniform(-math.pi, math.pi))
        else:
            position = self._snap(np.array([start.x, start.y]), island=self._island)
            yaw = start.yaw
        self._set_state(position, yaw)
        self._time_s = 0.0
        return self.render()

    def step(self, action: Action) -> StepResult:
        action = Action(action)
        before = self.agent_pose
        self._time_s += self.config.action_duration_s
        if action == Action.STOP:
            frame = self._last if self._last is not None else self.render()
            return StepResult(frame=frame, collided=False, done=True, info={"time_s": self._time_s, "moved_m": 0.0})
        obs = self._sim.step(action.wire_name)
        return self._result(before, bool(obs["collided"]), self._frame(obs), done=False)

    def step_velocity(self, v_mps: float, omega_radps: float, dt_s: float) -> StepResult:
        """Unicycle integration in ``map`` with each sub-step filtered by ``pathfinder.try_step``."""
        if dt_s < 0 or not all(math.isfinite(x) for x in (v_mps, omega_radps, dt_s)):
            raise ValueError(f"velocity command must be finite with dt >= 0, got v={v_mps}, omega={omega_radps}, dt={dt_s}")
        before = self.agent_pose
        position = np.asarray(self._agent.get_state().position, dtype=np.float64)
        yaw = before.yaw
        n = max(1, math.ceil(abs(v_mps) * dt_s / _VELOCITY_SUBSTEP_M), math.ceil(abs(omega_radps) * dt_s / math.radians(5)))
        h = dt_s / n
        collided = False
        for _ in range(n):
            heading = yaw + 0.5 * omega_radps * h
            if v_mps != 0.0:
                step = v_mps * h * np.array([math.cos(heading), math.sin(heading), 0.0])
                target = position + habitat_from_map(step)
                reached = np.asarray(self._require_navmesh().try_step(position.astype(np.float32),
                                                                      target.astype(np.float32)), dtype=np.float64)
                collided |= bool(np.linalg.norm((reached - target)[[0, 2]]) > 1e-3)
                position = reached
            yaw += omega_radps * h
        self._set_state(position, yaw)
        self._time_s += dt_s
        return self._result(before, collided, self.render(), done=False)

    def render(self) -> Frame:
        return self._frame(self._sim.get_sensor_observations())

    def geodesic_distance(self, start_xy: np.ndarray, goal_xy: np.ndarray) -> float:
        """Navmesh shortest-path length in metres between two ``map`` points on the agent's floor
        (``goal_xy`` (M, 2) means the nearest of several goals); ``inf`` when unreachable."""
        pathfinder = self._require_navmesh()
        goals = np.atleast_2d(np.asarray(goal_xy, dtype=np.float64))
        start = self._snap(np.asarray(start_xy, dtype=np.float64).reshape(2), strict=False).astype(np.float32)
        ends = [self._snap(g, strict=False).astype(np.float32) for g in goals]
        if len(ends) == 1:
            path = self._hs.ShortestPath()
            path.requested_end = ends[0]
        else:
            path = self._hs.MultiGoalShortestPath()
            path.requested_ends = ends
        path.requested_start = start
        found = pathfinder.find_path(path)
        return float(path.geodesic_distance) if found else math.inf

    def close(self) -> None:
        self._sim.close()

    # ------------------------------------------------------------------ internals
    def _require_navmesh(self) -> Any:
        if not self._pathfinder.is_loaded:
            raise SimError("habitat pathfinder has no navmesh loaded; pathfinder queries would crash")
        return self._pathfinder

    def _snap(self, xy: np.ndarray, *, strict: bool = True, island: int = -1) -> np.ndarray:
        """A ``map`` (x, y) on the agent's current floor -> the nearest navmesh point (Habitat frame)."""
        floor_h = float(np.asarray(self._agent.get_state().position)[1])
        query = habitat_from_map(np.array([xy[0], xy[1], floor_h]))
        query[1] = floor_h
        snapped = np.asarray(self._require_navmesh().snap_point(query.astype(np.float32), island_index=island),
                             dtype=np.float64)
        if strict and not np.all(np.isfinite(snapped)):
            raise NavigationError(f"no navigable point near ({xy[0]:.3f}, {xy[1]:.3f}) in habitat scene {self.config.scene!r}")
        gap = float(np.linalg.norm((snapped - query)[[0, 2]]))
        if strict and gap > _SNAP_LIMIT_M:
            raise NavigationError(f"({xy[0]:.3f}, {xy[1]:.3f}) is {gap:.2f} m from the navmesh of "
                                  f"{self.config.scene!r}; expected a navigable point")
        return snapped

    def _floor_height(self, position_h: np.ndarray) -> float:
        """Habitat y of the floor under a navmesh point: the source scene's room floor, else the
        navmesh surface itself (at most a voxel above the floor)."""
        if self.source_scene is not None:
            p = map_from_habitat(position_h)
            room = self.source_scene.room_at(p[None, :2])[0]
            if room is not None:
                return float(self.source_scene.room_by_id(room).floor_z)
        return float(position_h[1])

    def _set_state(self, position_h: np.ndarray, yaw: float) -> None:
        """Agent at a navmesh point with every sensor ``camera_height_m`` above the floor there."""
        agent_mod = self._hs.agent
        rotation = self._common.quat_from_coeffs(habitat_quaternion_from_yaw(yaw))
        position = np.asarray(position_h, dtype=np.float64)
        sensor_position = position.copy()
        sensor_position[1] = self._floor_height(position) + self.config.camera_height_m
        state = agent_mod.AgentState(
            position=position.astype(np.float32), rotation=rotation,
            sensor_states={s["uuid"]: agent_mod.SixDOFPose(position=sensor_position.astype(np.float32), rotation=rotation)
                           for s in self._spec["sensors"]})
        self._agent.set_state(state, reset_sensors=False, infer_sensor_states=False)

    def _result(self, before: Pose2D, collided: bool, frame: Frame, *, done: bool) -> StepResult:
        moved = math.hypot(frame.agent_pose.x - before.x, frame.agent_pose.y - before.y)
        return StepResult(frame=frame, collided=collided, done=done, info={"time_s": self._time_s, "moved_m": moved})

    def _frame(self, obs: dict[str, Any]) -> Frame:
        """A Frame from one set of observations (copied: habitat_sim reuses its buffers)."""
        cfg = self.config
        depth = np.asarray(obs["depth"], dtype=np.float32).reshape(cfg.height, cfg.width)
        if cfg.clamp_depth:
            depth = np.clip(depth, cfg.min_depth_m, cfg.max_depth_m)
        else:
            depth = np.where((depth >= cfg.min_depth_m) & (depth <= cfg.max_depth_m), depth, np.float32(0.0))
        instance = semantic = None
        if "semantic" in obs:
            ids = np.minimum(np.asarray(obs["semantic"]).astype(np.int64), len(self._instance_lut) - 1)
            instance, semantic = self._instance_lut[ids], self._category_lut[ids]
        state = self._agent.get_state()
        sensor = state.sensor_states["color"]
        camera_pose = optical_pose_from_habitat_sensor(np.asarray(sensor.position),
                                                       self._common.quat_to_coeffs(sensor.rotation))
        agent_pose = pose2d_from_habitat(np.asarray(state.position), self._common.quat_to_coeffs(state.rotation))
        frame = Frame(rgb=np.array(np.asarray(obs["color"])[..., :3], dtype=np.uint8), depth=depth,
                      intrinsics=self._intrinsics, camera_pose=camera_pose, agent_pose=agent_pose,
                      timestamp=self._time_s, instance=instance, semantic=semantic)
        self._last = frame
        return frame


def _semantic_objects(semantic_scene: Any) -> list[HabitatObject]:
    """Annotated objects of ``sim.semantic_scene`` (none when the scene has no annotations)."""
    out: list[HabitatObject] = []
    for obj in getattr(semantic_scene, "objects", None) or []:
        if obj is None or obj.category is None:
            continue
        sid = int(obj.semantic_id)
        if sid < 0:
            continue
        center = map_from_habitat(np.asarray(obj.aabb.center, dtype=np.float64))
        sx, sy, sz = (float(v) for v in np.asarray(obj.aabb.sizes, dtype=np.float64))
        region = getattr(obj, "region", None)
        out.append(HabitatObject(sid, str(obj.id), obj.category.name().strip().lower(),
                                 (float(center[0]), float(center[1]), float(center[2])), (sx, sz, sy),
                                 str(region.id) if region is not None else None))
    return out
