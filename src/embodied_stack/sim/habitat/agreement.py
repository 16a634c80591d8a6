"""Shortest paths of episodes on both simulators: the embedded grid's geodesic to each episode's
goal region and habitat-sim's navmesh geodesic to the same region (its border points, through
``MultiGoalShortestPath``), for the agreement check of ``tests/sim/test_habitat_agreement.py``
and ``eval nav --compare``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from embodied_stack.sim.embedded import SimConfig
from embodied_stack.sim.episodes import EpisodeSet
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene

Geodesic = Callable[[np.ndarray, np.ndarray], float]
"""(start_xy (2,), goals_xy (M, 2)) -> metres to the nearest goal (inf when unreachable)."""


def scene_navmap(scene: Scene, config: SimConfig | None = None) -> NavMap:
    """The navigable map the embedded simulator builds for a scene (same resolution and radius)."""
    cfg = config or SimConfig()
    return NavMap.from_scene(scene, resolution_m=cfg.navmap_resolution_m, agent_radius_m=cfg.agent_radius_m,
                             agent_height_m=cfg.agent_height_m)


def shortest_paths(scene: Scene, episodes: EpisodeSet, *, navmap: NavMap | None = None,
                   other: Geodesic | None = None) -> list[dict[str, Any]]:
    """Per episode: ``embedded_m`` (grid geodesic from the start to the goal region, 0 inside)
    and, with ``other``, ``other_m`` (that simulator's geodesic to the region's border points)."""
    navmap = navmap or scene_navmap(scene)
    out = []
    for e in episodes.episodes:
        goal = episodes.goal(scene, navmap, e)
        row: dict[str, Any] = {"id": e.id, "embedded_m": round(float(goal.distance(e.start.xy)), 4)}
        if other is not None:
            inside = goal.contains(e.start.xy)
            row["other_m"] = 0.0 if inside else round(float(other(e.start.xy, goal.boundary_xy())), 4)
        out.append(row)
    return out


def relative_gap(a: float, b: float) -> float:
    """|a - b| / max(a, b) (0 when both are 0; inf when one is unreachable)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0 if a == b else math.inf
    top = max(abs(a), abs(b))
    return abs(a - b) / top if top > 0 else 0.0
