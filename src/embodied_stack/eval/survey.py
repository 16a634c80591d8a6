"""Survey a scene: explore it in the embedded simulator and build the semantic memory on the way.

The robot knows nothing of the scene file: it explores with frontier exploration
(:mod:`embodied_stack.sim.explore`) from its own depth-built map, perceives every k-th frame
with the simulator's semantic sensor through :class:`~embodied_stack.perception.PerceptionPipeline`
(ground-truth instance masks, so detection errors are out of the picture and what is measured
is exploration, fusion and the memory), and ingests the fused observations into a
:class:`~embodied_stack.memory.semantic_memory.SemanticMemory` online, every few frames, the
way a robot builds it while it drives. The memory gets the simulator's navigable map as its
``SpatialContext``, so clusters respect rooms and the poses it answers with are reachable.

The evaluation (``eval memory``) and the demo call :func:`survey`; a ``progress`` callback
sees the step count, the exploration coverage and the memory's size as they grow.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from embodied_stack.sim.explore import (
    ExplorationResult,
    ExploreConfig,
    FrontierExplorer,
    exploration_coverage,
)
from embodied_stack.types import Frame, Pose2D

if TYPE_CHECKING:
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.perception import PerceptionPipeline
    from embodied_stack.sim.embedded import EmbeddedSim
    from embodied_stack.types.observations import Observation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurveyProgress:
    """A progress report: actions taken of the budget, coverage so far (fraction of the true
    navigable area the robot has mapped as free), memory leaves and parent nodes, observations
    ingested."""

    steps: int
    max_steps: int
    coverage: float
    leaves: int
    nodes: int
    observations: int


@dataclass
class SurveyStats:
    """What a survey did and how long each part took (wall-clock seconds on this machine).

    ``explore_s`` is everything but perception and ingest: stepping, rendering and mapping.
    ``coverage`` is the final exploration coverage; ``stop_reason`` the explorer's.
    """

    steps: int = 0
    frames: int = 0
    frames_perceived: int = 0
    collisions: int = 0
    coverage: float = math.nan
    stop_reason: str = ""
    observations: int = 0
    leaves: int = 0
    nodes: int = 0
    explore_s: float = 0.0
    perceive_s: float = 0.0
    ingest_s: float = 0.0
    total_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["coverage"] = None if math.isnan(self.coverage) else round(self.coverage, 4)
        for key in ("explore_s", "perceive_s", "ingest_s", "total_s"):
            data[key] = round(data[key], 3)
        return data


@dataclass
class SurveyResult:
    """The built memory, the robot's trajectory (pose after each action, start first), the
    statistics, the perception tallies and the explorer's own result (its occupancy grid)."""

    memory: SemanticMemory
    trajectory: list[Pose2D]
    stats: SurveyStats
    perception: dict[str, Any] = field(default_factory=dict)
    exploration: ExplorationResult | None = None


def explore_config_for(sim: EmbeddedSim, max_steps: int = 1000) -> ExploreConfig:
    """An explorer configuration matching the simulator's camera and robot."""
    cfg = sim.config
    return ExploreConfig(camera_height_m=cfg.camera_height_m, agent_radius_m=cfg.agent_radius_m,
                         agent_height_m=cfg.agent_height_m, turn_angle_deg=cfg.turn_angle_deg,
                         max_range_m=min(5.0, cfg.max_depth_m), max_steps=max_steps)


def survey(
    sim: EmbeddedSim,
    memory: SemanticMemory | None = None,
    *,
    explore_config: ExploreConfig | None = None,
    pipeline: PerceptionPipeline | None = None,
    perceive_every: int = 1,
    ingest_every: int = 20,
    progress_every: int = 10,
    start: Pose2D | None = None,
    progress: Callable[[SurveyProgress], None] | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> SurveyResult:
    """Explore ``sim`` from ``start`` (its default start when None) and build ``memory``.

    Args:
        sim: the embedded simulator (its navmap is the memory's spatial context and the
            ground truth for coverage).
        memory: the memory to fill; a new in-memory one with the default embedder and
            ``spatial=sim.navmap`` when None (a store-backed one from
            :meth:`SemanticMemory.open` commits every ingest batch).
        explore_config: explorer settings (default :func:`explore_config_for`).
        pipeline: perception pipeline (default: default settings, room ids captioned with the
            scene's room categories).
        perceive_every: perceive one frame in this many (1 = every frame).
        ingest_every: ingest the observations gathered so far after this many perceived frames.
        progress_every: call ``progress`` after this many actions (and once at the end).
        progress: receives a :class:`SurveyProgress`.
        on_frame: sees every rendered frame (the demo records them to a bag).

    Raises:
        ValueError: ``perceive_every``, ``ingest_every`` or ``progress_every`` below 1.
    """
    for name, value in (("perceive_every", perceive_every), ("ingest_every", ingest_every),
                        ("progress_every", progress_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"survey: {name} must be an integer >= 1, got {value!r}")
    if memory is None:
        from embodied_stack.memory.semantic_memory import SemanticMemory

        memory = SemanticMemory(spatial=sim.navmap)
    if pipeline is None:
        from embodied_stack.perception import PerceptionPipeline

        pipeline = PerceptionPipeline(room_names={r.id: r.category for r in sim.scene.rooms})
    explore_config = explore_config or explore_config_for(sim)
    t_start = time.perf_counter()
    explorer = FrontierExplorer(sim, explore_config)
    instances = sim.instances
    stats = SurveyStats()
    pending: list[Observation] = []
    start_pose: list[Pose2D] = []
    since_ingest = 0

    def ingest() -> None:
        nonlocal since_ingest
        since_ingest = 0
        if not pending:
            return
        t0 = time.perf_counter()
        report = memory.ingest(pending)
        stats.observations += report.accepted
        pending.clear()
        stats.ingest_s += time.perf_counter() - t0

    def perceive(frame: Frame) -> None:
        nonlocal since_ingest
        if on_frame is not None:
            on_frame(frame)
        if not start_pose:
            start_pose.append(frame.agent_pose)
        stats.frames += 1
        if (stats.frames - 1) % perceive_every:
            return
        t0 = time.perf_counter()
        pending.extend(pipeline.process_frame(frame, instances))
        stats.perceive_s += time.perf_counter() - t0
        stats.frames_perceived += 1
        since_ingest += 1
        if since_ingest >= ingest_every:
            ingest()

    def report(steps: int, max_steps: int) -> None:
        if progress is None or (steps % progress_every and steps != max_steps):
            return
        coverage = exploration_coverage(explorer.grid, sim.navmap, start_pose[0]) if explorer.grid is not None else math.nan
        size = memory.stats()
        progress(SurveyProgress(steps, max_steps, coverage, size.leaves, size.nodes, stats.observations))

    result = explorer.run(start, on_frame=perceive, progress=report, truth=sim.navmap)
    t0 = time.perf_counter()
    pending.extend(pipeline.flush())
    stats.perceive_s += time.perf_counter() - t0
    ingest()
    size = memory.stats()
    stats.steps, stats.collisions = result.steps, result.collisions
    stats.coverage, stats.stop_reason = result.coverage, result.stop_reason
    stats.leaves, stats.nodes = size.leaves, size.nodes
    stats.total_s = time.perf_counter() - t_start
    stats.explore_s = stats.total_s - stats.perceive_s - stats.ingest_s
    if progress is not None:
        progress(SurveyProgress(result.steps, explore_config.max_steps, result.coverage, size.leaves, size.nodes,
                                stats.observations))
    logger.info("survey of %s: %d steps, coverage %.3f (%s), %d frames perceived, %d observations -> %d leaves, "
                "%d nodes in %.1f s", sim.scene.name, stats.steps, stats.coverage, stats.stop_reason,
                stats.frames_perceived, stats.observations, stats.leaves, stats.nodes, stats.total_s)
    return SurveyResult(memory, result.trajectory, stats, pipeline.stats.to_dict(), result)
