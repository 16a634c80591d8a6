"""Survey a scene: explore it in the embedded simulator and build the semantic memory on the way.

The robot knows nothing of the scene file: it explores with frontier exploration
(:mod:`embodied_stack.sim.explore`) from its own depth-built map, perceives every k-th frame
through :class:`~embodied_stack.perception.PerceptionPipeline` with the simulated detector
(:class:`~embodied_stack.perception.simulated.SimulatedDetector`: misses, label confusion,
false positives, mask errors, no instance ids), and ingests the fused observations into a
:class:`~embodied_stack.memory.semantic_memory.SemanticMemory` online, every few frames, the
way a robot builds it while it drives. Perception and the robot's floor plan
(:class:`~embodied_stack.perception.mapping.FloorPlanMapper`) see the frames through
:class:`~embodied_stack.eval.noise.NoisySensor` (a drifting pose estimate, noisy depth;
``noise``). When exploration ends the floor plan is segmented into rooms, typed from the
objects seen in them, and handed to the memory as its ``SpatialContext``
(:mod:`embodied_stack.eval.robot_map`), which re-rooms its leaves and rebuilds the forest.
Oracles (``oracles``, all off by default) swap in scene-file knowledge for ablations.

The evaluation (``eval memory``) and the demo call :func:`survey`; a ``progress`` callback
sees the step count, the exploration coverage and the memory's size as they grow.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from embodied_stack.eval.noise import NoiseModel, NoisySensor
from embodied_stack.eval.oracles import Oracles
from embodied_stack.eval.views import detected_centres
from embodied_stack.memory.absence import View
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
    tracks: list[Any] = field(default_factory=list)
    """The fused tracks at the end (for association quality against the scene)."""
    room_map: Any = None
    """The robot's :class:`~embodied_stack.memory.rooms.RoomMap` (None under both map oracles)."""


SURVEY_MAP_SIZE_M = 150.0
"""Width of the robot's own map window, centred where it starts: room for a 75 m building
floor seen from either end (the explorer's 40 m default cut the far end off a 67 m office
corridor or a 41 m home, whatever the step budget). Planning works on the seen part only."""


def explore_config_for(sim: EmbeddedSim, max_steps: int = 1000) -> ExploreConfig:
    """An explorer configuration matching the simulator's camera and robot."""
    cfg = sim.config
    return ExploreConfig(camera_height_m=cfg.camera_height_m, agent_radius_m=cfg.agent_radius_m,
                         agent_height_m=cfg.agent_height_m, turn_angle_deg=cfg.turn_angle_deg,
                         max_range_m=min(5.0, cfg.max_depth_m), max_steps=max_steps,
                         map_size_m=SURVEY_MAP_SIZE_M)


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
    detector: str = "realistic",
    noise: str | NoiseModel = "realistic",
    oracles: Oracles | None = None,
    seed: int = 0,
) -> SurveyResult:
    """Explore ``sim`` from ``start`` (its default start when None) and build ``memory``.

    Args:
        sim: the embedded simulator (its navmap is the ground truth for coverage, and the
            memory's context only under the ``rooms`` + ``map`` oracles).
        memory: the memory to fill; a new in-memory one with the default embedder when None
            (a store-backed one from :meth:`SemanticMemory.open` commits every ingest batch).
            Its spatial context is replaced at the end (:meth:`SemanticMemory.set_spatial`).
        explore_config: explorer settings (default :func:`explore_config_for`).
        pipeline: perception pipeline (default: default settings, labels compared with the
            memory's embedder).
        perceive_every: perceive one frame in this many (1 = every frame).
        ingest_every: ingest the observations gathered so far after this many perceived frames.
        progress_every: call ``progress`` after this many actions (and once at the end).
        progress: receives a :class:`SurveyProgress`.
        on_frame: sees every rendered frame (the demo records them to a bag).
        detector: simulated-detector preset (``clean``, ``realistic``, ``hard``).
        noise: pose-estimate and depth noise preset (``none``, ``realistic``, ``hard``) or model.
        oracles: scene-file knowledge allowed for an ablation (default: none).
        seed: seed of the detector's and the noise's draws.

    Raises:
        ValueError: ``perceive_every``, ``ingest_every`` or ``progress_every`` below 1.
    """
    for name, value in (("perceive_every", perceive_every), ("ingest_every", ingest_every),
                        ("progress_every", progress_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"survey: {name} must be an integer >= 1, got {value!r}")
    from embodied_stack.perception import PerceptionPipeline
    from embodied_stack.perception.labels import LabelSimilarity
    from embodied_stack.perception.mapping import FloorPlanMapper
    from embodied_stack.perception.simulated import DetectorErrors, SimulatedDetector

    oracles = oracles or Oracles()
    if memory is None:
        from embodied_stack.memory.semantic_memory import SemanticMemory

        memory = SemanticMemory()
    embed = memory.embedder.embed
    if pipeline is None:
        pipeline = PerceptionPipeline(similarity=LabelSimilarity(embed))
    errors = DetectorErrors.preset(detector)
    if oracles.categories:
        errors = replace(errors, confusion_rate=0.0, false_positives_per_frame=0.0)
    sensor_detector = SimulatedDetector(sim.instances, errors, seed=seed, keep_identities=oracles.identities)
    model = NoiseModel.preset(noise) if isinstance(noise, str) else noise
    if oracles.pose:
        model = model.without_pose_noise()
    sensor = NoisySensor(model, seed=seed + 1)
    explore_config = explore_config or explore_config_for(sim)
    t_start = time.perf_counter()
    explorer = FrontierExplorer(sim, explore_config)
    mapper: FloorPlanMapper | None = None
    stats = SurveyStats()
    pending: list[Observation] = []
    views: list[View] = []  # what each perceived frame looked at (negative evidence, memory/absence.py)
    start_pose: list[Pose2D] = []
    since_ingest = 0

    def ingest() -> None:
        nonlocal since_ingest
        since_ingest = 0
        if not pending and not views:
            return
        t0 = time.perf_counter()
        report = memory.ingest(pending, views=list(views))
        stats.observations += report.accepted
        pending.clear()
        views.clear()
        stats.ingest_s += time.perf_counter() - t0

    def perceive(frame: Frame) -> None:
        nonlocal since_ingest, mapper
        if on_frame is not None:
            on_frame(frame)
        if not start_pose:
            start_pose.append(frame.agent_pose)
        stats.frames += 1
        measured = sensor(frame)
        if mapper is None:
            mapper = FloorPlanMapper((measured.agent_pose.x, measured.agent_pose.y),
                                     camera_height_m=explore_config.camera_height_m)
        mapper.integrate(measured.depth, measured.intrinsics, measured.camera_pose)
        if (stats.frames - 1) % perceive_every:
            return
        t0 = time.perf_counter()
        pending.extend(pipeline.process(
            measured.rgb, measured.depth, measured.intrinsics, measured.camera_pose, measured.timestamp,
            measured.instance, measured.semantic, detector=sensor_detector))
        views.append(View.from_frame(measured, *detected_centres(pipeline, frame.timestamp)))
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
    t0 = time.perf_counter()
    tracks = list(pipeline.fusion.confirmed)
    room_map, rooms_info = None, {}
    if mapper is not None:
        from embodied_stack.eval.robot_map import survey_context

        context, room_map, rooms_info = survey_context(sim, mapper, tracks, oracles,
                                                       robot_radius_m=explore_config.agent_radius_m, embed=embed)
        memory.set_spatial(context)
    stats.ingest_s += time.perf_counter() - t0
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
    perception = {**pipeline.stats.to_dict(), "detector": {"preset": detector, **sensor_detector.stats.to_dict()},
                  "noise": {"preset": noise if isinstance(noise, str) else "custom", "pose_noise": model.has_pose_noise,
                            **sensor.summary()},
                  "rooms": rooms_info}
    return SurveyResult(memory, result.trajectory, stats, perception, result, tracks, room_map)
