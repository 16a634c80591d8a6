"""Where the robot can go next on its own map: frontier clusters and reachable places.

:func:`plan_options` turns the robot's :class:`~embodied_stack.sim.occupancy.OccupancyGrid` into
the choices an explorer or a searcher picks from: every frontier cluster (known-free cells next
to unknown ones) with the nearest reachable cell from which to look at it, and a way to ask for
the reachable cell nearest any point (a room the memory knows, a sighting to re-check). All of it
is computed from the robot's own map, never from the scene file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.occupancy import OccupancyGrid


@dataclass(frozen=True)
class Frontier:
    """A place to drive to: a frontier cluster (``cells`` > 0) or a point of interest.

    ``goal``: where the robot stands (a reachable cell of its own map); ``look_at``: the point
    it faces on arrival (a frontier's centroid); ``distance_m``: the grid path length from the
    robot to ``goal``; ``cells``: the cluster's size (0 for a place); ``cluster``: its cells as
    (row, col) of the full grid; ``key``: a caller's name for a place ("room N5").
    """

    goal: np.ndarray
    look_at: np.ndarray
    distance_m: float
    cells: int = 0
    cluster: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    key: str = ""
    spin: bool = False  # turn a full circle on arrival (look around a place)
    nav: NavMap | None = None  # the map its path is planned on, when not the options' own (a tighter clearance)

    @property
    def is_frontier(self) -> bool:
        return self.cells > 0


@dataclass
class PlanOptions:
    """The frontiers reachable from the robot, and :meth:`place` for any other point.

    ``nav`` is the traversable part of the robot's map (cells at least the clearance from any
    occupied cell) over a window around what is known; ``dist`` the grid path length from the
    robot to each of its cells (inf where unreachable).
    """

    frontiers: list[Frontier]
    nav: NavMap | None
    dist: np.ndarray | None
    relaxed: Callable[[], PlanOptions] | None = None
    """The same options at a tighter clearance (a doorway the robot's conservative map holds as
    too narrow): :meth:`place` looks there for a point it cannot reach otherwise."""

    def place(self, xy: np.ndarray, *, key: str = "", max_offset_m: float = 1.5, spin: bool = True,
              look_at: np.ndarray | None = None) -> Frontier | None:
        """The reachable cell nearest ``xy`` (within ``max_offset_m``), or None; failing that,
        the same on the :attr:`relaxed` options (the returned place carries their map)."""
        found = self._place(xy, key=key, max_offset_m=max_offset_m, spin=spin, look_at=look_at)
        if found is None and self.relaxed is not None:
            if not hasattr(self, "_relaxed"):
                self._relaxed = self.relaxed()
            found = self._relaxed._place(xy, key=key, max_offset_m=max_offset_m, spin=spin, look_at=look_at)
            if found is not None:
                found = replace(found, nav=self._relaxed.nav)
        return found

    def _place(self, xy: np.ndarray, *, key: str, max_offset_m: float, spin: bool,
               look_at: np.ndarray | None) -> Frontier | None:
        if self.nav is None or self.dist is None:
            return None
        point = np.asarray(xy, dtype=np.float64).reshape(2)
        reachable = np.isfinite(self.dist)
        if not reachable.any():
            return None
        cells = np.argwhere(reachable)
        centres = self.nav.grid_to_world(cells)
        offset = np.linalg.norm(centres - point, axis=1)
        best = int(np.argmin(offset))
        if offset[best] > max_offset_m:
            return None
        goal = centres[best]
        return Frontier(goal=goal, look_at=point if look_at is None else np.asarray(look_at, dtype=np.float64),
                        distance_m=float(self.dist[tuple(cells[best])]), key=key, spin=spin)


def plan_options(grid: OccupancyGrid, robot_xy: np.ndarray, *, clearance_m: float, agent_radius_m: float,
                 min_frontier_cells: int, blacklist: np.ndarray, far_reach_m: float = 2.0) -> PlanOptions:
    """Frontier clusters of ``grid`` reachable from ``robot_xy`` (see the module docstring).

    A cluster's goal is the reachable cell nearest the robot among those within the clearance
    (plus 1.5 cells) of the cluster; a cluster no such cell touches (seen through a doorway
    the map does not yet hold as wide enough) gets the reachable cell closest to it, when that
    lies within ``far_reach_m``, so the robot drives up to it and looks. Blacklisted cells are
    no frontier.
    """
    seen = grid.seen_free | grid.occupied
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    if len(rows) == 0:
        return PlanOptions([], None, None)
    r0, r1 = max(rows.min() - 2, 0), min(rows.max() + 3, grid.shape[0])
    c0, c1 = max(cols.min() - 2, 0), min(cols.max() + 3, grid.shape[1])
    window = (slice(r0, r1), slice(c0, c1))
    # Everything beyond the window is unknown, so the frontier (known-free cells next to unknown
    # ones) is found inside it: a large map window costs nothing until the robot has seen it.
    known_free = grid.seen_free[window] & ~grid.occupied[window]
    frontier = known_free & ndimage.binary_dilation(~seen[window]) & ~blacklist[window]
    clearance = ndimage.distance_transform_edt(~grid.occupied[window]) * grid.resolution_m
    traversable = known_free & (clearance > clearance_m)
    if not traversable.any():
        return PlanOptions([], None, None)
    origin = grid.origin_xy + np.array([c0, r0]) * grid.resolution_m
    nav = NavMap(traversable, grid.resolution_m, origin, agent_radius_m)
    dist = nav.distance_field(np.asarray(robot_xy, dtype=np.float64).reshape(1, 2))
    labels, n = ndimage.label(frontier, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return PlanOptions([], nav, dist)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_frontier_cells
    keep[0] = False
    labels = np.where(keep[labels], labels, 0)
    if not keep.any():
        return PlanOptions([], nav, dist)
    to_frontier, (fi, fj) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    reachable = np.isfinite(dist)
    cand = np.flatnonzero(reachable.ravel())
    if len(cand) == 0:
        return PlanOptions([], nav, dist)
    owner = labels[fi.ravel()[cand], fj.ravel()[cand]]
    gap = to_frontier.ravel()[cand]
    # per cluster: the closest any reachable cell comes, and the cells that count as "at it"
    closest = np.full(n + 1, np.inf)
    np.minimum.at(closest, owner, gap)
    near = clearance_m / grid.resolution_m + 1.5
    allowed = np.maximum(near, closest[owner] + 1.0)
    ok = (gap <= allowed) & (closest[owner] * grid.resolution_m <= far_reach_m)
    cand, owner = cand[ok], owner[ok]
    if len(cand) == 0:
        return PlanOptions([], nav, dist)
    cost = dist.ravel()[cand]
    order = np.lexsort((cost, owner))
    first = order[np.unique(owner[order], return_index=True)[1]]
    out: list[Frontier] = []
    flat_labels = labels.ravel()
    counts = np.bincount(flat_labels, minlength=n + 1)
    centroid_r = np.bincount(flat_labels, weights=np.indices(labels.shape)[0].ravel(), minlength=n + 1)
    centroid_c = np.bincount(flat_labels, weights=np.indices(labels.shape)[1].ravel(), minlength=n + 1)
    for index in first.tolist():
        label = int(owner[index])
        ij = np.array(np.unravel_index(int(cand[index]), dist.shape))
        goal = nav.grid_to_world(ij[None])[0]
        centre = np.array([centroid_r[label], centroid_c[label]]) / counts[label]
        look = nav.grid_to_world(centre[None])[0]
        cluster = np.argwhere(labels == label) + np.array([r0, c0])
        out.append(Frontier(goal=goal, look_at=look, distance_m=float(cost[index]), cells=int(counts[label]),
                            cluster=cluster))
    return PlanOptions(out, nav, dist)
