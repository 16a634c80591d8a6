"""``eval memory``: explore a scene, build the semantic forest, answer a query set and score it.

The run: load the scene and the query set (targets checked against the scene), survey the scene
in the embedded simulator, or on habitat-sim for ``habitat:CONFIG`` (:mod:`embodied_stack.eval.survey`:
frontier exploration, the simulated detector without instance ids, fusion, the robot's own map and
rooms, online ingest; scene-file knowledge only under ``--oracle``) or reuse a saved memory, then
ask every query twice, once through the forest (``mode="forest"``) and once through the flat-RAG
baseline (``mode="flat"``: the same leaves, embedder and knowledge, ranked as one flat list), and
score each top-1 answer strictly (:mod:`embodied_stack.eval.scoring`: horizontal distance to a
target object's box within 1.0 m, or inside a target room; the old centre rule is reported as
``loose_success``). The query kind is detected by the
memory, as it would be for a user, unless ``--oracle-kind`` hands it the labelled one; how often
detection agrees with the label is reported. Latency is the wall-clock time of each
``query()`` call after one warm-up query, including the query's embedding.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from embodied_stack.eval.oracles import Oracles
from embodied_stack.eval.scoring import STRICT_RADIUS_M, proximity_only, strict_distance_m
from embodied_stack.sim.errors import SimError
from embodied_stack.sim.queries import QUERY_KINDS, Query, QuerySet, target_distance_m

if TYPE_CHECKING:
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.sim.scene import Scene

logger = logging.getLogger(__name__)

MODES = ("forest", "flat")
SURVEY_FILE = "survey.json"
"""Written beside a saved memory (``--store-out``): the survey's figures, read back with ``--memory``."""
WARMUP_QUERY = "where is the door?"
ROOMS_FILE = "rooms.npz"
"""Written beside a saved memory: the robot's room map, its spatial context when reused."""


@dataclass(frozen=True)
class QueryOutcome:
    """One query answered in one mode: success, the top-1 hit and how far it was from a target.

    ``distance_m`` is the horizontal distance to the nearest target object centre (0 inside a
    target room; ``inf`` when there is no hit or only rooms were targeted and missed).
    """

    query_id: str
    kind: str
    mode: str
    detected_kind: str
    success: bool
    distance_m: float
    latency_s: float
    top_name: str | None
    top_level: int | None
    top_position: tuple[float, float, float] | None
    answer: str
    proximity_only: bool = False
    loose_success: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id, "kind": self.kind, "mode": self.mode, "detected_kind": self.detected_kind,
            "success": self.success, "distance_m": _finite(self.distance_m, 3),
            "latency_ms": round(1000.0 * self.latency_s, 3), "top_name": self.top_name, "top_level": self.top_level,
            "top_position": [round(v, 3) for v in self.top_position] if self.top_position else None,
            "answer": self.answer, "proximity_only": self.proximity_only, "loose_success": self.loose_success,
        }


@dataclass
class MemoryEvalReport:
    """All outcomes of a query set against one memory, with the summary figures."""

    scene: str
    queries: list[Query]
    outcomes: list[QueryOutcome] = field(default_factory=list)

    def of(self, mode: str) -> list[QueryOutcome]:
        return [o for o in self.outcomes if o.mode == mode]

    def success(self, mode: str, kind: str | None = None) -> float | None:
        """Success rate of ``mode`` over all queries or one kind; None when there are none."""
        picked = [o.success for o in self.of(mode) if kind is None or o.kind == kind]
        return float(np.mean(picked)) if picked else None

    def latency_ms(self, mode: str) -> dict[str, float | None]:
        lat = np.array([o.latency_s for o in self.of(mode)]) * 1000.0
        if len(lat) == 0:
            return {"p50": None, "p99": None, "mean": None}
        return {"p50": round(float(np.percentile(lat, 50)), 3), "p99": round(float(np.percentile(lat, 99)), 3),
                "mean": round(float(lat.mean()), 3)}

    def region_success(self, mode: str) -> float | None:
        """Global queries answered correctly *with a region* (a parent node, level >= 1) as top-1;
        the flat baseline, which only returns leaves, scores 0 here by construction."""
        picked = [o.success and (o.top_level or 0) >= 1 for o in self.of(mode) if o.kind == "global"]
        return float(np.mean(picked)) if picked else None

    def tagged_success(self, mode: str, tag: str) -> float | None:
        """Success rate of ``mode`` over the queries carrying ``tag`` (e.g. "paraphrase")."""
        tagged = {q.id for q in self.queries if tag in q.tags}
        picked = [o.success for o in self.of(mode) if o.query_id in tagged]
        return float(np.mean(picked)) if picked else None

    def kind_accuracy(self) -> float | None:
        """Fraction of queries whose detected kind (forest run) matches the label."""
        forest = self.of("forest")
        return float(np.mean([o.detected_kind == o.kind for o in forest])) if forest else None

    def summary(self) -> dict[str, Any]:
        modes = sorted({o.mode for o in self.outcomes}, key=MODES.index)
        return {
            "scene": self.scene,
            "queries": len(self.queries),
            "counts": {k: sum(q.kind == k for q in self.queries) for k in QUERY_KINDS},
            "success": {m: {"overall": _round(self.success(m)), **{k: _round(self.success(m, k)) for k in QUERY_KINDS}}
                        for m in modes},
            "global_region_success": {m: _round(self.region_success(m)) for m in modes},
            "latency_ms": {m: self.latency_ms(m) for m in modes},
            "kind_accuracy": _round(self.kind_accuracy()),
            "proximity_only": {m: sum(o.success and o.proximity_only for o in self.of(m)) for m in modes},
            "loose_success": {m: _round(float(np.mean([o.loose_success for o in self.of(m)])) if self.of(m) else None)
                              for m in modes},
        }


def evaluate_queries(
    memory: SemanticMemory,
    scene: Scene,
    query_set: QuerySet,
    *,
    modes: tuple[str, ...] = MODES,
    oracle_kind: bool = False,
    k: int = 5,
) -> MemoryEvalReport:
    """Ask every query of ``query_set`` in each mode and score the top-1 hit (see the module
    docstring). The robot pose is not given, so answers do not depend on where it stopped."""
    memory.query(WARMUP_QUERY, k=k)
    report = MemoryEvalReport(scene.name, list(query_set.queries))
    for query in query_set.queries:
        for mode in modes:
            t0 = time.perf_counter()
            result = memory.query(query.text, kind=query.kind if oracle_kind else None, k=k, mode=mode)
            latency = time.perf_counter() - t0
            top = result.hits[0] if result.hits else None
            near = loose = False
            if top is None:
                success, distance = False, math.inf
            else:
                distance = strict_distance_m(scene, query, top.position)
                success = distance <= STRICT_RADIUS_M
                loose = target_distance_m(scene, query, top.position) <= query_set.radius_of(query)
                near = success and (top.level or 0) == 0 and proximity_only(scene, query, top.position)
            report.outcomes.append(QueryOutcome(
                query.id, query.kind, mode, result.kind.value, success, distance, latency,
                top.name if top else None, top.level if top else None,
                tuple(float(v) for v in top.position) if top else None, result.answer,  # type: ignore[arg-type]
                near, loose))
    return report


def print_table(report: MemoryEvalReport, stream: TextIO) -> None:
    """One line per query: kind, detected kind, per-mode verdict, top-1 name and distance, text."""
    by_key = {(o.query_id, o.mode): o for o in report.outcomes}
    modes = [m for m in MODES if report.of(m)]
    head = f"{'id':<6} {'kind':<8} {'det':<8} " + " ".join(f"{m + ' top-1 (dist m)':<34}" for m in modes) + " text"
    print(head, file=stream)
    for q in report.queries:
        cells = []
        for m in modes:
            o = by_key[(q.id, m)]
            mark = "ok " if o.success else "-- "
            dist = f"{o.distance_m:.1f}" if math.isfinite(o.distance_m) else "inf"
            cells.append(f"{mark}{(o.top_name or '(none)')[:24]:<24} {dist:>5}"[:34].ljust(34))
        det = by_key[(q.id, modes[0])].detected_kind
        print(f"{q.id:<6} {q.kind:<8} {det:<8} " + " ".join(cells) + f" {q.text}", file=stream)


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``eval memory`` (and ``bench memory-quality``, :mod:`.large_eval`) to the CLI."""
    from embodied_stack.eval.large_eval import register as register_quality

    register_quality(groups, run_eval_memory)
    p = groups["eval"].add_parser(
        "memory",
        help="explore a scene, build the memory, answer a query set; success per kind vs flat RAG",
        description="Explore a scene in the embedded simulator (frontier exploration, the simulated detector "
        "with realistic errors and no instance ids, fusion, rooms from the robot's own map, online ingest; "
        "scene-file knowledge only with --oracle) or reuse a saved memory, answer every query of a queries/1 "
        "file with the semantic forest and with the flat-RAG baseline, and score the top-1 answers strictly "
        "(horizontal distance to a target object's box within 1.0 m, or inside a target room). Prints success overall and per kind for both, latency p50/p99, the memory's size "
        "and the exploration coverage; a per-query table goes to stderr.",
    )
    p.add_argument("--scene", required=True,
                   help="scene/1 JSON file, or habitat:CONFIG.yaml of a scene written by `sim export-habitat` "
                   "(the survey then runs on habitat-sim's frames)")
    p.add_argument("--queries", type=Path, required=True, help="queries/1 JSON file for that scene")
    p.add_argument("--memory", type=Path, default=None, metavar="DIR", help="reuse the memory saved in DIR (skips exploration)")
    p.add_argument("--store-out", type=Path, default=None, metavar="DIR", help="save the built memory to DIR (new or empty)")
    p.add_argument("--width", type=int, default=320, help="render width in pixels (default: 320)")
    p.add_argument("--height", type=int, default=240, help="render height in pixels (default: 240)")
    p.add_argument("--max-steps", type=int, default=1000, help="exploration action budget (default: 1000)")
    p.add_argument("--perceive-every", type=int, default=1, help="perceive one frame in N (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the exploration start pose (default: 0)")
    p.add_argument("--embedder", default=None, help="memory embedder spec (default: the memory's default)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads for the text embedder (default 0: torch's own choice; 1 is "
                   "much faster on a machine whose cores are busy with other work)")
    p.add_argument("--oracle-kind", action="store_true",
                   help="give the memory each query's labelled kind instead of letting it detect the kind")
    p.add_argument("--no-flat", action="store_true", help="skip the flat-RAG baseline")
    p.add_argument("--detector", default="realistic", choices=("clean", "realistic", "hard"),
                   help="simulated-detector error preset (default: realistic)")
    p.add_argument("--noise", default="realistic", choices=("none", "realistic", "hard"),
                   help="pose-estimate drift and depth noise preset (default: realistic)")
    p.add_argument("--oracle", default="", metavar="NAMES",
                   help="ablations only: comma-separated scene-file knowledge to allow: categories, identities, "
                   "rooms, map, pose (or 'all'); default none")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write every per-query outcome (JSON) here")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_eval_memory)


def _cmd_eval_memory(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    summary, report = run_eval_memory(args, log=sys.stderr)
    summary["times_s"]["total"] = round(time.perf_counter() - t_start, 3)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        full = {**summary, "outcomes": [o.to_dict() for o in report.outcomes]}
        args.out.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {json.dumps(value)}")
    return 0


def run_eval_memory(args: argparse.Namespace, log: TextIO) -> tuple[dict[str, Any], MemoryEvalReport]:
    """The body of ``eval memory`` (arguments as parsed); returns (summary, report)."""
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.sim.envs import scene_of
    from embodied_stack.sim.queries import load_queries

    for name in ("width", "height", "max_steps", "perceive_every"):
        if getattr(args, name) < 1:
            raise SimError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.memory is not None and args.store_out is not None:
        raise SimError("--store-out saves a newly surveyed memory; it cannot be combined with --memory")
    if args.threads < 0:
        raise SimError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    scene = scene_of(str(args.scene))
    query_set = load_queries(args.queries, scene)
    config = MemoryConfig(embedder=args.embedder) if args.embedder else MemoryConfig()
    times: dict[str, float] = {}
    survey_info: dict[str, Any] | None = None
    if args.memory is not None:
        from embodied_stack.sim.navmap import NavMap

        t0 = time.perf_counter()
        navmap = NavMap.from_scene(scene)
        directory = args.memory.resolve()
        sidecar = directory / SURVEY_FILE
        if sidecar.is_file():
            survey_info = json.loads(sidecar.read_text(encoding="utf-8"))
            if survey_info.get("scene") != scene.name:
                raise SimError(f"--memory {args.memory}: built by surveying scene {survey_info.get('scene')!r} "
                               f"({sidecar}), not {scene.name!r}; evaluate it with that scene")
        oracles = Oracles.parse(args.oracle)
        spatial: Any = None  # the robot's own rooms saved beside the memory; the true map only as an oracle
        if oracles.rooms and oracles.map:
            spatial = navmap
        elif (directory / ROOMS_FILE).is_file():
            from embodied_stack.memory.rooms import RoomMap

            spatial = RoomMap.load(directory / ROOMS_FILE)
        memory = SemanticMemory.load(directory, root=directory.parent, config=config, spatial=spatial)
        times["load"] = round(time.perf_counter() - t0, 3)
    elif query_set.passes or len(scene.storey_floors()) > 1:
        from embodied_stack.eval.passes import survey_passes

        memory, survey_info, times = survey_passes(scene, query_set, config, args, log)
    else:
        memory, survey_info, times = _survey(scene, config, args, log)
    temporal: list[dict[str, Any]] = []
    try:
        if query_set.passes:
            from dataclasses import replace

            from embodied_stack.eval.passes import temporal_outcomes

            temporal = temporal_outcomes(memory, scene, query_set)
            query_set = replace(query_set, queries=[q for q in query_set.queries if q.kind != "temporal"])
        report = evaluate_queries(memory, scene, query_set, modes=("forest",) if args.no_flat else MODES,
                                  oracle_kind=args.oracle_kind)
        stats = memory.stats()
    finally:
        memory.close()
    print_table(report, log)
    summary = report.summary()
    if temporal:
        summary["temporal"] = {"success": round(float(np.mean([t["success"] for t in temporal])), 4),
                               "queries": len(temporal), "outcomes": temporal}
    summary["split"] = query_set.split
    summary["paraphrase_success"] = {m: _round(report.tagged_success(m, "paraphrase")) for m in MODES if report.of(m)}
    coverage = survey_info.get("coverage") if survey_info else None
    summary.update({
        "oracle": Oracles.parse(args.oracle).to_dict(),
        "detector": args.detector,
        "noise": args.noise,
        "strict_radius_m": STRICT_RADIUS_M,
        "association": (survey_info or {}).get("association"),
        "room_segmentation": {k: v for k, v in ((survey_info or {}).get("room_segmentation") or {}).items()
                              if k != "per_room"} or None,
        "oracle_kind": bool(args.oracle_kind),
        "threads": args.threads,
        "memory_reused": args.memory is not None,
        "leaves": stats.leaves,
        "nodes": stats.nodes,
        "nodes_per_level": {str(k): v for k, v in stats.nodes_per_level.items()},
        "coverage": coverage,
        "survey": survey_info,
        "times_s": times,
    })
    return summary, report


def _survey(scene: Scene, config: MemoryConfig, args: argparse.Namespace,
            log: TextIO) -> tuple[SemanticMemory, dict[str, Any], dict[str, float]]:
    """Explore and build the memory (with a progress bar on ``log``); save it when asked."""
    from tqdm import tqdm

    from embodied_stack.eval.survey import SurveyProgress, explore_config_for, survey
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.sim.embedded import SimConfig
    from embodied_stack.sim.envs import is_habitat_spec, make_env

    if args.store_out is not None and args.store_out.exists() and any(args.store_out.iterdir()):
        raise SimError(f"--store-out {args.store_out}: not empty; give a new or empty directory")
    t0 = time.perf_counter()
    spec = str(args.scene)
    # habitat:CONFIG: habitat-sim renders the frames (its semantic sensor gives our instance ids)
    sim = make_env(spec if is_habitat_spec(spec) else scene, config=SimConfig(seed=args.seed), width=args.width,
                   height=args.height, seed=args.seed)
    memory = SemanticMemory(config)
    setup_s = time.perf_counter() - t0
    bar = tqdm(total=args.max_steps, desc=f"survey {scene.name}", unit="step", file=log, leave=False)

    def progress(p: SurveyProgress) -> None:
        bar.update(p.steps - bar.n)
        bar.set_postfix(coverage=f"{p.coverage:.2f}", leaves=p.leaves, nodes=p.nodes)

    try:
        result = survey(sim, memory, explore_config=explore_config_for(sim, args.max_steps),
                        perceive_every=args.perceive_every, progress=progress, detector=args.detector,
                        noise=args.noise, oracles=Oracles.parse(args.oracle), seed=args.seed)
    finally:
        bar.close()
    from embodied_stack.eval.quality import association_quality, room_quality

    info = {"scene": scene.name, "width": args.width, "height": args.height, "seed": args.seed,
            "perceive_every": args.perceive_every, "max_steps": args.max_steps, **result.stats.to_dict(),
            "perception": result.perception, "association": association_quality(scene, result.tracks),
            "room_segmentation": room_quality(scene, result.room_map)}
    times = {"setup": round(setup_s, 3), "survey": round(result.stats.total_s, 3)}
    if args.store_out is not None:
        t0 = time.perf_counter()
        directory = args.store_out.resolve()
        target = memory.save(directory, root=directory.parent)
        (target / SURVEY_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if result.room_map is not None:
            result.room_map.save(target / ROOMS_FILE)
        times["save"] = round(time.perf_counter() - t0, 3)
        logger.info("saved the memory to %s", target)
    return memory, info, times


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None
