"""Subgoals for the policy: a waypoint on a shortest path through the robot's own depth map.

The memory gives one target pose, often rooms away. The robot maps what its depth camera sees
(:class:`~embodied_stack.sim.occupancy.OccupancyGrid`: built from its own frames and camera
poses, never from the scene file) and plans to the target under the free-space assumption:
cells not seen yet count as free, cells seen occupied (inflated by the robot radius) block.
The plan therefore heads straight for the target until walls are seen, then around them
through the openings seen (or not yet seen). The point ``lookahead_m`` along that path is the
subgoal the policy steers to (the farthest path point within it in straight sight on the
planning grid, so corners are not cut); the policy still sees the final target, the images, and decides
when to stop. Planning is on a window around the robot, the target and everything mapped; when the robot's
conservative map leaves no path, it plans again with a cell less clearance, then forgetting the
bumps (which are then cleared), then keeping only off the occupied cells themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.inputs import NO_PREVIOUS_ACTION, goal_features
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.occupancy import OccupancyGrid
from embodied_stack.types import Action, AgentInput, Frame, Pose2D
from embodied_stack.types.geometry import wrap_angle


@dataclass(frozen=True)
class WaypointConfig:
    """Settings of :class:`WaypointPlanner` (metres).

    ``camera_height_m`` places the floor below the first frame's camera; points from
    ``obstacle_min_height_m`` up to ``agent_height_m`` above it are obstacles. About ``max_rays``
    depth pixels up to ``max_range_m`` are mapped per frame. Planning keeps ``agent_radius_m``
    from occupied cells; the window spans ``window_margin_m`` beyond the robot, the target and
    the mapped cells. A forward move that advanced less than ``bump_progress_m`` along the
    heading (odometry) marks the cells just ahead of the robot's body (straight and 30 degrees to
    either side) occupied, like a bumper, and the cells just ahead of its centre untraversable:
    thin door jambs fall between depth pixels, low things right in front are below the camera's
    view, and a side contact can block a move that no obstacle straight ahead explains.
    """

    resolution_m: float = 0.1
    map_size_m: float = 60.0
    camera_height_m: float = 0.88
    agent_radius_m: float = 0.18
    agent_height_m: float = 1.0
    obstacle_min_height_m: float = 0.1
    max_range_m: float = 4.0
    max_rays: int = 4000
    lookahead_m: float = 1.0
    window_margin_m: float = 2.0
    bump_progress_m: float = 0.15

    def __post_init__(self) -> None:
        for name in ("resolution_m", "map_size_m", "camera_height_m", "agent_height_m", "max_range_m",
                     "lookahead_m", "window_margin_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"WaypointConfig.{name} must be a positive number of metres, got {value!r}")
        if self.agent_radius_m < 0 or self.max_rays <= 0:
            raise ValueError(f"WaypointConfig: agent_radius_m >= 0 and max_rays > 0 expected, "
                             f"got {self.agent_radius_m}, {self.max_rays}")


class WaypointPlanner:
    """Per-episode map and planner; call :meth:`reset` at the start, :meth:`update` every step."""

    def __init__(self, config: WaypointConfig | None = None) -> None:
        self.config = config or WaypointConfig()
        self.grid: OccupancyGrid | None = None
        self.goal_xy = np.zeros(2)
        self.path = np.zeros((0, 2))
        self._floor_z = 0.0
        self._last_pose: Pose2D | None = None
        self._blocked = np.zeros((0, 0), dtype=bool)

    def reset(self, frame: Frame, goal_xy: np.ndarray) -> None:
        """Start a new map centred on the robot; the floor is ``camera_height_m`` below the camera."""
        self.goal_xy = np.asarray(goal_xy, dtype=np.float64).reshape(2)
        self.grid = OccupancyGrid(frame.agent_pose.xy, self.config.map_size_m, self.config.resolution_m)
        self._floor_z = float(frame.camera_pose[2, 3]) - self.config.camera_height_m
        self.path = np.zeros((0, 2))
        self._last_pose = None
        self._blocked = np.zeros(self.grid.shape, dtype=bool)

    def update(self, frame: Frame, pose: Pose2D, moved_forward: bool = False) -> np.ndarray:
        """Map ``frame`` and return the waypoint (2,) in ``map`` metres (the target itself when
        it is within the look-ahead or no path is found). ``moved_forward``: the last action was
        a forward move (its progress is checked against the previous pose)."""
        if self.grid is None:
            self.reset(frame, self.goal_xy)
        grid, cfg = self.grid, self.config
        assert grid is not None
        last, self._last_pose = self._last_pose, pose
        if moved_forward and last is not None:
            heading = np.array([math.cos(last.yaw), math.sin(last.yaw)])
            if float(np.dot(pose.xy - last.xy, heading)) < cfg.bump_progress_m:
                angles = last.yaw + np.radians([-30.0, 0.0, 30.0])
                reach = cfg.agent_radius_m + 0.5 * grid.resolution_m
                grid.mark(pose.xy + reach * np.stack([np.cos(angles), np.sin(angles)], axis=1), occupied=True)
                ahead = pose.xy + np.outer([0.5, 1.0, 1.5], heading) * grid.resolution_m
                rows, cols, inside = grid.cells_of(ahead)
                self._blocked[rows[inside], cols[inside]] = True
        grid.integrate(frame, self._floor_z, obstacle_min_height_m=cfg.obstacle_min_height_m,
                       agent_height_m=cfg.agent_height_m, max_range_m=cfg.max_range_m, max_rays=cfg.max_rays)
        path, nav = np.zeros((0, 2)), None
        relaxed = cfg.agent_radius_m - grid.resolution_m
        for clearance_m, use_blocked in ((cfg.agent_radius_m, True), (relaxed, True), (relaxed, False),
                                         (0.5 * grid.resolution_m, False)):
            nav = self._window_map(pose, clearance_m, use_blocked)
            path = nav.grid_path(pose.xy, self.goal_xy[None]) if nav is not None else np.zeros((0, 2))
            if len(path):
                if not use_blocked:
                    self._blocked[:] = False
                break
        if nav is None or len(path) == 0:
            self.path = np.stack([pose.xy, self.goal_xy])
            return self.goal_xy.copy()
        self.path = path
        along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
        within = path[1 : max(2, int(np.searchsorted(along, cfg.lookahead_m, side="right")))]
        if len(within) == 0:
            return self.goal_xy.copy()
        visible = nav.visible_from(path[0], within)
        return within[int(np.flatnonzero(visible)[-1])].copy() if visible.any() else within[0].copy()

    def path_length_m(self) -> float:
        """Length of the last plan (metres; the straight-line distance when none was found)."""
        if len(self.path) < 2:
            return 0.0
        return float(np.linalg.norm(np.diff(self.path, axis=0), axis=1).sum())

    def _window_map(self, pose: Pose2D, clearance_m: float, use_blocked: bool) -> NavMap | None:
        """Traversable cells (unknown or free, more than ``clearance_m`` from an obstacle, and not
        bumped into when ``use_blocked``) in the window."""
        grid, cfg = self.grid, self.config
        assert grid is not None
        res = grid.resolution_m
        rows, cols = np.nonzero(grid.occupied | grid.seen_free)
        _, _, inside = grid.cells_of(np.stack([pose.xy, self.goal_xy]))
        if not inside.all():
            return None
        ends_r, ends_c, _ = grid.cells_of(np.stack([pose.xy, self.goal_xy]))
        rows = np.concatenate([rows, ends_r])
        cols = np.concatenate([cols, ends_c])
        pad = int(math.ceil(cfg.window_margin_m / res))
        r0, r1 = max(int(rows.min()) - pad, 0), min(int(rows.max()) + pad + 1, grid.shape[0])
        c0, c1 = max(int(cols.min()) - pad, 0), min(int(cols.max()) + pad + 1, grid.shape[1])
        occupied = grid.occupied[r0:r1, c0:c1]
        clearance = ndimage.distance_transform_edt(~occupied) * res
        traversable = clearance > clearance_m
        if use_blocked:
            traversable &= ~self._blocked[r0:r1, c0:c1]
        # the target stands on a navigable point, which a coarse grid can put a little inside the
        # inflation; relax it right there, so that it does not snap across a wall
        r, c = int(ends_r[1]) - r0, int(ends_c[1]) - c0
        near = (slice(max(r - 2, 0), r + 3), slice(max(c - 2, 0), c + 3))
        traversable[near] |= clearance[near] > clearance_m - res
        if not traversable.any():
            return None
        origin = grid.origin_xy + np.array([c0, r0]) * res
        return NavMap(traversable, res, origin, cfg.agent_radius_m)


class GoalTracker:
    """The goal/state token's input over an episode: target, waypoint and previous action.

    One per episode stream (the policy agent, each demonstration rollout, a deployed runtime):
    :meth:`reset` with the target, then per step :meth:`features` on the :class:`AgentInput`
    and :meth:`record_action` with the action taken. With ``config.waypoints`` off the
    waypoint is the target and no map is kept.
    """

    def __init__(self, config: VLAConfig, waypoint_config: WaypointConfig | None = None) -> None:
        self.config = config
        self.planner = WaypointPlanner(waypoint_config) if config.waypoints else None
        self.goal_xy = np.zeros(2)
        self.waypoint_xy = np.zeros(2)
        self.path_length_m = 0.0
        self.prev_action = NO_PREVIOUS_ACTION
        self._started = False

    def reset(self, goal_xy: np.ndarray) -> None:
        self.goal_xy = np.asarray(goal_xy, dtype=np.float64).reshape(2)
        self.waypoint_xy = self.goal_xy.copy()
        self.path_length_m = 0.0
        self.prev_action = NO_PREVIOUS_ACTION
        self._started = False

    def features(self, inp: AgentInput) -> np.ndarray:
        """(15,) float32 features of this step (maps the frame and re-plans when waypoints are on)."""
        distance, bearing = inp.goal_vector()
        self.path_length_m = distance
        if self.planner is not None:
            if not self._started:
                self.planner.reset(inp.frame, self.goal_xy)
            self.waypoint_xy = self.planner.update(inp.frame, inp.pose,
                                                   moved_forward=self.prev_action == Action.MOVE_FORWARD)
            self.path_length_m = self.planner.path_length_m()
        self._started = True
        return goal_features(distance, bearing, self.prev_action, self.config, *self.waypoint_vector(inp.pose),
                             self.path_length_m)

    def waypoint_vector(self, pose: Pose2D) -> tuple[float, float]:
        """(distance_m, bearing_rad) from ``pose`` to the current waypoint, bearing CCW from the heading."""
        offset = self.waypoint_xy - pose.xy
        return float(np.hypot(offset[0], offset[1])), wrap_angle(math.atan2(offset[1], offset[0]) - pose.yaw)

    def record_action(self, action: int) -> None:
        self.prev_action = int(action)


def follow_waypoint(tracker: GoalTracker, pose: Pose2D, turn_angle_rad: float, stop_radius_m: float) -> Action:
    """The map-based expert's action after ``tracker.features``: STOP once the planned path to the
    target is within ``stop_radius_m``, else turn toward the waypoint when it is off by more than
    half a turn step, else move forward. Its inputs are the policy's own (no privileged map)."""
    if tracker.path_length_m <= stop_radius_m:
        return Action.STOP
    _, bearing = tracker.waypoint_vector(pose)
    if abs(bearing) > 0.5 * turn_angle_rad + 1e-9:
        return Action.TURN_LEFT if bearing > 0 else Action.TURN_RIGHT
    return Action.MOVE_FORWARD
