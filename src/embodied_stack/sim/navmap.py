"""The navigable map of a scene: an occupancy grid for a round robot, geodesic distances, paths.

Grid convention: ``free[i, j]`` is the cell whose centre is at ``origin_xy + (j, i) * resolution_m``
in ``map`` (row index = y, column index = x). A cell is free when it lies on a room floor and the
exact planar clearance from its centre to every wall (FORMATS.md walls, door openings cut out,
:data:`WALL_THICKNESS_M` thick) and to every blocking object footprint is at least the robot
radius. An object blocks when its box bottom is below the robot height and its top is above
:data:`MIN_OBSTACLE_HEIGHT_M` (a rug does not block, a wall shelf at 1.5 m does not block).

Geodesic distances come from Dijkstra on the free cells with 16 neighbours (axis, diagonal and
knight moves, no corner cutting), which overestimates straight-line lengths by at most 2.7 %;
:meth:`NavMap.geodesic_distance` and :meth:`NavMap.shortest_path` then string-pull the grid path
against the free grid (line of sight), which makes lengths accurate to about a cell.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.csgraph import dijkstra

from embodied_stack.sim.errors import NavigationError
from embodied_stack.sim.geometry import (
    path_length,
    polygon_distance,
    resample_polyline,
    segment_distance,
)
from embodied_stack.sim.scene import Scene, points_in_polygon
from embodied_stack.sim.walls import wall_segments

WALL_THICKNESS_M = 0.1
MIN_OBSTACLE_HEIGHT_M = 0.02
_MARGIN_M = 0.5
_CACHE_SIZE = 32
# (drow, dcol, cells that must also be free, as (drow, dcol) offsets)
_MOVES: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...] = (
    (0, 1, ()),
    (1, 0, ()),
    (1, 1, ((0, 1), (1, 0))),
    (1, -1, ((0, -1), (1, 0))),
    (1, 2, ((0, 1), (1, 1))),
    (2, 1, ((1, 0), (1, 1))),
    (2, -1, ((1, 0), (1, -1))),
    (1, -2, ((0, -1), (1, -1))),
)


class NavMap:
    """Occupancy grid, components, nearest-navigable lookups and geodesic queries of one scene.

    Build it with :meth:`from_scene`. It satisfies the memory's ``SpatialContext`` protocol
    (``room_of``, ``room_category``, ``nearest_navigable``).
    """

    def __init__(
        self,
        free: np.ndarray,
        resolution_m: float,
        origin_xy: np.ndarray,
        agent_radius_m: float,
        scene: Scene | None = None,
        clearance_m: np.ndarray | None = None,
    ) -> None:
        if resolution_m <= 0:
            raise ValueError(f"resolution_m must be > 0, got {resolution_m}")
        self.free = np.ascontiguousarray(free, dtype=bool)
        self.resolution_m = float(resolution_m)
        self.origin_xy = np.asarray(origin_xy, dtype=np.float64).reshape(2)
        self.agent_radius_m = float(agent_radius_m)
        self.scene = scene
        self.clearance_m = None if clearance_m is None else np.asarray(clearance_m, dtype=np.float64)
        self._labels: np.ndarray | None = None
        self._largest: np.ndarray | None = None
        self._nearest_idx: dict[bool, np.ndarray] = {}
        self._graph: tuple[sp.csr_matrix, np.ndarray, np.ndarray] | None = None
        self._fields: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    @classmethod
    def from_scene(
        cls,
        scene: Scene,
        resolution_m: float = 0.05,
        agent_radius_m: float = 0.18,
        agent_height_m: float = 1.0,
    ) -> NavMap:
        """Rasterise the scene's floors, walls and low objects and inflate them by the radius."""
        if agent_radius_m < 0 or agent_height_m <= 0:
            raise ValueError(f"agent radius/height must be >= 0 / > 0, got {agent_radius_m}/{agent_height_m}")
        lo, hi = scene.bounds_xy()
        origin = (np.floor((lo - _MARGIN_M) / resolution_m) + 0.5) * resolution_m
        shape = (np.ceil((hi + _MARGIN_M - origin) / resolution_m).astype(int) + 1)[::-1]
        h, w = int(shape[0]), int(shape[1])
        xs = origin[0] + np.arange(w) * resolution_m
        ys = origin[1] + np.arange(h) * resolution_m
        centres = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        floor = np.zeros(h * w, dtype=bool)
        for room in scene.rooms:
            floor |= points_in_polygon(centres, room.polygon_array)
        floor = floor.reshape(h, w)
        edge_clear = ndimage.distance_transform_edt(floor) * resolution_m - resolution_m / 2.0
        clearance = np.where(floor, edge_clear, -1.0)
        reach = agent_radius_m + 2.0 * resolution_m
        for seg in wall_segments(scene):
            _min_into(clearance, origin, resolution_m, np.array([seg.start, seg.end]), reach,
                      lambda p, s=seg: segment_distance(p, np.array(s.start), np.array(s.end)) - WALL_THICKNESS_M / 2)
        floors = {r.id: r.floor_z for r in scene.rooms}
        for obj in scene.objects:
            base = floors[obj.room]
            bottom, top = obj.center[2] - obj.size[2] / 2 - base, obj.center[2] + obj.size[2] / 2 - base
            if bottom >= agent_height_m or top <= MIN_OBSTACLE_HEIGHT_M:
                continue
            fp = obj.footprint()
            _min_into(clearance, origin, resolution_m, fp, reach, lambda p, fp=fp: polygon_distance(p, fp))
        return cls(clearance >= agent_radius_m, resolution_m, origin, agent_radius_m, scene, clearance)

    # ----------------------------------------------------------------- grid and lookups
    @property
    def shape(self) -> tuple[int, int]:
        return self.free.shape  # type: ignore[return-value]

    def world_to_grid(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world points -> (N, 2) int (row, col) of the nearest cell centre (may be off-grid)."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        ij = np.rint((xy - self.origin_xy) / self.resolution_m)[:, ::-1]
        return ij.astype(np.int64)

    def grid_to_world(self, ij: np.ndarray) -> np.ndarray:
        """(N, 2) (row, col) -> (N, 2) world xy of the cell centres."""
        ij = np.atleast_2d(np.asarray(ij, dtype=np.float64))
        return self.origin_xy + ij[:, ::-1] * self.resolution_m

    def _inside(self, ij: np.ndarray) -> np.ndarray:
        h, w = self.shape
        return (ij[:, 0] >= 0) & (ij[:, 0] < h) & (ij[:, 1] >= 0) & (ij[:, 1] < w)

    def is_navigable(self, xy: np.ndarray) -> np.ndarray:
        """Whether each (N, 2) point's cell is free (False outside the grid)."""
        ij = self.world_to_grid(xy)
        ok = self._inside(ij)
        out = np.zeros(len(ij), dtype=bool)
        out[ok] = self.free[ij[ok, 0], ij[ok, 1]]
        return out

    def components(self) -> np.ndarray:
        """Label image of 4-connected free components (0 = not free); 4-connectivity matches the
        path graph, whose diagonal moves never cut corners."""
        if self._labels is None:
            self._labels, _ = ndimage.label(self.free)
        return self._labels

    def largest_component_mask(self) -> np.ndarray:
        """Bool HxW mask of the largest connected free region (where the robot lives)."""
        if self._largest is None:
            labels = self.components()
            counts = np.bincount(labels.ravel())
            counts[0] = 0
            self._largest = labels == int(np.argmax(counts)) if counts.sum() else np.zeros_like(self.free)
        return self._largest

    def reachable_from(self, xy: np.ndarray) -> np.ndarray:
        """Bool HxW mask of the free cells connected to the point's nearest navigable cell."""
        ij = self.world_to_grid(self.nearest_navigable(np.atleast_2d(xy)[:1], largest_component=False))
        if not self._inside(ij).all():
            return np.zeros_like(self.free)
        labels = self.components()
        return labels == labels[ij[0, 0], ij[0, 1]]

    def nearest_navigable(self, xy: np.ndarray, *, largest_component: bool = True) -> np.ndarray:
        """Centre of the nearest free cell to each (N, 2) point; NaN rows where there is none.

        By default only the largest component counts, so the answer is a point the robot can
        reach; points outside the grid are first clamped to its border.
        """
        ij = self.world_to_grid(xy)
        mask = self.largest_component_mask() if largest_component else self.free
        out = np.full((len(ij), 2), np.nan)
        if not mask.any():
            return out
        if largest_component not in self._nearest_idx:
            _, idx = ndimage.distance_transform_edt(~mask, return_indices=True)
            self._nearest_idx[largest_component] = idx
        idx = self._nearest_idx[largest_component]
        h, w = self.shape
        r, c = np.clip(ij[:, 0], 0, h - 1), np.clip(ij[:, 1], 0, w - 1)
        return self.grid_to_world(np.stack([idx[0][r, c], idx[1][r, c]], axis=1))

    def sample_navigable(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` cell centres drawn uniformly from the largest component, (n, 2)."""
        cells = np.argwhere(self.largest_component_mask())
        if len(cells) == 0:
            raise NavigationError("the navigable map has no free cell to sample from")
        return self.grid_to_world(cells[rng.integers(0, len(cells), size=n)])

    def free_area_m2(self) -> float:
        return float(self.free.sum()) * self.resolution_m**2

    def room_of(self, xy: np.ndarray) -> list[str | None]:
        """Id of the room containing each (N, 2) point, or None (needs the scene)."""
        return self._require_scene().room_at(xy)

    def room_category(self, room_id: str) -> str:
        scene = self._require_scene()
        try:
            return scene.room_by_id(room_id).category
        except KeyError as err:
            known = ", ".join(r.id for r in scene.rooms)
            raise NavigationError(f"unknown room id {room_id!r} in scene {scene.name!r}; known: {known}") from err

    def _require_scene(self) -> Scene:
        if self.scene is None:
            raise NavigationError("this NavMap was built without a scene; room lookups need one")
        return self.scene

    # ----------------------------------------------------------------- geodesics
    def _graph_parts(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """(adjacency, node index per flat cell or -1, flat cell per node), built on first use."""
        if self._graph is None:
            self._graph = self._build_graph()
        return self._graph

    def _build_graph(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        h, w = self.shape
        cells = np.flatnonzero(self.free.ravel())
        node_of = np.full(h * w, -1, dtype=np.int64)
        node_of[cells] = np.arange(len(cells))
        padded = np.zeros((h + 4, w + 4), dtype=bool)
        padded[2:-2, 2:-2] = self.free
        ii, jj = np.divmod(cells, w)
        src, dst, wts = [], [], []
        for dr, dc, via in _MOVES:
            ok = padded[ii + 2 + dr, jj + 2 + dc]
            for vr, vc in via:
                ok &= padded[ii + 2 + vr, jj + 2 + vc]
            a = cells[ok]
            b = (ii[ok] + dr) * w + (jj[ok] + dc)
            src.append(node_of[a])
            dst.append(node_of[b])
            wts.append(np.full(len(a), math.hypot(dr, dc) * self.resolution_m))
        s, d, wt = np.concatenate(src), np.concatenate(dst), np.concatenate(wts)
        n = len(cells)
        graph = sp.csr_matrix((np.concatenate([wt, wt]), (np.concatenate([s, d]), np.concatenate([d, s]))), shape=(n, n))
        return graph, node_of, cells

    def _field(self, goals_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance per node, predecessor per node) to the goals' nearest free cells (cached)."""
        graph, node_of, _ = self._graph_parts()
        snapped = self.nearest_navigable(np.atleast_2d(goals_xy), largest_component=False)
        snapped = snapped[~np.isnan(snapped[:, 0])]
        ij = self.world_to_grid(snapped)
        nodes = np.unique(node_of[ij[:, 0] * self.shape[1] + ij[:, 1]])
        key = nodes.tobytes()
        if key in self._fields:
            self._fields.move_to_end(key)
            return self._fields[key]
        n = graph.shape[0]
        if len(nodes) == 0:
            result = (np.full(n, np.inf), np.full(n, -9999, dtype=np.int32))
        else:
            dist, pred, _ = dijkstra(graph, directed=True, indices=nodes, min_only=True, return_predecessors=True)
            result = (dist, pred)
        self._fields[key] = result
        if len(self._fields) > _CACHE_SIZE:
            self._fields.popitem(last=False)
        return result

    def distance_field(self, goals_xy: np.ndarray) -> np.ndarray:
        """Geodesic metres from every cell to the nearest goal (HxW, inf where unreachable).

        Goals off the free grid are snapped to their nearest free cell. Values are grid-path
        lengths (at most 2.7 % over the true length); use :meth:`geodesic_distance` for a
        string-pulled figure. Cached by goal set.
        """
        dist, _ = self._field(goals_xy)
        out = np.full(self.shape[0] * self.shape[1], np.inf)
        out[self._graph_parts()[2]] = dist
        return out.reshape(self.shape)

    def grid_path(self, start_xy: np.ndarray, goals_xy: np.ndarray) -> np.ndarray:
        """Cell-centre path (K, 2) from the start's nearest free cell to the nearest goal;
        (0, 2) when unreachable."""
        dist, pred = self._field(goals_xy)
        _, node_of, cell_of = self._graph_parts()
        s = self.nearest_navigable(np.atleast_2d(start_xy)[:1], largest_component=False)
        if np.isnan(s).any():
            return np.zeros((0, 2))
        ij = self.world_to_grid(s)[0]
        node = int(node_of[ij[0] * self.shape[1] + ij[1]])
        if not np.isfinite(dist[node]):
            return np.zeros((0, 2))
        chain = [node]
        while pred[chain[-1]] >= 0:
            chain.append(int(pred[chain[-1]]))
        rows, cols = np.divmod(cell_of[np.array(chain)], self.shape[1])
        return self.grid_to_world(np.stack([rows, cols], axis=1))

    def shortest_path(self, a_xy: np.ndarray, b_xy: np.ndarray) -> np.ndarray:
        """String-pulled shortest path (K, 2) from ``a`` to ``b`` (or to the nearest of several
        goals, ``b`` (M, 2)); (0, 2) when unreachable. Off-grid ends are snapped to free cells."""
        path = self.grid_path(a_xy, b_xy)
        if len(path) == 0:
            return path
        a = np.asarray(a_xy, dtype=np.float64).reshape(2)
        if self.is_navigable(a[None])[0] and self.line_of_sight(a, path[min(1, len(path) - 1)]):
            path[0] = a
        goals = np.atleast_2d(np.asarray(b_xy, dtype=np.float64))
        end = goals[np.argmin(np.linalg.norm(goals - path[-1], axis=1))]
        if self.is_navigable(end[None])[0] and self.line_of_sight(path[max(0, len(path) - 2)], end):
            path[-1] = end
        return self.string_pull(path)

    def geodesic_distance(self, a_xy: np.ndarray, b_xy: np.ndarray) -> float:
        """Navigable shortest-path length in metres from ``a`` to ``b`` (or to the nearest of
        several goals); ``inf`` when unreachable."""
        path = self.shortest_path(a_xy, b_xy)
        if len(path) == 0:
            return math.inf
        return path_length(path)

    def line_of_sight(self, a_xy: np.ndarray, b_xy: np.ndarray) -> bool:
        """Whether the straight segment a->b stays in free space (see :meth:`visible_from`)."""
        return bool(self.visible_from(np.asarray(a_xy, dtype=np.float64), np.atleast_2d(b_xy))[0])

    def visible_from(self, a_xy: np.ndarray, targets_xy: np.ndarray) -> np.ndarray:
        """Line of sight from one point to each of (N, 2) targets, bool (N,).

        Segments are sampled every half cell. With the clearance field (maps built by
        :meth:`from_scene`) a sample is free where the bilinearly interpolated clearance is at
        least the robot radius, which follows curved and slanted obstacle boundaries to well under
        a cell; otherwise a sample is free where its cell is.
        """
        a = np.asarray(a_xy, dtype=np.float64).reshape(1, 2)
        t = np.atleast_2d(np.asarray(targets_xy, dtype=np.float64))
        steps = np.maximum(1, np.ceil(np.linalg.norm(t - a, axis=1) / (0.5 * self.resolution_m)).astype(np.int64))
        seg = np.repeat(np.arange(len(t)), steps + 1)
        first = np.cumsum(steps + 1) - (steps + 1)
        offsets = (np.arange(len(seg)) - first[seg]) / steps[seg]
        pts = a + (t[seg] - a) * offsets[:, None]
        ok = self._free_at(pts)
        return np.bincount(seg, weights=~ok, minlength=len(t)) == 0

    def _free_at(self, xy: np.ndarray) -> np.ndarray:
        if self.clearance_m is None:
            return self.is_navigable(xy)
        rc = ((xy - self.origin_xy) / self.resolution_m)[:, ::-1].T
        clear = ndimage.map_coordinates(self.clearance_m, rc, order=1, mode="constant", cval=-1.0)
        return clear >= self.agent_radius_m - 1e-9

    def string_pull(self, path: np.ndarray, *, passes: int = 3) -> np.ndarray:
        """Shorten a polyline while it stays in free space: jump from each kept point to the
        farthest later point in sight; repeat backwards over the result resampled every cell
        (which moves the corners onto the obstacles they wrap); then pull every corner toward the
        chord of its neighbours as far as both segments stay in sight (bisection)."""
        if len(path) <= 2:
            return path
        out = self._shortcut(self._shortcut(path)[::-1].copy())
        out = self._shortcut(resample_polyline(out, self.resolution_m))[::-1].copy()
        for _ in range(passes):
            for i in range(1, len(out) - 1):
                out[i] = self._pull_corner(out[i - 1], out[i], out[i + 1])
        return out

    def _shortcut(self, path: np.ndarray) -> np.ndarray:
        """Greedy farthest-in-sight jumps; the look-ahead window doubles while its last point is
        in sight, so long straight stretches cost few checks."""
        keep = [0]
        while keep[-1] < len(path) - 1:
            i = keep[-1]
            window = 32
            while True:
                end = min(len(path), i + 1 + window)
                vis = self.visible_from(path[i], path[i + 1 : end])
                best = i + 1 + int(np.flatnonzero(vis)[-1]) if vis.any() else i + 1
                if best < end - 1 or end == len(path):
                    break
                window *= 2
            keep.append(best)
        return path[keep]

    def _pull_corner(self, prev: np.ndarray, corner: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        chord = nxt - prev
        denom = float(chord @ chord)
        if denom == 0.0:
            return corner
        target = prev + np.clip((corner - prev) @ chord / denom, 0.0, 1.0) * chord
        lo, hi = 0.0, 1.0
        for _ in range(8):
            mid = (lo + hi) / 2
            cand = corner + mid * (target - corner)
            if self.visible_from(cand, np.stack([prev, nxt])).all():
                lo = mid
            else:
                hi = mid
        return corner + lo * (target - corner)


def _min_into(clearance: np.ndarray, origin: np.ndarray, res: float, pts: np.ndarray, reach: float, dist_fn) -> None:  # noqa: ANN001
    """clearance = min(clearance, dist_fn(cell centres)) over the window of cells within
    ``reach`` of the points' bounding box."""
    h, w = clearance.shape
    lo = np.floor((pts.min(axis=0) - reach - origin) / res).astype(int)
    hi = np.ceil((pts.max(axis=0) + reach - origin) / res).astype(int) + 1
    c0, r0 = max(lo[0], 0), max(lo[1], 0)
    c1, r1 = min(hi[0], w), min(hi[1], h)
    if c0 >= c1 or r0 >= r1:
        return
    xs = origin[0] + np.arange(c0, c1) * res
    ys = origin[1] + np.arange(r0, r1) * res
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    d = dist_fn(grid).reshape(r1 - r0, c1 - c0)
    np.minimum(clearance[r0:r1, c0:c1], d, out=clearance[r0:r1, c0:c1])
