"""Simulation subcommands: ``sim generate``, ``sim map``, ``sim episodes`` and ``sim export-habitat``
(``eval nav`` lives in :mod:`embodied_stack.eval.nav_cli`).

The rendering side (``bench sim`` and friends) registers through
:func:`embodied_stack.sim.bench.register_bench`, called from :func:`register` when present.
Heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add this subpackage's subcommands to the top-level CLI groups."""
    p = groups["sim"].add_parser(
        "generate",
        help="write a procedural home or office scene (scene/1)",
        description="Generate a plausible furnished home or office as an embodied-stack.scene/1 "
        "file: 4-10 rooms of distinct categories joined by doors into one navigable layout, every "
        "object reachable. The same seed and options give the same file, byte for byte.",
    )
    p.add_argument("--seed", type=int, required=True, help="random seed (integer)")
    p.add_argument("--kind", choices=("home", "office", "large_home", "office_floor", "two_storey"), default="home",
                   help="kind of place (default: home); large_home, office_floor and two_storey are large sites")
    p.add_argument("--rooms", type=int, default=None, help="number of rooms, 4-10 (default: drawn from the seed)")
    p.add_argument("--name", default=None, help="scene name (default: <kind>_<seed>)")
    p.add_argument("--out", type=Path, required=True, help="output .scene.json path")
    p.add_argument("--map", type=Path, default=None, help="also draw a top-down picture to this PNG")
    p.set_defaults(func=_cmd_generate)

    p = groups["sim"].add_parser(
        "map",
        help="draw a top-down picture of a scene",
        description="Draw rooms, walls with door gaps, objects with labels, and optionally episode "
        "starts/goals and trajectories, to a PNG.",
    )
    p.add_argument("scene", type=Path, help="scene/1 JSON file")
    p.add_argument("--out", type=Path, required=True, help="output PNG path")
    p.add_argument("--episodes", type=Path, default=None, help="episodes/1 file: draw starts and goals")
    p.add_argument("--trajectory", type=Path, action="append", default=[],
                   help="trajectory JSON (a list of [x, y] or {'poses': [[x, y, yaw], ...]}); repeatable")
    p.add_argument("--no-navigable", action="store_true", help="do not shade the navigable area")
    p.add_argument("--dpi", type=int, default=120, help="PNG resolution (default: 120)")
    p.set_defaults(func=_cmd_map)

    p = groups["sim"].add_parser(
        "episodes",
        help="generate an episode set (episodes/1) for a scene",
        description="Sample navigation episodes: starts on the main navigable component, reachable "
        "object-category, object-id and room targets, varied instruction wording.",
    )
    p.add_argument("scene", type=Path, help="scene/1 JSON file")
    p.add_argument("--n", type=int, default=20, help="number of episodes (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--min-distance", type=float, default=3.0,
                   help="minimum geodesic start-to-goal distance in metres (default: 3.0)")
    p.add_argument("--success-distance", type=float, default=1.0, help="success distance in metres (default: 1.0)")
    p.add_argument("--out", type=Path, required=True, help="output .episodes.json path")
    p.set_defaults(func=_cmd_episodes)

    from embodied_stack.sim.habitat.cli import register as register_habitat

    register_habitat(groups)  # sim export-habitat

    try:
        bench = importlib.import_module("embodied_stack.sim.bench")
    except ModuleNotFoundError as err:
        if err.name != "embodied_stack.sim.bench":
            raise
    else:
        bench.register_bench(groups)


def _cmd_generate(args: argparse.Namespace) -> int:
    from embodied_stack.sim.generate import generate_scene
    from embodied_stack.sim.scene import save_scene
    from embodied_stack.sim.site import SITE_KINDS, generate_site

    if args.kind in SITE_KINDS:
        if args.rooms is not None:
            raise ValueError(f"a {args.kind} site has a fixed room programme; --rooms applies to home and office only")
        scene = generate_site(args.seed, args.kind, name=args.name)
    else:
        scene = generate_scene(args.seed, kind=args.kind, rooms=args.rooms, name=args.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_scene(scene, args.out)
    logger.info("wrote %s: %d rooms, %d doors, %d objects", args.out, len(scene.rooms), len(scene.doors), len(scene.objects))
    if args.map is not None:
        from embodied_stack.sim.mapviz import draw_scene_map

        draw_scene_map(scene, args.map)
        logger.info("wrote %s", args.map)
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from embodied_stack.sim.episodes import load_episodes
    from embodied_stack.sim.mapviz import draw_episode_map, load_trajectory
    from embodied_stack.sim.scene import load_scene

    scene = load_scene(args.scene)
    episodes = load_episodes(args.episodes) if args.episodes is not None else None
    trajectories = [(path.stem, load_trajectory(path)) for path in args.trajectory]
    draw_episode_map(scene, args.out, episodes=episodes, trajectories=trajectories,
                     show_navigable=not args.no_navigable, dpi=args.dpi)
    logger.info("wrote %s", args.out)
    return 0


def _cmd_episodes(args: argparse.Namespace) -> int:
    from embodied_stack.sim.episodes import generate_episodes, save_episodes
    from embodied_stack.sim.navmap import NavMap
    from embodied_stack.sim.scene import load_scene

    scene = load_scene(args.scene)
    navmap = NavMap.from_scene(scene)
    episodes = generate_episodes(scene, navmap, args.n, args.seed, min_distance_m=args.min_distance,
                                 success_distance_m=args.success_distance)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_episodes(episodes, args.out)
    logger.info("wrote %s: %d episodes", args.out, len(episodes.episodes))
    return 0
