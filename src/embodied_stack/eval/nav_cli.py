"""``eval nav``: run navigation episodes with an agent and print success, SPL and Soft-SPL."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``eval nav`` to the top-level CLI groups."""
    p = groups["eval"].add_parser(
        "nav",
        help="run navigation episodes and report success, SPL, Soft-SPL",
        description="Run every episode of an episode set with an agent and print the metrics as "
        "Habitat defines them. Agents: oracle, random, random:SEED, policy:CHECKPOINT, onnx:DIR.",
    )
    p.add_argument("--scene", required=True, help="scene/1 JSON file")
    p.add_argument("--episodes", type=Path, required=True, help="episodes/1 JSON file")
    p.add_argument("--agent", default="oracle", help="agent spec (default: oracle)")
    p.add_argument("--max-episodes", type=int, default=None, help="run only the first N episodes")
    p.add_argument("--width", type=int, default=None, help="render width (default: the agent's, else 160)")
    p.add_argument("--height", type=int, default=None, help="render height (default: the agent's, else 120)")
    p.add_argument("--seed", type=int, default=0, help="seed for stochastic agents (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.add_argument("--out", type=Path, default=None, help="also write the full results (per episode) here")
    p.add_argument("--budget", default=None,
                   help="policy agents: average trunk compute per step, a fraction of the full trunk (0.2), a "
                   "reduction (5x) or FLOPs (10M); 'full' runs every step to the last exit")
    p.add_argument("--max-exit", type=int, default=None,
                   help="policy agents: peak cap, the deepest exit any step may reach")
    p.add_argument("--curve", nargs="+", default=None, metavar="BUDGET",
                   help="policy agents: run the episodes at each budget (e.g. full 0.3 0.2 0.15) and write "
                   "success against trunk FLOPs to --curve-out .json and .png")
    p.add_argument("--curve-out", type=Path, default=Path("nav_curve"),
                   help="file stem of the --curve outputs (default: nav_curve -> nav_curve.json, nav_curve.png)")
    p.set_defaults(func=_cmd_eval_nav)


def _cmd_eval_nav(args: argparse.Namespace) -> int:
    from embodied_stack.eval.nav import run_eval_nav

    agent_spec = args.agent
    if args.curve or args.budget is not None or args.max_exit is not None:
        from embodied_stack.eval.curve import sweep_budgets, with_budget, write_curve

        if args.curve:
            curve = sweep_budgets(scene=args.scene, episodes_path=args.episodes, agent_spec=agent_spec,
                                  budgets=args.curve, max_exit=args.max_exit, max_episodes=args.max_episodes,
                                  width=args.width, height=args.height, log=sys.stderr)
            json_path, png_path = write_curve(curve, args.curve_out)
            logger.info("wrote %s and %s", json_path, png_path)
            print(json.dumps({**curve, "json": str(json_path), "png": str(png_path)}))
            return 0
        agent_spec = with_budget(agent_spec, args.budget, args.max_exit)
    report = run_eval_nav(
        scene=args.scene,
        episodes_path=args.episodes,
        agent_spec=agent_spec,
        max_episodes=args.max_episodes,
        width=args.width,
        height=args.height,
        seed=args.seed,
        log=sys.stderr,
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report.to_dict(per_episode=True), indent=1) + "\n", encoding="utf-8")
    summary = report.to_dict(per_episode=False)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0
