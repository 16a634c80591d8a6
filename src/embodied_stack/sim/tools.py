"""``sim render`` and ``sim explore``: look through the simulator's camera, and let the robot
explore a scene from its own depth map (frontier exploration), from the command line.

Registered from :func:`embodied_stack.sim.bench.register_bench`. Heavy imports happen inside the
handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def register_tools(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``sim render`` and ``sim explore``."""
    p = groups["sim"].add_parser(
        "render",
        help="render one view of a scene to a PNG (RGB | depth | instances)",
        description="Render the simulator's camera at a pose and save RGB, depth (planar z-depth, "
        "grey scale, black = no return) and instance ids side by side.",
    )
    p.add_argument("scene", help="scene/1 JSON file (or habitat:CONFIG.yaml)")
    p.add_argument("--pose", type=float, nargs=3, metavar=("X", "Y", "YAW"), default=None,
                   help="robot pose in map metres/radians (default: a seeded random navigable pose)")
    p.add_argument("--width", type=int, default=640, help="image width (default: 640)")
    p.add_argument("--height", type=int, default=480, help="image height (default: 480)")
    p.add_argument("--seed", type=int, default=0, help="seed of the default pose (default: 0)")
    p.add_argument("--out", type=Path, required=True, help="output PNG")
    p.set_defaults(func=_cmd_render)

    p = groups["sim"].add_parser(
        "explore",
        help="explore a scene with frontier exploration and report coverage",
        description="The robot maps what its depth camera sees (not the scene file), drives to the "
        "nearest frontier until none is reachable or the step budget is spent, and reports the "
        "fraction of the navigable area it mapped. Writes the trajectory as JSON ({'poses': "
        "[[x, y, yaw], ...]}, readable by 'sim map --trajectory') and optionally a map picture.",
    )
    p.add_argument("scene", help="scene/1 JSON file (or habitat:CONFIG.yaml)")
    p.add_argument("--start", type=float, nargs=3, metavar=("X", "Y", "YAW"), default=None,
                   help="start pose (default: the simulator's seeded random navigable pose)")
    p.add_argument("--width", type=int, default=160, help="render width (default: 160)")
    p.add_argument("--height", type=int, default=120, help="render height (default: 120)")
    p.add_argument("--max-steps", type=int, default=1000, help="action budget (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the default start (default: 0)")
    p.add_argument("--out", type=Path, default=None, help="write the trajectory JSON here")
    p.add_argument("--map", type=Path, default=None, help="draw the scene with the trajectory to this PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_explore)


def _pose(values: list[float] | None):  # noqa: ANN202 - Pose2D | None, imported lazily
    from embodied_stack.types import Pose2D

    return Pose2D(*values) if values is not None else None


def _cmd_render(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
    from embodied_stack.sim.envs import make_env

    env = make_env(args.scene, config=SimConfig(seed=args.seed), width=args.width, height=args.height)
    try:
        frame = env.reset(_pose(args.pose))
    finally:
        env.close()
    depth = frame.depth
    scale = float(depth.max()) if depth.max() > 0 else 1.0
    grey = np.repeat((255.0 * (1.0 - depth / scale) * (depth > 0)).astype(np.uint8)[..., None], 3, axis=-1)
    ids = frame.instance if frame.instance is not None else np.full(depth.shape, -1)
    palette = np.random.default_rng(7).integers(40, 256, size=(int(ids.max()) + 2, 3), dtype=np.uint8)
    palette[0] = 0
    panel = np.concatenate([frame.rgb, grey, palette[ids + 1]], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(args.out)
    pose = frame.agent_pose
    logger.info("wrote %s (pose %.2f %.2f %.2f; %s)", args.out, pose.x, pose.y, pose.yaw,
                "embedded simulator" if isinstance(env, EmbeddedSim) else "habitat")
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
    from embodied_stack.sim.envs import make_env
    from embodied_stack.sim.explore import ExploreConfig, explore

    env = make_env(args.scene, config=SimConfig(seed=args.seed), width=args.width, height=args.height)
    config = ExploreConfig(max_steps=args.max_steps)
    if isinstance(env, EmbeddedSim):
        c = env.config
        config = ExploreConfig(camera_height_m=c.camera_height_m, agent_radius_m=c.agent_radius_m,
                               agent_height_m=c.agent_height_m, turn_angle_deg=c.turn_angle_deg,
                               max_range_m=min(5.0, c.max_depth_m), max_steps=args.max_steps)
    t0 = time.perf_counter()
    with tqdm(total=args.max_steps, desc="explore", unit="step", file=sys.stderr, disable=None) as bar:
        def progress(steps: int, _total: int) -> None:
            bar.update(steps - bar.n)

        try:
            result = explore(env, config, start=_pose(args.start), progress=progress)
        finally:
            env.close()
    seconds = time.perf_counter() - t0
    poses = [[round(p.x, 4), round(p.y, 4), round(p.yaw, 4)] for p in result.trajectory]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"scene": str(args.scene), "poses": poses}) + "\n", encoding="utf-8")
    if args.map is not None and isinstance(env, EmbeddedSim):
        import numpy as np

        from embodied_stack.sim.mapviz import draw_scene_map

        draw_scene_map(env.scene, args.map, navmap=env.navmap,
                       trajectories=[("exploration", np.array(poses)[:, :2])],
                       title=f"exploration: {result.steps} steps, coverage {result.coverage:.1%}")
    summary = {"steps": result.steps, "coverage": None if math.isnan(result.coverage) else round(result.coverage, 4),
               "collisions": result.collisions, "stop_reason": result.stop_reason,
               "seconds": round(seconds, 2), "steps_per_s": round(result.steps / max(seconds, 1e-9), 1)}
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0
