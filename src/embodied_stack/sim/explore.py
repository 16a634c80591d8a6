"""Frontier-based exploration: the robot maps what its depth camera sees and drives to the edge of
the known (Yamauchi 1997), so it gathers views of a place it has no map of.

The robot builds its own occupancy grid from the frames (never from the scene file): depth pixels
are back-projected to ``map`` points; points on the floor mark their cell free, points between
:attr:`ExploreConfig.obstacle_min_height_m` and the robot's height mark their cell occupied, and
the cells a ray crosses before it ends are free (occupied evidence always wins, since the world is
static). Each plan takes the nearest frontier cluster (known-free cells next to unknown ones),
reached through known-free cells at least the robot radius (plus a margin) from any occupied
cell, using the grid Dijkstra of :class:`~embodied_stack.sim.navmap.NavMap`, and the robot
follows the path with discrete actions through any :class:`~embodied_stack.sim.env.Env`. It
starts with a 360 degree spin and stops when no reachable frontier is left or the step budget is
spent. Coverage is the fraction of the true navigable area (the simulator's NavMap, the component
of the start) that the robot's map holds as free.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from embodied_stack.sim.env import Env
from embodied_stack.sim.frontiers import Frontier, PlanOptions, plan_options
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.occupancy import OccupancyGrid
from embodied_stack.types import Action, Frame, Pose2D
from embodied_stack.types.geometry import wrap_angle

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExploreConfig:
    """Settings of the explorer.

    ``resolution_m``/``map_size_m``: the robot's own grid (a square window centred on the start).
    ``camera_height_m``: the camera's height above the floor (the floor is taken at the camera
    height below the first frame's camera). Points higher than ``obstacle_min_height_m`` and up
    to ``agent_height_m`` above the floor are obstacles; ``max_range_m`` caps the depth used for
    mapping; about ``max_rays`` depth pixels per frame are used. Planning keeps
    ``agent_radius_m + inflation_margin_m`` from occupied cells; frontier clusters smaller than
    ``min_frontier_cells`` are ignored. ``turn_angle_deg`` is the env's turn step (measured from
    the first turn when it differs). The plan is recomputed every ``replan_every`` actions.
    Frontiers given up on are dropped; when nothing else is left, the dropped ones are tried
    again from where the robot then stands, up to ``blacklist_retries`` times.
    """

    resolution_m: float = 0.1
    map_size_m: float = 40.0
    camera_height_m: float = 0.88
    agent_radius_m: float = 0.18
    agent_height_m: float = 1.0
    obstacle_min_height_m: float = 0.1
    inflation_margin_m: float = 0.05
    max_range_m: float = 5.0
    max_rays: int = 3000
    min_frontier_cells: int = 3
    lookahead_m: float = 0.5
    goal_tolerance_m: float = 0.3
    turn_angle_deg: float = 30.0
    replan_every: int = 3
    max_steps: int = 1000
    initial_spin: bool = True
    blacklist_retries: int = 2

    def __post_init__(self) -> None:
        positive = ("resolution_m", "map_size_m", "camera_height_m", "agent_height_m", "max_range_m",
                    "lookahead_m", "goal_tolerance_m", "turn_angle_deg")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"ExploreConfig.{name} must be a number > 0, got {value!r}")
        for name in ("agent_radius_m", "obstacle_min_height_m", "inflation_margin_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"ExploreConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if not (isinstance(self.blacklist_retries, int) and self.blacklist_retries >= 0):
            raise ValueError(f"ExploreConfig.blacklist_retries must be an integer >= 0, got {self.blacklist_retries!r}")
        for name in ("max_rays", "min_frontier_cells", "replan_every", "max_steps"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"ExploreConfig.{name} must be an integer >= 1, got {value!r}")
        if self.obstacle_min_height_m >= self.agent_height_m:
            raise ValueError(f"ExploreConfig.obstacle_min_height_m ({self.obstacle_min_height_m}) must be below "
                             f"agent_height_m ({self.agent_height_m})")


@dataclass
class ExplorationResult:
    """What an exploration run produced.

    ``trajectory``: the pose after each action (the first entry is the start). ``frames``: the
    frames, when kept. ``coverage``: fraction of the true navigable area (the start's component)
    that the robot's map holds as free, NaN when no ground-truth map was available.
    ``stop_reason``: ``"no_frontier"`` or ``"max_steps"``.
    """

    trajectory: list[Pose2D]
    grid: OccupancyGrid
    coverage: float
    steps: int
    collisions: int
    stop_reason: str
    frames: list[Frame] = field(default_factory=list)


@dataclass
class _Plan:
    path: np.ndarray
    target: Frontier
    age: int = 0


Chooser = Callable[[Pose2D, PlanOptions], "Frontier | None"]
"""Picks where to go next from the options (None: nothing worth visiting)."""


def nearest_frontier(_pose: Pose2D, options: PlanOptions) -> Frontier | None:
    """The default choice (Yamauchi): the frontier with the shortest path."""
    return min(options.frontiers, key=lambda f: f.distance_m, default=None)


class FrontierExplorer:
    """Drives an :class:`Env` to explore; see the module docstring. One instance per run.

    ``choose`` picks the next target from the reachable frontiers (default: the nearest one);
    a searcher passes one that ranks them, or returns a place (:meth:`PlanOptions.place`).
    ``on_done(target, arrived)`` hears when a target is reached or given up. ``grid``
    continues a map the robot already has (e.g. from an earlier survey) instead of a blank one.
    """

    def __init__(self, env: Env, config: ExploreConfig | None = None, *, choose: Chooser | None = None,
                 on_done: Callable[[Frontier, bool], None] | None = None, grid: OccupancyGrid | None = None) -> None:
        self.env = env
        self.config = config if config is not None else ExploreConfig()
        self.choose: Chooser = choose or nearest_frontier
        self.on_done = on_done
        self.grid: OccupancyGrid | None = grid
        self._floor_z = 0.0
        self._turn_rad = math.radians(self.config.turn_angle_deg)
        self._blacklist: np.ndarray | None = None

    def run(
        self,
        start: Pose2D | None = None,
        *,
        on_frame: Callable[[Frame], None] | None = None,
        keep_frames: bool = False,
        progress: Callable[[int, int], None] | None = None,
        truth: NavMap | None = None,
        reset: bool = True,
        stop: Callable[[], bool] | None = None,
    ) -> ExplorationResult:
        """Reset the env (at ``start`` or its default) and explore.

        ``on_frame`` sees every frame as it arrives (perceive on the fly); ``keep_frames`` also
        returns them all. ``progress(steps, max_steps)`` is called after each action. ``truth``
        (default: the env's ``navmap`` attribute, if any) gives the coverage figure. With
        ``reset=False`` the robot goes on from where it stands (``start`` is ignored);
        ``stop()`` is asked after every action and ends the run (``stop_reason`` "stopped").
        """
        cfg = self.config
        frame = self.env.reset(start) if reset else self.env.render()
        self._floor_z = float(frame.camera_pose[2, 3]) - cfg.camera_height_m
        if self.grid is None:
            self.grid = OccupancyGrid(frame.agent_pose.xy, cfg.map_size_m, cfg.resolution_m)
        grid = self.grid
        self._blacklist = np.zeros(grid.shape, dtype=bool)
        trajectory = [frame.agent_pose]
        frames: list[Frame] = []
        steps = collisions = 0
        stopped = False

        def observe(f: Frame) -> None:
            grid.integrate(f, self._floor_z, obstacle_min_height_m=cfg.obstacle_min_height_m,
                           agent_height_m=cfg.agent_height_m, max_range_m=cfg.max_range_m, max_rays=cfg.max_rays)
            if on_frame is not None:
                on_frame(f)
            if keep_frames:
                frames.append(f)

        def act(action: Action) -> Frame:
            nonlocal steps, collisions, stopped
            before = self.env.agent_pose
            result = self.env.step(action)
            steps += 1
            if result.collided:
                collisions += 1
                self._bump(before)
            trajectory.append(result.frame.agent_pose)
            observe(result.frame)
            if progress is not None:
                progress(steps, cfg.max_steps)
            stopped = stopped or (stop is not None and stop())
            return result.frame

        def spin() -> None:
            for _ in range(int(math.ceil(2.0 * math.pi / self._turn_rad - 1e-6))):
                if steps < cfg.max_steps and not stopped:
                    act(Action.TURN_LEFT)

        observe(frame)
        stopped = stop is not None and stop()
        if cfg.initial_spin and not stopped:
            before = frame.agent_pose.yaw
            frame = act(Action.TURN_LEFT)
            measured = abs(wrap_angle(frame.agent_pose.yaw - before))
            if measured > 1e-3:
                self._turn_rad = measured
            for _ in range(int(math.ceil(2.0 * math.pi / self._turn_rad - 1e-6)) - 1):
                if steps >= cfg.max_steps or stopped:
                    break
                act(Action.TURN_LEFT)
        stop_reason = "max_steps"
        plan: _Plan | None = None
        last_arrival: np.ndarray | None = None
        arrival_step = -1
        recovered = False
        retries = 0
        last_progress_xy, idle = self.env.agent_pose.xy, 0
        while steps < cfg.max_steps and not stopped:
            pose = self.env.agent_pose
            if plan is None or plan.age >= cfg.replan_every:
                plan = self._plan(pose)
                if plan is None and not recovered:
                    # look around once more before giving up: a spin refreshes the map nearby
                    recovered = True
                    spin()
                    continue
                if plan is None and retries < cfg.blacklist_retries and self._blacklist.any():
                    # frontiers dropped earlier may be reachable from here, now that the map grew
                    retries += 1
                    self._blacklist[:] = False
                    plan = self._plan(pose)
                if plan is None:
                    stop_reason = "no_frontier"
                    break
                recovered = False
            plan.age += 1
            action, arrived = self._next_action(pose, plan)
            if arrived:
                target = plan.target
                # seen from its goal, a frontier usually recedes; one that is chosen again from
                # the same spot (or right after another arrival, without a move in between)
                # cannot be observed from the free space we know, so drop it
                if target.is_frontier and last_arrival is not None and (
                        arrival_step == steps or np.hypot(*(plan.path[-1] - last_arrival)) <= cfg.goal_tolerance_m):
                    self._blacklist_cells(target.cluster)
                last_arrival, arrival_step, plan = target.goal, steps, None
                if target.spin:
                    spin()
                if self.on_done is not None:
                    self.on_done(target, True)
                continue
            frame = act(action)
            moved = np.hypot(*(frame.agent_pose.xy - last_progress_xy))
            if moved > cfg.resolution_m:
                last_progress_xy, idle = frame.agent_pose.xy, 0
            else:
                idle += 1
            if idle > 2 * math.ceil(2.0 * math.pi / self._turn_rad):
                logger.debug("explore: no progress toward %s; giving up on it", plan.target.look_at)
                self._blacklist_cells(plan.target.cluster)
                if self.on_done is not None:
                    self.on_done(plan.target, False)
                plan, idle = None, 0
        if stopped:
            stop_reason = "stopped"
        if truth is None:
            truth = getattr(self.env, "navmap", None)
        coverage = exploration_coverage(grid, truth, trajectory[0]) if truth is not None else math.nan
        return ExplorationResult(trajectory=trajectory, grid=grid, coverage=coverage, steps=steps,
                                 collisions=collisions, stop_reason=stop_reason, frames=frames)

    # ---------------------------------------------------------------- planning
    def options(self, pose: Pose2D | None = None) -> PlanOptions:
        """The frontiers (and :meth:`PlanOptions.place`) reachable from ``pose`` on the robot's map.

        Uses the full clearance (radius + margin); when that leaves no frontier in reach (the
        robot boxed in by its own conservative map, e.g. after bumping), half a cell less than
        the radius, letting the true collisions decide.
        """
        cfg = self.config
        assert self.grid is not None and self._blacklist is not None  # set by run()
        pose = pose if pose is not None else self.env.agent_pose
        options = PlanOptions([], None, None)
        tight = cfg.agent_radius_m - 0.5 * self.grid.resolution_m
        grid, blacklist = self.grid, self._blacklist

        def relaxed() -> PlanOptions:
            return plan_options(grid, pose.xy, clearance_m=tight, agent_radius_m=cfg.agent_radius_m,
                                min_frontier_cells=cfg.min_frontier_cells, blacklist=blacklist)

        for clearance in (cfg.agent_radius_m + cfg.inflation_margin_m, tight):
            options = plan_options(self.grid, pose.xy, clearance_m=clearance, agent_radius_m=cfg.agent_radius_m,
                                   min_frontier_cells=cfg.min_frontier_cells, blacklist=self._blacklist)
            if options.frontiers:
                if clearance > tight:
                    options.relaxed = relaxed  # places out of reach at full clearance: try a tighter one
                return options
        return options

    def _plan(self, pose: Pose2D) -> _Plan | None:
        """The chosen target (nearest frontier by default) and a grid path to it."""
        options = self.options(pose)
        target = self.choose(pose, options)
        if target is None:
            return None
        nav = target.nav if target.nav is not None else options.nav
        assert nav is not None  # a target implies a traversable map
        path = nav.grid_path(target.goal, pose.xy[None])[::-1]  # the field from the robot is cached
        if len(path) == 0:
            path = target.goal[None]
        return _Plan(path=path, target=target)

    def _next_action(self, pose: Pose2D, plan: _Plan) -> tuple[Action, bool]:
        """The action toward the plan's look-ahead point, or toward the frontier once there;
        ``arrived`` once the robot stands at the goal facing the frontier."""
        cfg = self.config
        to_goal = float(np.hypot(*(plan.path[-1] - pose.xy)))
        if to_goal <= cfg.goal_tolerance_m:
            target = plan.target.look_at
        else:
            along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(plan.path, axis=0), axis=1))])
            here = int(np.argmin(np.linalg.norm(plan.path - pose.xy, axis=1)))
            ahead = np.flatnonzero(along >= along[here] + cfg.lookahead_m)
            target = plan.path[ahead[0]] if len(ahead) else plan.path[-1]
        error = wrap_angle(math.atan2(target[1] - pose.y, target[0] - pose.x) - pose.yaw)
        if abs(error) > 0.5 * self._turn_rad + 1e-6:
            return (Action.TURN_LEFT if error > 0 else Action.TURN_RIGHT), False
        if to_goal <= cfg.goal_tolerance_m:
            return Action.STOP, True
        return Action.MOVE_FORWARD, False

    def _bump(self, pose: Pose2D) -> None:
        """A blocked move: mark the cell just ahead of the robot's body occupied (a bumper)."""
        assert self.grid is not None
        reach = self.config.agent_radius_m + 0.5 * self.grid.resolution_m
        ahead = pose.xy + reach * np.array([math.cos(pose.yaw), math.sin(pose.yaw)])
        self.grid.mark(ahead[None], occupied=True)

    def _blacklist_cells(self, cells: np.ndarray) -> None:
        assert self._blacklist is not None
        if len(cells) == 0:
            return
        mask = np.zeros_like(self._blacklist)
        mask[cells[:, 0], cells[:, 1]] = True
        self._blacklist |= ndimage.binary_dilation(mask, iterations=2)


def explore(
    env: Env,
    config: ExploreConfig | None = None,
    *,
    start: Pose2D | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    keep_frames: bool = False,
    progress: Callable[[int, int], None] | None = None,
    truth: NavMap | None = None,
) -> ExplorationResult:
    """Explore ``env`` from ``start`` with frontier exploration (see :class:`FrontierExplorer`)."""
    return FrontierExplorer(env, config).run(start, on_frame=on_frame, keep_frames=keep_frames,
                                             progress=progress, truth=truth)


def exploration_coverage(grid: OccupancyGrid, truth: NavMap, start: Pose2D) -> float:
    """Fraction of the true navigable cells connected to ``start`` whose centre lies in a cell
    the robot's map holds as free."""
    component = truth.reachable_from(start.xy[None])
    cells = np.argwhere(component)
    if len(cells) == 0:
        return math.nan
    rows, cols, inside = grid.cells_of(truth.grid_to_world(cells))
    seen = np.zeros(len(cells), dtype=bool)
    seen[inside] = grid.known_free()[rows[inside], cols[inside]]
    return float(seen.mean())
