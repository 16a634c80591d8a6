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
    p.add_argument("--scene", default=None,
                   help="scene/1 JSON file, or habitat:CONFIG.yaml of a scene written by `sim export-habitat`")
    p.add_argument("--episodes", type=Path, default=None, help="episodes/1 JSON file (with --scene)")
    p.add_argument("--suite", type=Path, default=None,
                   help="instead of --scene/--episodes: a split of task scenes (split.json or its directory, "
                   "written by `policy vln-data`, e.g. sim/vln/test), one agent over all of them")
    p.add_argument("--ablate", choices=("language", "vision", "depth"), default=None,
                   help="blank one input of the agent: the instruction (empty text), RGB (uniform grey) or depth "
                   "(no return anywhere); reported in the result JSON")
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
    p.add_argument("--curve", nargs="+", default=None, metavar="SETTING",
                   help="policy agents: run the episodes at each setting and write success against whole-network "
                   "FLOPs to --curve-out .json and .png; settings: full, exit:K (a static depth), static (every "
                   "exit:K), or a dynamic early-exit budget (0.3, 4x, 40M); e.g. static 0.3 0.2")
    p.add_argument("--curve-out", type=Path, default=Path("nav_curve"),
                   help="file stem of the --curve outputs (default: nav_curve -> nav_curve.json, nav_curve.png)")
    p.add_argument("--compare", default=None, metavar="SCENE",
                   help="also run the episodes on this simulator (habitat:CONFIG.yaml, or a scene/1 file) and print "
                   "success/SPL/steps/collisions per simulator and the per-episode differences")
    p.set_defaults(func=_cmd_eval_nav)


def _cmd_eval_nav(args: argparse.Namespace) -> int:
    from embodied_stack.eval.nav import run_eval_nav

    agent_spec = args.agent
    if args.curve or args.budget is not None or args.max_exit is not None:
        from embodied_stack.eval.curve import sweep_budgets, with_budget, write_curve

        if args.curve:
            curve = sweep_budgets(scene=args.scene, episodes_path=args.episodes, suite=args.suite,
                                  agent_spec=agent_spec, budgets=args.curve, max_exit=args.max_exit,
                                  max_episodes=args.max_episodes, width=args.width, height=args.height,
                                  log=sys.stderr)
            json_path, png_path = write_curve(curve, args.curve_out)
            logger.info("wrote %s and %s", json_path, png_path)
            print(json.dumps({**curve, "json": str(json_path), "png": str(png_path)}))
            return 0
        agent_spec = with_budget(agent_spec, args.budget, args.max_exit)
    if args.compare:
        return _compare(args, agent_spec)
    if args.suite is not None:
        from embodied_stack.eval.nav_suite import run_eval_suite

        report = run_eval_suite(suite=args.suite, agent_spec=agent_spec, width=args.width, height=args.height,
                                seed=args.seed, log=sys.stderr, ablate=args.ablate)
        return _print_report(args, report)
    if args.scene is None or args.episodes is None:
        raise SystemExit("eval nav: give --scene and --episodes, or --suite")
    report = run_eval_nav(
        scene=args.scene,
        episodes_path=args.episodes,
        agent_spec=agent_spec,
        max_episodes=args.max_episodes,
        width=args.width,
        height=args.height,
        seed=args.seed,
        log=sys.stderr,
        ablate=args.ablate,
    )
    return _print_report(args, report)


def _print_report(args: argparse.Namespace, report) -> int:  # noqa: ANN001 - an EvalReport
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


def _compare(args: argparse.Namespace, agent_spec: str) -> int:
    from embodied_stack.eval.compare import compare_reports, format_comparison
    from embodied_stack.eval.nav import run_eval_nav

    reports = []
    for scene in (args.scene, args.compare):
        print(f"== {scene}", file=sys.stderr)
        reports.append(run_eval_nav(scene=scene, episodes_path=args.episodes, agent_spec=agent_spec,
                                    max_episodes=args.max_episodes, width=args.width, height=args.height,
                                    seed=args.seed, log=sys.stderr))
    names = tuple("habitat" if str(s).startswith("habitat:") else "embedded" for s in (args.scene, args.compare))
    if names[0] == names[1]:
        names = (str(args.scene), str(args.compare))
    comparison = compare_reports(reports[0], reports[1], names=names)  # type: ignore[arg-type]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        full = {**comparison, "runs": {n: r.to_dict(per_episode=True) for n, r in zip(names, reports, strict=True)}}
        args.out.write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    print(format_comparison(comparison))
    if args.json:
        print(json.dumps({k: v for k, v in comparison.items() if k != "per_episode"}))
    return 0
