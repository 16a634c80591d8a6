"""Privileged agents for evaluation baselines: the shortest-path oracle and a random walker.

The oracle plans its whole action sequence on the navmap with the simulator's own motion model
(:func:`~embodied_stack.sim.motion.move_agent`): a weighted A* over (position, heading) lattice
states whose cost is the distance actually moved (turns are free but for a tie-breaking epsilon)
and whose heuristic is the geodesic distance field to the goal region. With the discrete action
set (30 degree turns) the agent cannot follow the geodesic exactly; the lattice plan is within a
factor ``heuristic_weight`` of the best possible path, where a greedy follower loses several
percent of SPL to zig-zagging and to overshooting the region. The plan is executed open-loop as
long as the poses match the prediction; otherwise (another simulator, a pushed robot) it re-plans,
and when the search budget runs out it falls back to greedy path following: steer toward the
farthest visible point of the shortest path within ``lookahead_m``.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.motion import move_agent, wrap_angle
from embodied_stack.sim.navmap import NavMap
from embodied_stack.types import Action, AgentInput, Pose2D

_BLOCKED_M = 0.01
_TURN_COST = 1e-4
_KEY_RES_M = 0.05


class OracleAgent:
    """Shortest-path oracle (implements :class:`~embodied_stack.sim.env.Agent`).

    Args:
        navmap: the map it plans on (the simulator's, so that predictions match).
        forward_step_m, turn_angle_rad: the simulator's action sizes.
        heuristic_weight: A* weight (1.0 = optimal on the lattice, slower).
        max_expansions: search budget per plan before falling back to greedy following (0: greedy
            only, faster, about 2-3 % lower SPL).
        collision_cost_m: extra cost of a forward step that collides (slides), so plans keep off
            walls unless sliding saves more than this (0: sliding along walls is a legal,
            free move, as in Habitat; raise it for demonstrations that keep off walls).
        lookahead_m: greedy fallback: how far along the path it looks for a visible point.
        stop_radius_m: with a plain goal point (:meth:`reset`), stop within this geodesic distance.
    """

    def __init__(
        self,
        navmap: NavMap,
        *,
        forward_step_m: float = 0.25,
        turn_angle_rad: float = math.radians(30.0),
        heuristic_weight: float = 1.03,
        max_expansions: int = 20000,
        collision_cost_m: float = 0.0,
        lookahead_m: float = 1.0,
        stop_radius_m: float = 0.25,
    ) -> None:
        if forward_step_m <= 0 or turn_angle_rad <= 0 or lookahead_m <= 0 or stop_radius_m < 0 or heuristic_weight < 1:
            raise ValueError(
                "forward_step_m, turn_angle_rad, lookahead_m must be > 0, stop_radius_m >= 0 and "
                f"heuristic_weight >= 1; got {forward_step_m}, {turn_angle_rad}, {lookahead_m}, {stop_radius_m}, "
                f"{heuristic_weight}")
        self.navmap = navmap
        self.forward_step_m = forward_step_m
        self.turn_angle_rad = turn_angle_rad
        self.heuristic_weight = heuristic_weight
        self.max_expansions = max_expansions
        self.collision_cost_m = collision_cost_m
        self.lookahead_m = lookahead_m
        self.stop_radius_m = stop_radius_m
        self.goal: GoalRegion | None = None
        self.replans = 0
        self._plan: list[tuple[Action, Pose2D]] = []
        self._expected: Pose2D | None = None
        self._last: tuple[np.ndarray, Action] | None = None

    def reset(self, instruction: str, goal_xy: np.ndarray) -> None:
        """Aim at the goal point(s): stop within ``stop_radius_m`` of the nearest."""
        self.set_goal(GoalRegion.around_points(self.navmap, goal_xy, self.stop_radius_m))

    def set_goal(self, goal: GoalRegion) -> None:
        """Aim at an episode's goal region instead (privileged, for evaluation)."""
        self.goal = goal
        self._plan, self._expected, self._last = [], None, None

    def stats(self) -> dict[str, float]:
        """Re-plans since construction (0 when the simulator always moved as predicted)."""
        return {"oracle_replans": float(self.replans)}

    def act(self, inp: AgentInput) -> Action:
        if self.goal is None:
            raise RuntimeError("OracleAgent.act() before reset() or set_goal()")
        pose = inp.pose
        if self.goal.contains(pose.xy):
            return Action.STOP
        if self._expected is None or not _same_pose(pose, self._expected) or not self._plan:
            if self._expected is not None:
                self.replans += 1
            plan = self.plan(pose)
            self._plan = plan if plan is not None else []
        if self._plan:
            action, self._expected = self._plan.pop(0)
            return action
        self._expected = None
        return self._greedy(pose)

    def plan(self, start: Pose2D) -> list[tuple[Action, Pose2D]] | None:
        """Weighted A* from ``start`` into the goal region: the actions and the pose each leads
        to; None when the budget runs out or the region is unreachable."""
        assert self.goal is not None  # set before act()
        nm, mask = self.navmap, self.goal.mask
        field = nm.distance_field(self.goal.cells_xy)
        h, w = field.shape
        ox, oy = nm.origin_xy
        res = nm.resolution_m

        def cell(x: float, y: float) -> tuple[int, int] | None:
            i, j = int(round((y - oy) / res)), int(round((x - ox) / res))
            return (i, j) if 0 <= i < h and 0 <= j < w else None

        def heuristic(x: float, y: float) -> float:
            c = cell(x, y)
            return self.heuristic_weight * float(field[c]) if c is not None else math.inf

        start_h = heuristic(start.x, start.y)
        if not math.isfinite(start_h):
            return None
        counter = 0
        heap: list[tuple[float, int, float, Pose2D]] = [(start_h, 0, 0.0, start)]
        parents: dict[tuple[int, int, int], tuple[tuple[int, int, int], Action, Pose2D] | None] = {}
        parent_of_new: dict[int, tuple[tuple[int, int, int], Action, Pose2D] | None] = {0: None}
        expansions = 0
        while heap and expansions < self.max_expansions:
            _f, idx, g, pose = heapq.heappop(heap)
            key = _state_key(pose)
            if key in parents:
                continue
            parents[key] = parent_of_new.pop(idx)
            expansions += 1
            c = cell(pose.x, pose.y)
            if c is not None and mask[c]:
                return _unwind(parents, key)
            for action in (Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT):
                step = move_agent(nm, pose, action, forward_step_m=self.forward_step_m,
                                  turn_angle_rad=self.turn_angle_rad)
                moved = step.pose
                if action == Action.MOVE_FORWARD:
                    cost = math.hypot(moved.x - pose.x, moved.y - pose.y)
                    if cost < _BLOCKED_M:
                        continue
                    cost += self.collision_cost_m if step.collided else 0.0
                else:
                    cost = _TURN_COST
                if _state_key(moved) in parents:
                    continue
                counter += 1
                parent_of_new[counter] = (key, action, moved)
                heapq.heappush(heap, (g + cost + heuristic(moved.x, moved.y), counter, g + cost, moved))
        return None

    def _greedy(self, pose: Pose2D) -> Action:
        assert self.goal is not None  # set before act()
        xy = pose.xy
        path = self.goal.path(xy)
        if len(path) < 2:
            return Action.STOP
        blocked = self._last is not None and self._last[1] == Action.MOVE_FORWARD and (
            float(np.linalg.norm(xy - self._last[0])) < _BLOCKED_M)
        target = path[1] if blocked else self._lookahead(xy, path)
        error = wrap_angle(math.atan2(target[1] - xy[1], target[0] - xy[0]) - pose.yaw)
        if abs(error) > self.turn_angle_rad / 2 + 1e-9:
            action = Action.TURN_LEFT if error > 0 else Action.TURN_RIGHT
        else:
            action = Action.MOVE_FORWARD
        self._last = (xy, action)
        return action

    def _lookahead(self, xy: np.ndarray, path: np.ndarray) -> np.ndarray:
        """The farthest path point within ``lookahead_m`` (along the path) in straight sight."""
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
        candidates = path[1 : max(2, int(np.searchsorted(arc, self.lookahead_m, side="right")))]
        visible = self.navmap.visible_from(xy, candidates)
        return candidates[int(np.flatnonzero(visible)[-1])] if visible.any() else candidates[0]


def _state_key(pose: Pose2D) -> tuple[int, int, int]:
    """Lattice state identity: position to :data:`_KEY_RES_M`, heading to a milliradian."""
    return (int(round(pose.x / _KEY_RES_M)), int(round(pose.y / _KEY_RES_M)), int(round(wrap_angle(pose.yaw) * 1000)) % 6283)


def _same_pose(a: Pose2D, b: Pose2D) -> bool:
    return math.hypot(a.x - b.x, a.y - b.y) < 0.01 and abs(wrap_angle(a.yaw - b.yaw)) < 1e-3


def _unwind(parents: dict, key: tuple[int, int, int]) -> list[tuple[Action, Pose2D]]:  # noqa: ANN001
    out: list[tuple[Action, Pose2D]] = []
    link = parents[key]
    while link is not None:
        prev, action, pose = link
        out.append((action, pose))
        link = parents[prev]
    return out[::-1]


class RandomAgent:
    """Uniformly random discrete actions (forward twice as likely as each turn); calls STOP with
    probability ``stop_prob`` per step. A lower bound for the metrics."""

    def __init__(self, seed: int = 0, *, stop_prob: float = 0.01) -> None:
        if not 0.0 <= stop_prob <= 1.0:
            raise ValueError(f"stop_prob must be in [0, 1], got {stop_prob}")
        self.rng = np.random.default_rng(seed)
        self.stop_prob = stop_prob

    def reset(self, instruction: str, goal_xy: np.ndarray) -> None:
        """Nothing to remember; the generator keeps running across episodes."""

    def act(self, inp: AgentInput) -> Action:
        if self.rng.uniform() < self.stop_prob:
            return Action.STOP
        return (Action.MOVE_FORWARD, Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT)[int(self.rng.integers(0, 4))]
