"""The explorer's map window: frontiers are found inside the seen part of a large map exactly as
over the whole map, and the survey's window holds a long building floor seen from one end."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from embodied_stack.eval.survey import SURVEY_MAP_SIZE_M
from embodied_stack.sim.explore import ExploreConfig
from embodied_stack.sim.frontiers import plan_options
from embodied_stack.sim.occupancy import OccupancyGrid


def _grid(size_m: float) -> OccupancyGrid:
    """A 6 x 3 m room seen free, walls on three sides, open (unknown) to the east, at the map's corner
    region away from its centre."""
    grid = OccupancyGrid(np.zeros(2), size_m, 0.1)
    xs, ys = np.meshgrid(np.arange(-4.0, 2.0, 0.05), np.arange(-1.5, 1.5, 0.05))
    grid.mark(np.column_stack([xs.ravel(), ys.ravel()]), occupied=False)
    wall = np.arange(-4.0, 2.0, 0.05)
    grid.mark(np.column_stack([wall, np.full_like(wall, -1.55)]), occupied=True)
    grid.mark(np.column_stack([wall, np.full_like(wall, 1.55)]), occupied=True)
    side = np.arange(-1.5, 1.5, 0.05)
    grid.mark(np.column_stack([np.full_like(side, -4.05), side]), occupied=True)
    return grid


def _reference_frontier_cells(grid: OccupancyGrid) -> set[tuple[int, int]]:
    unknown = ~(grid.seen_free | grid.occupied)
    frontier = grid.known_free() & ndimage.binary_dilation(unknown)
    return set(zip(*np.nonzero(frontier), strict=True))


def test_frontiers_in_the_window_match_the_whole_map() -> None:
    for size_m in (12.0, 150.0):
        grid = _grid(size_m)
        options = plan_options(grid, np.array([-1.0, 0.0]), clearance_m=0.23, agent_radius_m=0.18,
                               min_frontier_cells=3, blacklist=np.zeros(grid.shape, dtype=bool))
        assert options.frontiers, size_m
        found = {tuple(int(v) for v in cell) for f in options.frontiers for cell in f.cluster}
        assert found == _reference_frontier_cells(grid), size_m
        # the open east side is the frontier
        assert all(f.look_at[0] > 1.5 for f in options.frontiers)


def test_a_blacklisted_frontier_is_dropped() -> None:
    grid = _grid(150.0)
    blacklist = np.zeros(grid.shape, dtype=bool)
    for cell in _reference_frontier_cells(grid):
        blacklist[cell] = True
    options = plan_options(grid, np.array([-1.0, 0.0]), clearance_m=0.23, agent_radius_m=0.18,
                           min_frontier_cells=3, blacklist=blacklist)
    assert options.frontiers == []


def test_survey_window_holds_a_long_floor_from_either_end() -> None:
    # the office floor's corridor is 67 m; the window is centred where the robot starts
    assert SURVEY_MAP_SIZE_M / 2.0 >= 70.0
    assert ExploreConfig().map_size_m < SURVEY_MAP_SIZE_M
