"""``embodied-stack memory ingest|query|stats|export|rebuild`` and ``embodied-stack bench memory``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_STORE_HELP = "memory store directory (created by ingest; must lie inside --root)"


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    memory = groups["memory"]
    p = memory.add_parser(
        "ingest", help="add observations (JSONL) to a memory store",
        description="Fuse observations from JSONL files (format embodied-stack.observations/1, see "
        "docs/formats.md) into a persistent semantic-forest memory. Bad lines are rejected and reported; "
        "each batch is committed, so an interrupted ingest keeps every finished batch.")
    p.add_argument("files", nargs="+", type=Path, help="observation JSONL files")
    _common(p)
    p.add_argument("--map", type=Path, help="ROS map_server map.yaml: walls, rooms and reachable poses")
    p.add_argument("--scene", type=Path, help="scene JSON (embodied-stack.scene/1) whose room polygons to use")
    p.add_argument("--batch-size", type=int, help="observations per committed batch")
    p.set_defaults(func=_ingest)

    p = memory.add_parser("query", help="ask the memory a question",
                          description="Answer a question from a memory store: explicit (names a thing), "
                          "implicit (names a need), global (about a region) or temporal (about when).")
    p.add_argument("text", help="the question, e.g. 'where is the fridge?'")
    _common(p)
    p.add_argument("--kind", choices=["explicit", "implicit", "global", "temporal"], help="skip kind detection")
    p.add_argument("-k", type=int, default=5, help="number of hits (default 5)")
    p.add_argument("--mode", choices=["forest", "flat"], default="forest",
                   help="forest (default) or flat, the plain-RAG baseline (leaf k-NN only)")
    p.add_argument("--pose", type=float, nargs=3, metavar=("X", "Y", "YAW"), help="robot pose in map")
    p.add_argument("--map", type=Path, help="override the map stored at ingest")
    p.add_argument("--scene", type=Path, help="override the scene stored at ingest")
    p.set_defaults(func=_query)

    p = memory.add_parser("stats", help="counts of a memory store", description="Print a store's counts.")
    _common(p)
    p.set_defaults(func=_stats)

    p = memory.add_parser("export", help="export a memory for inspection (JSON or GraphML)",
                          description="Write every node and leaf with their links, for people and tools to read.")
    _common(p)
    p.add_argument("--format", choices=["json", "graphml"], default="json")
    p.add_argument("--out", type=Path, required=True, help="output file")
    p.set_defaults(func=_export)

    p = memory.add_parser("rebuild", help="rebuild the whole forest from the leaves",
                          description="Re-cluster, re-summarise and re-embed every parent node and rebuild the index.")
    _common(p)
    p.set_defaults(func=_rebuild)

    p = groups["bench"].add_parser(
        "memory", help="memory ingest/build/query benchmark on synthetic leaves",
        description="Build a memory of N synthetic leaves (realistic categories and captions over many rooms) "
        "and measure ingest throughput against the embedder's raw batch throughput, full-build time, "
        "incremental inserts, query latency (with and without the query embedding, forest and flat), "
        "and resident memory.")
    p.add_argument("--leaves", type=int, default=10_000, help="number of synthetic objects (leaves)")
    p.add_argument("--queries", type=int, default=300, help="timed queries per mode")
    p.add_argument("--stream-leaves", type=int, default=10_000,
                   help="leaves for the one-by-one vs batch comparison (0 skips it)")
    p.add_argument("--inserts", type=int, default=200, help="single-leaf inserts timed on the full memory")
    p.add_argument("--embedder", default="default", help="embedder spec (default: packaged MiniLM)")
    p.add_argument("--workdir", type=Path, help="where to put the store (default: a temporary directory)")
    p.add_argument("--in-memory", action="store_true", help="no store (measures the core alone)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for batch embedding (0: torch's default; 1 is faster on a busy machine)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=_bench)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, required=True, help=_STORE_HELP)
    p.add_argument("--root", type=Path, help="memory root (default: the config's memory_root, '.')")
    p.add_argument("--embedder", help="embedder spec: default, minilm, hash[:DIM], a model directory, SCHEME:ARG")
    p.add_argument("--config", type=Path, help="memory settings YAML (MemoryConfig fields)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def _config(args: argparse.Namespace) -> Any:
    from embodied_stack.memory.config import MemoryConfig

    config = MemoryConfig.from_yaml(args.config) if args.config else MemoryConfig()
    if args.embedder:
        config.embedder = args.embedder
    if getattr(args, "batch_size", None):
        config.ingest_batch_size = args.batch_size
    return config


def _spatial(map_path: Path | None, scene_path: Path | None) -> Any:
    from embodied_stack.memory.spatial import OccupancyMapContext, RoomPolygons, rooms_from_scene

    rooms = rooms_from_scene(scene_path) if scene_path else None
    if map_path:
        return OccupancyMapContext.from_map_yaml(map_path, rooms=rooms)
    return RoomPolygons(rooms) if rooms is not None else None


def _quiet_libraries(args: argparse.Namespace) -> None:
    """Keep FAISS and sentence-transformers start-up chatter out of the output unless -v."""
    import logging

    if not getattr(args, "verbose", False):
        for name in ("faiss", "sentence_transformers", "transformers"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _open(args: argparse.Namespace, *, create: bool, spatial: Any = None) -> Any:
    from embodied_stack.memory.semantic_memory import SemanticMemory

    _quiet_libraries(args)
    return SemanticMemory.open(args.store, root=args.root if args.root else None, create=create,
                               config=_config(args), spatial=spatial)


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(text)
    if args.json:
        print(json.dumps(data, separators=(",", ":")))


def _observations(paths: list[Path], bad: list[dict[str, str]]) -> Iterator[Any]:
    """Observations of JSONL files; bad lines go to ``bad`` (where, reason) and are skipped."""
    from embodied_stack.memory.types import read_observations_jsonl

    for path in paths:
        yield from read_observations_jsonl(path, bad=bad)


def _ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    spatial = _spatial(args.map, args.scene)
    bad: list[dict[str, str]] = []
    with _open(args, create=True, spatial=spatial) as memory:
        notes = {k: str(v.resolve()) for k, v in (("map", args.map), ("scene", args.scene)) if v}
        if notes:
            memory.set_notes(**notes)
        items = tqdm(_observations(args.files, bad), desc="ingest", unit="obs", file=sys.stderr, disable=None)
        report = memory.ingest(items)
        stats = memory.stats()
    for rejected in bad:
        print(f"rejected {rejected['where']}: {rejected['reason']}", file=sys.stderr)
    data = {**report.to_dict(), "rejected": bad, "stats": stats.to_dict()}
    _print(args, data, f"ingested {report.accepted} observation(s) into {stats.leaves} leaves "
           f"({report.new_leaves} new, {report.merged} merged, {len(bad)} rejected); "
           f"{stats.nodes} parent nodes in {stats.levels} levels")
    return 0


def _query(args: argparse.Namespace) -> int:
    from embodied_stack.types import Pose2D

    with _open(args, create=False) as memory:
        notes = memory.notes
        map_path = args.map or (Path(notes["map"]) if "map" in notes else None)
        scene_path = args.scene or (Path(notes["scene"]) if "scene" in notes else None)
        memory.spatial = _spatial(map_path, scene_path)
        pose = Pose2D(*args.pose) if args.pose else None
        result = memory.query(args.text, kind=args.kind, k=args.k, robot_pose=pose, mode=args.mode)
    lines = [f"[{result.kind.value}] {result.answer}"]
    for rank, hit in enumerate(result.hits, start=1):
        lines.append(f"{rank}. {hit.name} (level {hit.level}, score {hit.score:.3f}) at "
                     f"({hit.position[0]:.2f}, {hit.position[1]:.2f}, {hit.position[2]:.2f}); go to "
                     f"({hit.target_pose.x:.2f}, {hit.target_pose.y:.2f}, yaw {hit.target_pose.yaw:.2f})")
    _print(args, result.to_dict(), "\n".join(lines))
    return 0


def _stats(args: argparse.Namespace) -> int:
    with _open(args, create=False) as memory:
        stats = memory.stats()
    levels = ", ".join(f"level {k}: {v}" for k, v in sorted(stats.nodes_per_level.items()))
    _print(args, stats.to_dict(), f"{stats.leaves} leaves from {stats.observations} observations; "
           f"{stats.nodes} parent nodes ({levels}); {stats.categories} categories, {stats.rooms} rooms; "
           f"embedder {stats.embedder} ({stats.dim}-d); index {stats.index}")
    return 0


def _export(args: argparse.Namespace) -> int:
    with _open(args, create=False) as memory:
        path = memory.export_json(args.out) if args.format == "json" else memory.export_graphml(args.out)
    _print(args, {"out": str(path), "format": args.format}, f"wrote {path}")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    import time

    with _open(args, create=False) as memory:
        start = time.perf_counter()
        memory.rebuild()
        seconds = time.perf_counter() - start
        stats = memory.stats()
    _print(args, {"rebuild_s": seconds, "stats": stats.to_dict()},
           f"rebuilt {stats.nodes} parent nodes over {stats.leaves} leaves in {seconds:.2f} s")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from embodied_stack.memory.bench import run_benchmark

    _quiet_libraries(args)
    figures = run_benchmark(leaves=args.leaves, queries=args.queries, stream_leaves=args.stream_leaves,
                            inserts=args.inserts, embedder=args.embedder, workdir=args.workdir,
                            in_memory=args.in_memory, seed=args.seed, threads=args.threads)
    lines = [f"{key}: {value}" for key, value in figures.items() if not isinstance(value, dict)]
    lines += [f"{key}: {json.dumps(value)}" for key, value in figures.items() if isinstance(value, dict)]
    _print(args, figures, "\n".join(lines))
    return 0
