"""``embodied-stack bench sim``: rendering, stepping and geodesic-query speed of the embedded simulator.

Measured on one core: the process is pinned to a single CPU (``os.sched_setaffinity``, where the
OS has it), Embree casts with ``nthreads=1`` and BLAS pools are limited to one thread. Frame rates
are reported per CPU-second of this process (``fps``: what one dedicated core delivers) and per
wall-clock second (``fps_wall``: lower when other processes share the core). ``fps`` is the
simulator's default renderer (adaptive: half-resolution cast, flat cells filled analytically),
``exact_fps`` the one-ray-per-pixel renderer, and ``adaptive_pixel_agreement`` the fraction of
pixels on which the two agree exactly (labels and colour). Both come with a baseline measured in
the same run on the same poses: a straightforward renderer that rebuilds its rays every frame
with open3d's ``create_rays_pinhole`` and shades per pixel from the hit normals (``speedup`` =
baseline time / adaptive time, ``exact_speedup`` = baseline time / exact time).

Registered from :mod:`embodied_stack.sim.cli` through :func:`register_bench` (which also adds
``sim render`` and ``sim explore`` from :mod:`embodied_stack.sim.tools`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

TARGET_FPS = {"160x120": 300.0, "640x480": 30.0}
"""The issue's targets, frames per second on one core."""


def register_bench(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``bench sim`` to the CLI groups, and the rendering side's ``sim render`` and
    ``sim explore`` (:mod:`embodied_stack.sim.tools`)."""
    from embodied_stack.sim.tools import register_tools

    register_tools(groups)
    p = groups["bench"].add_parser(
        "sim",
        help="frames/s, steps/s and geodesic query time of the embedded simulator on one core",
        description="Render RGB + depth + instances + categories from random navigable poses of "
        "each scene at each resolution, step the agent, and time geodesic queries, on one core. "
        "Prints per-scene figures and a summary against the targets (300 fps at 160x120, 30 fps "
        "at 640x480), each render figure with a naive-renderer baseline from the same run.",
    )
    p.add_argument("--scene", type=Path, action="append", default=[],
                   help="scene/1 file (repeatable; default: sim/scenes/*.json and the AWS house when present)")
    p.add_argument("--resolutions", default="160x120,640x480", help="comma-separated WxH (default: 160x120,640x480)")
    p.add_argument("--frames", type=int, default=0,
                   help="frames per scene and resolution (default: about one second of rendering each)")
    p.add_argument("--steps", type=int, default=300, help="agent steps per scene (default: 300)")
    p.add_argument("--queries", type=int, default=20, help="geodesic queries per scene (default: 20)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled poses (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_bench_sim)


def default_scenes() -> list[Path]:
    """The shipped scenes (``<repo>/sim/scenes``) and the AWS house (``<repo>/../shared/data``)."""
    import embodied_stack

    repo = Path(embodied_stack.__file__).resolve().parents[2]
    shipped = sorted((repo / "sim" / "scenes").glob("*.json"))
    aws = repo / ".." / "shared" / "data" / "scene_aws_small_house" / "aws_small_house.scene.json"
    return shipped + ([aws.resolve()] if aws.exists() else [])


@contextlib.contextmanager
def one_core(pin: bool = True) -> Iterator[int | None]:
    """Run the block on one CPU with single-threaded BLAS (through threadpoolctl when installed;
    the renderer itself uses no BLAS); yields the pinned CPU (None if not pinned)."""
    previous = os.sched_getaffinity(0) if pin and hasattr(os, "sched_getaffinity") else None
    cpu = min(previous) if previous else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        with _blas_one_thread():
            yield cpu
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)


def _blas_one_thread() -> contextlib.AbstractContextManager[Any]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _timed(fn: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``fn(i)`` for i in range(n)."""
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return time.process_time() - c0, time.perf_counter() - w0


class NaiveRenderer:
    """The baseline: rays rebuilt each frame with ``create_rays_pinhole`` and per-pixel shading."""

    def __init__(self, renderer: Any) -> None:
        self._r = renderer
        self._o3d = renderer._o3d
        mesh = renderer.mesh
        self._colors = np.vstack([mesh.colors, np.zeros((1, 3), dtype=np.float32)])
        self._inst = np.append(mesh.instance_ids, -1)
        self._sem = np.append(mesh.category_ids, -1)

    def render(self, intrinsics: Any, camera_pose: np.ndarray) -> tuple[np.ndarray, ...]:
        from embodied_stack.sim.render import AMBIENT, GAMMA, SKY_LIGHT

        o3d = self._o3d
        rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
            o3d.core.Tensor(intrinsics.matrix()), o3d.core.Tensor(np.linalg.inv(camera_pose)),
            intrinsics.width, intrinsics.height)
        hit = self._r._scene.cast_rays(rays, nthreads=1)
        prim = hit["primitive_ids"].numpy().astype(np.int64)
        prim[prim >= len(self._colors) - 1] = len(self._colors) - 1
        normals = hit["primitive_normals"].numpy()
        shade = AMBIENT + (1.0 - AMBIENT) * (0.5 + 0.5 * normals @ SKY_LIGHT.astype(np.float32))
        rgb = (255.0 * np.clip(self._colors[prim] * shade[..., None], 0, 1) ** (1.0 / GAMMA)).astype(np.uint8)
        depth = hit["t_hit"].numpy()
        depth = np.where(np.isfinite(depth), depth, 0.0)
        return rgb, depth, self._inst[prim], self._sem[prim]


def _render_pose(renderer: Any, intrinsics: Any, poses: list[np.ndarray], i: int) -> Any:
    return renderer.render(intrinsics, poses[i % len(poses)])


def _same_pixels(a: Any, b: Any) -> float:
    """Fraction of pixels with identical colour, instance and category in two renders."""
    same = (a.instance == b.instance) & (a.semantic == b.semantic) & np.all(a.rgb == b.rgb, axis=-1)
    return float(same.mean())


def bench_scene(path: Path, resolutions: list[tuple[int, int]], frames: int, steps: int, queries: int,
                seed: int) -> dict[str, Any]:
    """All figures for one scene."""
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
    from embodied_stack.sim.render import Renderer, camera_pose_matrix
    from embodied_stack.sim.scene import load_scene
    from embodied_stack.types import Action, CameraIntrinsics, Pose2D

    scene = load_scene(path)
    t0 = time.perf_counter()
    sim = EmbeddedSim(scene, SimConfig(width=160, height=120, render_threads=1, seed=seed))
    setup_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    xy = sim.navmap.sample_navigable(rng, 64)
    poses = [camera_pose_matrix(Pose2D(float(x), float(y), float(rng.uniform(-math.pi, math.pi))), 0.88)
             for x, y in xy]
    renderer, naive = sim.renderer, NaiveRenderer(sim.renderer)
    out: dict[str, Any] = {"scene": scene.name, "path": str(path), "rooms": len(scene.rooms),
                           "objects": len(scene.objects), "triangles": int(len(renderer.mesh.triangles)),
                           "setup_s": round(setup_s, 3), "render": {}}
    exact = Renderer(renderer.mesh, nthreads=1)
    for w, h in resolutions:
        k = CameraIntrinsics.from_hfov(w, h, math.radians(79.0))
        n = frames if frames > 0 else max(5, int(round(6.0e6 / (w * h))))
        timings = {}
        for name, r in (("adaptive", renderer), ("exact", exact), ("baseline", naive)):
            render_pose: Callable[[int], Any] = partial(_render_pose, r, k, poses)
            render_pose(0)
            timings[name] = _timed(render_pose, n)
        agree = [_same_pixels(renderer.render(k, p), exact.render(k, p)) for p in poses[: min(n, 16)]]
        cpu, wall = timings["adaptive"]
        out["render"][f"{w}x{h}"] = {
            "frames": n, "fps": round(n / cpu, 1), "fps_wall": round(n / wall, 1),
            "ms_per_frame": round(1000.0 * cpu / n, 3),
            "exact_fps": round(n / timings["exact"][0], 1), "exact_fps_wall": round(n / timings["exact"][1], 1),
            "baseline_fps": round(n / timings["baseline"][0], 1),
            "speedup": round(timings["baseline"][0] / cpu, 2),
            "exact_speedup": round(timings["baseline"][0] / timings["exact"][0], 2),
            "adaptive_pixel_agreement": round(float(np.mean(agree)), 7),
        }
    actions = rng.choice([Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT], size=steps, p=[0.6, 0.2, 0.2])
    sim.reset()
    cpu, wall = _timed(lambda i: sim.step(Action(int(actions[i]))), steps)
    out["steps_per_s_160x120"] = round(steps / cpu, 1)
    out["steps_per_s_160x120_wall"] = round(steps / wall, 1)
    from embodied_stack.sim.motion import move_agent

    pose = sim.agent_pose

    def motion(i: int) -> None:
        nonlocal pose
        pose = move_agent(sim.navmap, pose, Action(int(actions[i]))).pose

    cpu, _ = _timed(motion, steps)
    out["motion_steps_per_s"] = round(steps / cpu, 1)
    pairs = sim.navmap.sample_navigable(rng, 2 * queries).reshape(queries, 2, 2)
    cpu, _ = _timed(lambda i: sim.navmap.geodesic_distance(pairs[i, 0], pairs[i, 1]), queries)
    out["geodesic_ms"] = round(1000.0 * cpu / queries, 3)
    cpu, _ = _timed(lambda i: sim.navmap.geodesic_distance(pairs[i, 0] + 0.01, pairs[i, 1]), queries)
    out["geodesic_cached_ms"] = round(1000.0 * cpu / queries, 3)
    return out


def run_bench(scenes: list[Path], resolutions: list[tuple[int, int]], *, frames: int = 0, steps: int = 300,
              queries: int = 20, seed: int = 0, pin: bool = True) -> dict[str, Any]:
    """Benchmark every scene on one core; returns the JSON-ready report."""
    results = []
    with one_core(pin) as cpu:
        for path in scenes:
            logger.info("bench sim: %s", path)
            results.append(bench_scene(path, resolutions, frames, steps, queries, seed))
    summary: dict[str, Any] = {}
    for w, h in resolutions:
        key = f"{w}x{h}"
        fps = [r["render"][key]["fps"] for r in results]
        exact_fps = [r["render"][key]["exact_fps"] for r in results]
        summary[key] = {"fps_min": min(fps), "fps_median": float(np.median(fps)),
                        "fps_wall_min": min(r["render"][key]["fps_wall"] for r in results),
                        "exact_fps_min": min(exact_fps),
                        "speedup_median": float(np.median([r["render"][key]["speedup"] for r in results])),
                        "adaptive_pixel_agreement_min": min(r["render"][key]["adaptive_pixel_agreement"]
                                                            for r in results)}
        if key in TARGET_FPS:
            summary[key]["target_fps"] = TARGET_FPS[key]
            summary[key]["meets_target"] = bool(min(fps) >= TARGET_FPS[key])
            summary[key]["exact_meets_target"] = bool(min(exact_fps) >= TARGET_FPS[key])
    summary["steps_per_s_160x120_min"] = min(r["steps_per_s_160x120"] for r in results)
    summary["geodesic_ms_max"] = max(r["geodesic_ms"] for r in results)
    return {"bench": "sim", "pinned_cpu": cpu, "embree_threads": 1, "cpu_count": os.cpu_count(),
            "scenes": results, "summary": summary}


def _parse_resolutions(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        try:
            w, h = (int(v) for v in part.lower().split("x"))
        except ValueError as err:
            raise SystemExit(f"embodied-stack: error: --resolutions: expected WxH like 160x120, got {part!r}") from err
        if w <= 0 or h <= 0:
            raise SystemExit(f"embodied-stack: error: --resolutions: sizes must be positive, got {part!r}")
        out.append((w, h))
    return out


def _cmd_bench_sim(args: argparse.Namespace) -> int:
    from embodied_stack.sim.errors import SimError

    scenes = list(args.scene) or default_scenes()
    if not scenes:
        raise SimError("bench sim: no scenes found under sim/scenes and no --scene given")
    report = run_bench(scenes, _parse_resolutions(args.resolutions), frames=args.frames, steps=args.steps,
                       queries=args.queries, seed=args.seed, pin=not args.no_pin)
    if args.json:
        print(json.dumps(report))
        return 0
    for r in report["scenes"]:
        figures = ", ".join(f"{key}: {v['fps']} fps ({v['speedup']}x baseline)" for key, v in r["render"].items())
        print(f"{r['scene']}: {figures}; {r['steps_per_s_160x120']} steps/s; geodesic {r['geodesic_ms']} ms")
    print(json.dumps(report["summary"], indent=1))
    return 0
