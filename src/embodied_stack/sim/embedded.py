"""The embedded simulator: a scene/1 file, ray-cast rendering and a round robot on a navigable map.

:class:`EmbeddedSim` implements :class:`~embodied_stack.sim.env.Env` with pip-installable parts
only (open3d for rendering), so CI and users without habitat-sim run the same episodes.
Motion (discrete Habitat actions and unicycle velocity commands, with Habitat-like sliding along
walls) comes from :mod:`embodied_stack.sim.motion`, shared with the oracle's kinematic checks;
rendering from :mod:`embodied_stack.sim.render`. Time is simulated: a discrete action advances
the clock by :attr:`SimConfig.action_duration_s`, a velocity command by its ``dt_s``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.errors import FormatError
from embodied_stack.sim.errors import NavigationError
from embodied_stack.sim.mesh import build_scene_mesh
from embodied_stack.sim.motion import integrate_velocity, move_agent
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.render import Renderer, camera_pose_matrix
from embodied_stack.sim.scene import Scene
from embodied_stack.types import Action, CameraIntrinsics, Frame, InstanceInfo, Pose2D, StepResult

logger = logging.getLogger(__name__)

START_SNAP_LIMIT_M = 0.5
"""A reset pose off the navigable map is moved to the nearest free cell when it is this close."""


@dataclass(frozen=True)
class SimConfig:
    """Settings of the embedded simulator (defaults: Habitat ObjectNav, RESEARCH.md).

    Camera: ``width`` x ``height`` pixels, horizontal field of view ``hfov_deg``, optical centre
    ``camera_height_m`` above the floor, tilted down by ``camera_pitch_deg``. Depth is planar
    z-depth in metres; readings outside ``[min_depth_m, max_depth_m]`` are 0 (no return) or,
    with ``clamp_depth``, clamped to the range as Habitat's depth sensor does (ObjectNav uses
    0.5-5 m). Agent: a cylinder of ``agent_radius_m`` and ``agent_height_m`` (objects whose box
    bottom is above it do not block); ``forward_step_m`` and ``turn_angle_deg`` are the discrete
    action sizes. ``navmap_resolution_m`` is the collision grid's cell size (<= 0.05 m keeps the
    Habitat-like accuracy). ``action_duration_s`` is the simulated time one discrete action
    takes. ``render_threads`` are Embree threads (0 = all cores); ``adaptive_render`` casts every
    second row and column and fills flat 2x2 cells analytically (2-3x faster; it differs from the
    exact render only for features under two pixels across, measured at ~1e-5 of the pixels by
    ``bench sim``; see :mod:`~embodied_stack.sim.render`), ``False`` casts every pixel.
    ``seed`` drives default start poses.
    """

    width: int = 640
    height: int = 480
    hfov_deg: float = 79.0
    camera_height_m: float = 0.88
    camera_pitch_deg: float = 0.0
    agent_radius_m: float = 0.18
    agent_height_m: float = 1.0
    forward_step_m: float = 0.25
    turn_angle_deg: float = 30.0
    min_depth_m: float = 0.0
    max_depth_m: float = 10.0
    clamp_depth: bool = False
    navmap_resolution_m: float = 0.05
    action_duration_s: float = 0.5
    render_threads: int = 0
    adaptive_render: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                ok, expected = isinstance(value, bool), "true or false"
            elif f.type == "int":
                ok, expected = _is_int(value), "an integer"
            else:
                ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
                expected = "a finite number"
            if not ok:
                raise ValueError(f"SimConfig.{f.name} must be {expected}, got {value!r}")
        checks: list[tuple[str, bool, str]] = [
            ("width", self.width > 0, "> 0 pixels"),
            ("height", self.height > 0, "> 0 pixels"),
            ("hfov_deg", 0.0 < self.hfov_deg < 180.0, "in (0, 180) degrees"),
            ("camera_height_m", self.camera_height_m > 0.0, "> 0 metres"),
            ("camera_pitch_deg", -90.0 < self.camera_pitch_deg < 90.0, "in (-90, 90) degrees"),
            ("agent_radius_m", self.agent_radius_m >= 0.0, ">= 0 metres"),
            ("agent_height_m", self.agent_height_m > 0.0, "> 0 metres"),
            ("forward_step_m", self.forward_step_m > 0.0, "> 0 metres"),
            ("turn_angle_deg", 0.0 < self.turn_angle_deg <= 180.0, "in (0, 180] degrees"),
            ("min_depth_m", 0.0 <= self.min_depth_m < self.max_depth_m, ">= 0 and below max_depth_m"),
            ("max_depth_m", self.max_depth_m > 0.0, "> 0 metres"),
            ("navmap_resolution_m", 0.0 < self.navmap_resolution_m <= 0.5, "in (0, 0.5] metres"),
            ("action_duration_s", self.action_duration_s > 0.0, "> 0 seconds"),
            ("render_threads", self.render_threads >= 0, ">= 0 (0 = all cores)"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"SimConfig.{name} must be {expected}, got {getattr(self, name)!r}")

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return CameraIntrinsics.from_hfov(self.width, self.height, math.radians(self.hfov_deg))

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, path: str | None = None) -> SimConfig:
        """Build from a mapping; unknown keys and bad values raise :class:`FormatError`."""
        if not isinstance(data, dict):
            raise FormatError(f"expected a mapping of SimConfig fields, got {type(data).__name__}", path=path)
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise FormatError(f"unknown SimConfig field; expected one of {', '.join(sorted(known))}",
                                  path=path, field=str(key))
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise FormatError(str(err), path=path) from err

    @classmethod
    def from_yaml(cls, path: str | Path) -> SimConfig:
        """Read a YAML mapping of fields (a top-level ``sim:`` key may hold them)."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise FormatError(f"cannot read ({err.strerror})", path=str(path)) from err
        except yaml.YAMLError as err:
            raise FormatError(f"not valid YAML ({err})", path=str(path)) from err
        if isinstance(data, dict) and set(data) == {"sim"}:
            data = data["sim"]
        return cls.from_dict(data if data is not None else {}, path=str(path))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class EmbeddedSim:
    """The embedded simulator over one scene (implements :class:`~embodied_stack.sim.env.Env`).

    Args:
        scene: the scene to simulate.
        config: camera, agent and rendering settings.
        navmap: a prebuilt navigable map for this scene and agent (built when omitted).

    The agent starts at a seeded random navigable pose; :meth:`reset` places it. ``instances`` maps an instance id (the index of the object
    in ``scene.objects``) to the object it renders; ``categories`` is the table ``Frame.semantic``
    indexes (the scene's sorted object categories).
    """

    def __init__(self, scene: Scene, config: SimConfig | None = None, *, navmap: NavMap | None = None) -> None:
        self.scene = scene
        self.config = config if config is not None else SimConfig()
        cfg = self.config
        self._navmap = navmap if navmap is not None else NavMap.from_scene(
            scene, resolution_m=cfg.navmap_resolution_m, agent_radius_m=cfg.agent_radius_m,
            agent_height_m=cfg.agent_height_m)
        mesh = build_scene_mesh(scene)
        self._renderer = Renderer(mesh, nthreads=cfg.render_threads, min_depth_m=cfg.min_depth_m,
                                  max_depth_m=cfg.max_depth_m, clamp_depth=cfg.clamp_depth,
                                  adaptive=cfg.adaptive_render)
        self._categories = list(mesh.categories)
        self._instances = {i: InstanceInfo(i, o.id, o.category, o.room) for i, o in enumerate(scene.objects)}
        self._intrinsics = cfg.intrinsics
        self._turn_rad = math.radians(cfg.turn_angle_deg)
        self._pitch_rad = math.radians(cfg.camera_pitch_deg)
        floors = {r.floor_z for r in scene.rooms}
        self._single_floor_z = floors.pop() if len(floors) == 1 else None
        self._rng = np.random.default_rng(cfg.seed)
        self._pose = self._random_start()
        self._time_s = 0.0
        self._steps = 0

    # ------------------------------------------------------------------ Env properties
    @property
    def intrinsics(self) -> CameraIntrinsics:
        return self._intrinsics

    @property
    def agent_pose(self) -> Pose2D:
        return self._pose

    @property
    def categories(self) -> list[str]:
        return list(self._categories)

    @property
    def instances(self) -> dict[int, InstanceInfo]:
        return dict(self._instances)

    @property
    def navmap(self) -> NavMap:
        return self._navmap

    @property
    def renderer(self) -> Renderer:
        return self._renderer

    @property
    def time_s(self) -> float:
        """Simulated seconds since the last reset."""
        return self._time_s

    @property
    def steps(self) -> int:
        """Actions and velocity commands applied since the last reset."""
        return self._steps

    # ------------------------------------------------------------------ Env methods
    def reset(self, start: Pose2D | None = None) -> Frame:
        """Place the agent at ``start`` (or a random navigable pose drawn from the seeded
        generator) on the main navigable component, zero the clock, and render.

        A ``start`` off the navigable map but within :data:`START_SNAP_LIMIT_M` of it is moved
        to the nearest free cell (with a warning); farther away it raises
        :class:`NavigationError`.
        """
        if start is None:
            start = self._random_start()
        elif not self._navmap.is_navigable(start.xy[None])[0]:
            near = self._navmap.nearest_navigable(start.xy[None], largest_component=False)[0]
            gap = float(np.hypot(*(near - start.xy))) if not np.isnan(near).any() else math.inf
            if gap > START_SNAP_LIMIT_M:
                raise NavigationError(
                    f"start ({start.x:.3f}, {start.y:.3f}) in scene {self.scene.name!r} is {gap:.2f} m from "
                    f"the navigable map; expected a navigable point (within {START_SNAP_LIMIT_M} m)")
            logger.warning("start (%.3f, %.3f) is not navigable; moved %.3f m to the nearest free cell",
                           start.x, start.y, gap)
            start = Pose2D(float(near[0]), float(near[1]), start.yaw)
        self._pose = start
        self._time_s = 0.0
        self._steps = 0
        return self.render()

    def step(self, action: Action) -> StepResult:
        """Apply one discrete action (Habitat semantics, with sliding) and render.

        ``done`` is True after ``STOP``. ``info`` holds ``time_s`` and ``moved_m``.
        """
        pose = self._pose
        action = Action(action)
        result = move_agent(self._navmap, pose, action, forward_step_m=self.config.forward_step_m,
                            turn_angle_rad=self._turn_rad)
        return self._advance(pose, result.pose, result.collided, self.config.action_duration_s,
                             done=action == Action.STOP)

    def step_velocity(self, v_mps: float, omega_radps: float, dt_s: float) -> StepResult:
        """Integrate a unicycle command (forward m/s, yaw rad/s) over ``dt_s`` seconds with
        collisions and sliding, advance the clock by ``dt_s`` and render."""
        pose = self._pose
        result = integrate_velocity(self._navmap, pose, float(v_mps), float(omega_radps), float(dt_s))
        return self._advance(pose, result.pose, result.collided, float(dt_s), done=False)

    def render(self) -> Frame:
        """Render the current pose without moving."""
        return self.render_at(self._pose)

    def render_at(self, pose: Pose2D) -> Frame:
        """Render from any pose (the agent does not move); ``timestamp`` is the current clock."""
        camera_pose = camera_pose_matrix(pose, self.config.camera_height_m, floor_z=self._floor_z(pose),
                                         pitch_rad=self._pitch_rad)
        out = self._renderer.render(self._intrinsics, camera_pose)
        return Frame(rgb=out.rgb, depth=out.depth, intrinsics=self._intrinsics, camera_pose=camera_pose,
                     agent_pose=pose, timestamp=self._time_s, instance=out.instance, semantic=out.semantic)

    def geodesic_distance(self, start_xy: np.ndarray, goal_xy: np.ndarray) -> float:
        """Navigable shortest-path length in metres (``inf`` when unreachable)."""
        return self._navmap.geodesic_distance(np.asarray(start_xy, dtype=np.float64),
                                              np.asarray(goal_xy, dtype=np.float64))

    def close(self) -> None:
        """Nothing to release (kept for the Env interface)."""

    # ------------------------------------------------------------------ internals
    def _advance(self, before: Pose2D, after: Pose2D, collided: bool, dt_s: float, *, done: bool) -> StepResult:
        self._pose = after
        self._time_s += dt_s
        self._steps += 1
        moved = math.hypot(after.x - before.x, after.y - before.y)
        return StepResult(frame=self.render(), collided=collided, done=done,
                          info={"time_s": self._time_s, "moved_m": moved})

    def _random_start(self) -> Pose2D:
        xy = self._navmap.sample_navigable(self._rng, 1)[0]
        return Pose2D(float(xy[0]), float(xy[1]), float(self._rng.uniform(-math.pi, math.pi)))

    def _floor_z(self, pose: Pose2D) -> float:
        if self._single_floor_z is not None:
            return self._single_floor_z
        room = self.scene.room_at(pose.xy[None])[0]
        return self.scene.room_by_id(room).floor_z if room is not None else min(r.floor_z for r in self.scene.rooms)
