"""Find what the memory has not seen: memory-guided object search over the robot's own map.

:func:`search_object` drives an :class:`~embodied_stack.sim.env.Env` with the frontier explorer
(:class:`~embodied_stack.sim.explore.FrontierExplorer`, the robot's own depth-built occupancy
map, never the scene file) and picks where to go next:

- ``mode="memory"`` (semantic frontiers, after VLFM / ESC / L3MVN): every reachable frontier and
  every room the memory holds is valued by :class:`~embodied_stack.planning.places.PlaceRanker`
  (the room types the memory inferred, commonsense about where such things usually are, what it
  saw nearby), minus a cost per metre of path; the best one wins. A room is visited once (the
  robot drives in and looks around); frontiers are valued at the unknown space beyond them.
- ``mode="frontier"``: the nearest frontier first (Yamauchi), the baseline.

Every frame goes to ``perceive`` (the caller's perception, which also feeds the memory and
returns the new observations); an observation whose category is the target's ends the search.
The ranker re-reads the memory after every ``requery_every`` frames. The search stops when the
target is seen, nothing reachable is left, or ``max_steps`` actions are spent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from embodied_stack.memory.knowledge import Knowledge, default_knowledge, normalize_phrase
from embodied_stack.planning.errors import PlanningError
from embodied_stack.planning.places import PlaceRanker, RankerConfig, target_categories
from embodied_stack.sim.env import Env
from embodied_stack.sim.explore import ExploreConfig, FrontierExplorer, nearest_frontier
from embodied_stack.sim.frontiers import Frontier, PlanOptions
from embodied_stack.sim.occupancy import OccupancyGrid
from embodied_stack.types import Frame, Pose2D
from embodied_stack.types.observations import Observation

SEARCH_MODES = ("memory", "frontier")
HOLD_BONUS = 0.5
"""A place chosen before gets this much value on top, so the search does not swing between far places."""
HOLD_RADIUS_M = 1.5
"""A frontier looking within this distance of the last chosen one counts as the same choice."""
PASS_MARGIN_M = 0.2
"""A room's viewpoint is passed only from inside its box grown by this (a wall between does not count)."""
Perceive = Callable[[Frame], Sequence[Observation]]


@dataclass(frozen=True)
class SearchConfig:
    """Search settings.

    ``max_steps``: action budget. ``requery_every``: frames between two reads of the memory.
    ``metres_per_value``: how many metres of extra path one unit of place value is worth.
    ``visit_radius_m``: a room counts as visited once the robot came this close to its point.
    ``min_frontier_value``: frontiers valued below this are left for last.
    ``likely_room_value``: a room whose prior for the target reaches this is a likely place: it
    gets viewpoints in its four quarters once its box is ``quarter_min_size_m`` across (any
    room does at ``2 * visit_radius_m``), so that a small thing behind something is seen from
    several sides; each viewpoint is a place to turn a full circle at.
    """

    mode: str = "memory"
    max_steps: int = 600
    requery_every: int = 10
    metres_per_value: float = 12.0
    visit_radius_m: float = 1.5
    min_frontier_value: float = 0.0
    likely_room_value: float = 0.5
    quarter_min_size_m: float = 1.5
    ranker: RankerConfig = field(default_factory=RankerConfig)

    def __post_init__(self) -> None:
        if self.mode not in SEARCH_MODES:
            raise PlanningError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {self.mode!r}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 1):
            raise PlanningError(f"search max_steps must be an integer >= 1, got {self.max_steps!r}")
        if not (isinstance(self.requery_every, int) and self.requery_every >= 1):
            raise PlanningError(f"search requery_every must be an integer >= 1, got {self.requery_every!r}")
        if not self.metres_per_value > 0 or not self.visit_radius_m > 0:
            raise PlanningError("search metres_per_value and visit_radius_m must be > 0")


@dataclass
class SearchOutcome:
    """How a search ended: ``found`` with the sighting's ``position`` and ``category``, the
    actions taken, the path driven, why it stopped and the places it chose, in order."""

    target: str
    found: bool
    position: tuple[float, float, float] | None
    category: str | None
    steps: int
    path_m: float
    stop_reason: str
    chosen: list[str] = field(default_factory=list)
    trajectory: list[Pose2D] = field(default_factory=list)
    grid: OccupancyGrid | None = None

    @property
    def message(self) -> str:
        if self.found and self.position is not None:
            return (f"saw a {self.category} at ({self.position[0]:.2f}, {self.position[1]:.2f}) after "
                    f"{self.steps} steps")
        return f"did not see {self.target} in {self.steps} steps ({self.stop_reason.replace('_', ' ')})"


class SemanticChooser:
    """The memory-guided choice of the next place (a :data:`~embodied_stack.sim.explore.Chooser`)."""

    def __init__(self, ranker: PlaceRanker, config: SearchConfig) -> None:
        self.ranker = ranker
        self.config = config
        self.visited: set[str] = set()
        self.current: str | None = None
        self.current_xy: np.ndarray | None = None  # where the current choice looks (frontiers change keys)
        self.chosen: list[str] = []

    def viewpoints(self) -> list[tuple[int, str, np.ndarray, float]]:
        """(room index, key, point, radius) of the places to look from in each room the memory
        holds: its point and, in a room whose box is larger than ``2 * visit_radius_m`` across
        or a likely room (prior >= ``likely_room_value``) at least ``quarter_min_size_m`` across,
        the centres of its four quarters (a thing behind a toilet is seen from one side only).
        A viewpoint counts as visited once the robot came within its radius: ``visit_radius_m``,
        at most half the spacing of the quarters for a quarter of a likely room (passing its
        middle is not looking from each side)."""
        cfg = self.config
        out = []
        reach = cfg.visit_radius_m
        for index, room in enumerate(self.ranker.rooms):
            out.append((index, room.key, room.position, reach))
            size = room.bbox_max - room.bbox_min
            likely = self.ranker.room_value(index) >= cfg.likely_room_value
            if float(size.max()) > 2.0 * reach or (likely and float(size.max()) >= cfg.quarter_min_size_m):
                radius = min(reach, 0.25 * float(size.min())) if likely else reach
                for i, (fx, fy) in enumerate(((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))):
                    out.append((index, f"{room.key}/{i + 1}", room.bbox_min + size * np.array([fx, fy]), radius))
        return out

    def passed(self, xy: np.ndarray) -> None:
        """The robot is at ``xy``: viewpoints it came near, from inside their room's box (not
        through a wall), count as visited."""
        rooms = self.ranker.rooms
        for index, key, point, radius in self.viewpoints():
            if key in self.visited or float(np.hypot(*(point - xy))) > radius:
                continue
            room = rooms[index]
            if np.all(xy >= room.bbox_min - PASS_MARGIN_M) and np.all(xy <= room.bbox_max + PASS_MARGIN_M):
                self.visited.add(key)

    def done(self, target: Frontier, _arrived: bool) -> None:
        if target.key:
            self.visited.add(target.key)
        if target.key == self.current:
            self.current = None
        self.current_xy = None

    def __call__(self, pose: Pose2D, options: PlanOptions) -> Frontier | None:
        cfg = self.config
        self.passed(pose.xy)
        scored: list[tuple[float, Frontier]] = []
        if options.frontiers:
            look = np.array([f.look_at for f in options.frontiers])
            goal = np.array([f.goal for f in options.frontiers])
            away = look - goal
            norm = np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)
            beyond = look + away / norm * 1.0
            value = 0.5 * (self.ranker.values(look) + self.ranker.values(beyond))
            if self.current_xy is not None and self.current is None:  # keep to a choice: no dithering
                value += HOLD_BONUS * (np.linalg.norm(look - self.current_xy, axis=1) <= HOLD_RADIUS_M)
            for f, v in zip(options.frontiers, value.tolist(), strict=True):
                scored.append((v * cfg.metres_per_value - f.distance_m, f))
        for index, key, point, _radius in self.viewpoints() if cfg.ranker.use_rooms else []:
            if key in self.visited:
                continue
            place = options.place(point, key=key)
            if place is None:
                continue
            value = cfg.ranker.seen_discount * self.ranker.room_value(index)
            bonus = HOLD_BONUS if key == self.current else 0.0  # keep to a choice: no dithering
            scored.append(((value + bonus) * cfg.metres_per_value - place.distance_m, place))
        if not scored:
            return None
        best = max(scored, key=lambda s: s[0])[1]
        self.current = best.key or None
        self.current_xy = np.asarray(best.look_at, dtype=np.float64)
        label = best.key or f"frontier ({best.look_at[0]:.1f}, {best.look_at[1]:.1f})"
        if not self.chosen or self.chosen[-1] != label:
            self.chosen.append(label)
        return best


def search_object(
    env: Env,
    target: str,
    memory: Any,
    perceive: Perceive | None,
    *,
    config: SearchConfig | None = None,
    explore_config: ExploreConfig | None = None,
    grid: OccupancyGrid | None = None,
    knowledge: Knowledge | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> SearchOutcome:
    """Look for ``target`` (a phrase: "the laundry basket") from where the robot stands.

    ``memory`` ranks places (mode "memory") and names the target's categories when the phrase
    names none ("something to sit on": the categories of its good memory hits). ``perceive``
    sees every frame and returns its observations; without it nothing can be found and the
    search only explores. ``grid`` continues the robot's own map. ``on_frame`` also sees every
    frame (recording).
    """
    cfg = config or SearchConfig()
    knowledge = knowledge or default_knowledge()
    categories = target_categories(knowledge, target)
    if not categories and memory is not None:
        result = memory.query(target, k=5)
        categories = sorted({str(h.category or h.name) for h in result.hits
                             if int(h.level) == 0 and float(h.score) >= 0.25})
    wanted = {knowledge.canonical(c) or normalize_phrase(c) for c in categories}
    explore_cfg = replace(explore_config or ExploreConfig(), max_steps=cfg.max_steps)
    found: list[Observation] = []
    frames = 0
    chooser: SemanticChooser | None = None
    if cfg.mode == "memory" and memory is not None:
        chooser = SemanticChooser(PlaceRanker(memory, categories, cfg.ranker, knowledge), cfg)

    def frame_seen(frame: Frame) -> None:
        nonlocal frames
        frames += 1
        if on_frame is not None:
            on_frame(frame)
        if perceive is None:
            return
        for obs in perceive(frame):
            name = normalize_phrase(str(obs.category))
            if (knowledge.canonical(name) or name) in wanted and not found:
                found.append(obs)
        if chooser is not None and frames % cfg.requery_every == 0:
            chooser.ranker.refresh()

    explorer = FrontierExplorer(env, explore_cfg, choose=chooser or nearest_frontier,
                                on_done=chooser.done if chooser else None, grid=grid)
    result = explorer.run(on_frame=frame_seen, reset=False, stop=lambda: bool(found), truth=None)
    xy = np.array([[p.x, p.y] for p in result.trajectory])
    path = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum()) if len(xy) > 1 else 0.0
    hit = found[0] if found else None
    stop = "found" if hit is not None else result.stop_reason
    return SearchOutcome(
        target=target, found=hit is not None,
        position=tuple(float(v) for v in hit.position) if hit is not None else None,  # type: ignore[arg-type]
        category=str(hit.category) if hit is not None else None, steps=result.steps, path_m=path,
        stop_reason=stop,
        chosen=chooser.chosen if chooser else [], trajectory=result.trajectory, grid=result.grid,
    )
