"""Goal regions of navigation episodes, on the navigable map, as Habitat's ObjectNav defines them.

An episode succeeds when the agent stops at a navigable point within ``success_distance_m`` of a
target object's box surface (seen from above: the distance to its footprint, 0 inside it), or
inside a target room: Habitat's ObjectNav view points are the navigable points within 1.0 m of
the object. A point behind a wall does not count: it must also be within the success distance,
along the navigable space, of the object's *snap points* (the free cells nearest its box). Where
no navigable point comes that close (a wall-hung object behind a counter), the region falls back
to the free cells within the success distance (geodesic) of the snap points, which keeps every
object reachable. SPL's shortest-path length ``l`` is the geodesic distance from the start to
the region, on whichever simulator runs the episode (the embedded grid or habitat-sim's navmesh,
through :meth:`GoalRegion.boundary_xy`); Success is being inside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embodied_stack.sim.errors import NavigationError
from embodied_stack.sim.geometry import polygon_distance
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, SceneObject

SNAP_TOLERANCE_CELLS = 0.75
"""Free cells within this many cells of the nearest distance to a box all count as its snap points."""


@dataclass
class GoalRegion:
    """Where an episode counts as reached, as a mask on the navmap.

    Attributes:
        points_xy: (M, 2) snap points of the target objects and a centre cell of each target room.
        mask: HxW bool, the free cells inside the region.
        room_ids: target rooms (being inside any of their polygons also counts).
    """

    navmap: NavMap
    points_xy: np.ndarray
    mask: np.ndarray
    room_ids: tuple[str, ...] = ()

    @classmethod
    def for_targets(
        cls,
        scene: Scene,
        navmap: NavMap,
        *,
        start_xy: np.ndarray | None = None,
        categories: tuple[str, ...] | list[str] = (),
        object_ids: tuple[str, ...] | list[str] = (),
        room_ids: tuple[str, ...] | list[str] = (),
        success_distance_m: float = 1.0,
    ) -> GoalRegion:
        """The region of a set of targets, restricted to the free cells connected to ``start_xy``
        (default: the main component). Raises :class:`NavigationError` when it is empty."""
        component = navmap.reachable_from(start_xy) if start_xy is not None else navmap.largest_component_mask()
        objects = [o for c in categories for o in scene.objects_of_category(c)]
        objects += [scene.object_by_id(i) for i in object_ids]
        cells = np.argwhere(component)
        xy = navmap.grid_to_world(cells)
        mask = np.zeros_like(navmap.free)
        snap = []
        for obj in objects:
            points = snap_points(navmap, xy, obj)
            if not len(points):
                continue
            snap.append(points)
            near_snap = component & (navmap.distance_field(points) <= success_distance_m)
            within = polygon_distance(xy, obj.footprint()) <= success_distance_m
            near_box = np.zeros_like(mask)
            near_box[cells[within, 0], cells[within, 1]] = True
            mask |= (near_snap & near_box) if (near_snap & near_box).any() else near_snap
        points = np.concatenate(snap) if snap else np.zeros((0, 2))
        room_points = []
        for rid in room_ids:
            inside = scene.room_by_id(rid).contains(xy)
            mask[cells[inside, 0], cells[inside, 1]] = True
            if inside.any():
                room_points.append(_central(xy[inside]))
        if not mask.any():
            targets = list(categories) + list(object_ids) + list(room_ids)
            raise NavigationError(f"no navigable goal region for targets {targets} in scene {scene.name!r}")
        points = np.concatenate([points, np.array(room_points).reshape(-1, 2)])
        return cls(navmap, points, mask, tuple(room_ids))

    @classmethod
    def around_points(cls, navmap: NavMap, goals_xy: np.ndarray, radius_m: float) -> GoalRegion:
        """Free cells within ``radius_m`` (geodesic) of the goals' nearest navigable points."""
        points = navmap.nearest_navigable(np.atleast_2d(np.asarray(goals_xy, dtype=np.float64)), largest_component=False)
        points = points[~np.isnan(points[:, 0])]
        if len(points) == 0:
            raise NavigationError("no navigable point near the goal")
        mask = navmap.distance_field(points) <= radius_m
        return cls(navmap, points, mask)

    @property
    def cells_xy(self) -> np.ndarray:
        """(K, 2) centres of the region's cells."""
        return self.navmap.grid_to_world(np.argwhere(self.mask))

    def boundary_xy(self, max_points: int = 400) -> np.ndarray:
        """(K, 2) centres of the region's border cells (at most ``max_points``, evenly taken):
        the geodesic distance to them equals the distance to the region from outside, so another
        simulator's pathfinder (habitat-sim's ``MultiGoalShortestPath``) measures the same ``l``."""
        m = self.mask
        inner = m.copy()
        inner[1:] &= m[:-1]
        inner[:-1] &= m[1:]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        border = np.argwhere(m & ~inner)
        if len(border) > max_points:
            border = border[np.linspace(0, len(border) - 1, max_points).round().astype(int)]
        return self.navmap.grid_to_world(border)

    def contains(self, xy: np.ndarray) -> bool:
        """Whether a point's cell is in the region (or the point is inside a target room)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(1, 2)
        ij = self.navmap.world_to_grid(xy)[0]
        h, w = self.mask.shape
        if 0 <= ij[0] < h and 0 <= ij[1] < w and self.mask[ij[0], ij[1]]:
            return True
        return bool(self.room_ids) and self.navmap.room_of(xy)[0] in self.room_ids

    def distance(self, xy: np.ndarray) -> float:
        """Geodesic metres from a point to the region (0 inside; ``inf`` when unreachable)."""
        if self.contains(xy):
            return 0.0
        return self.navmap.geodesic_distance(np.asarray(xy, dtype=np.float64), self.cells_xy)

    def path(self, xy: np.ndarray) -> np.ndarray:
        """Grid path (K, 2) from a point to the nearest region cell (the oracle follows it)."""
        return self.navmap.grid_path(np.asarray(xy, dtype=np.float64), self.cells_xy)

    def nearest_point(self, xy: np.ndarray) -> np.ndarray:
        """The goal point (snap point or room centre) geodesically nearest a point, (2,): what a
        point-goal agent is given as its target."""
        path = self.navmap.grid_path(np.asarray(xy, dtype=np.float64), self.points_xy)
        if len(path) == 0:
            return self.points_xy[0].copy()
        return self.points_xy[int(np.argmin(np.linalg.norm(self.points_xy - path[-1], axis=1)))].copy()


@dataclass
class MeasuredGoal:
    """A goal region measured by another simulator: membership is the region's (the same points
    on both simulators), the distance is that simulator's geodesic to the region's border (e.g.
    habitat-sim's navmesh through ``HabitatEnv.geodesic_distance``), 0 inside."""

    region: GoalRegion
    geodesic: Callable[[np.ndarray, np.ndarray], float]

    def contains(self, xy: np.ndarray) -> bool:
        return self.region.contains(xy)

    def distance(self, xy: np.ndarray) -> float:
        if self.region.contains(xy):
            return 0.0
        return float(self.geodesic(np.asarray(xy, dtype=np.float64).reshape(2), self.region.boundary_xy()))


def snap_points(navmap: NavMap, candidates_xy: np.ndarray, obj: SceneObject) -> np.ndarray:
    """The candidate cells nearest an object's box footprint (planar), (M, 2)."""
    if len(candidates_xy) == 0:
        return np.zeros((0, 2))
    d = polygon_distance(candidates_xy, obj.footprint())
    best = float(d.min())
    if not math.isfinite(best):
        return np.zeros((0, 2))
    return candidates_xy[d <= best + SNAP_TOLERANCE_CELLS * navmap.resolution_m]


def _central(xy: np.ndarray) -> np.ndarray:
    """The point of a set nearest its mean."""
    return xy[int(np.argmin(np.linalg.norm(xy - xy.mean(axis=0), axis=1)))]
