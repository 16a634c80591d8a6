"""``embodied-stack eval search``: memory-guided object search vs frontier-only on an episode set.

Registered by :mod:`embodied_stack.eval.tasks_cli` (next to ``eval tasks``). Either runs a saved
set (``--episodes sim/search/test.search.json``, :mod:`embodied_stack.eval.search_set`) or
builds one for a split (``--split dev``: surveys each scene and picks the targets; ``--save``
writes the set). Prints one line per episode and variant on stderr and the summary (per
variant: success, SPL, steps, status agreement, per episode kind; SPL ratios over
frontier-only) as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

ABLATION = ("memory-no-rooms", "memory-no-objects")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="object search for what the memory has not seen: memory-guided vs frontier-only",
        description="Survey each scene briefly, then search for targets the memory never saw (never surveyed "
        "rooms, objects moved after the survey) with every variant; print success, SPL and steps.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--episodes", help="search episode set (embodied-stack.search/1), e.g. sim/search/test.search.json")
    src.add_argument("--split", choices=("dev", "test"), help="build the set of a split (scenes split by scene)")
    p.add_argument("--save", help="with --split: write the episode set built here")
    p.add_argument("--variants", default="memory,frontier",
                   help="comma-separated: memory, frontier, memory-no-rooms, memory-no-objects (default memory,frontier)")
    p.add_argument("--ablation", action="store_true", help="also run memory-no-rooms and memory-no-objects")
    p.add_argument("--agent", default="policy:default",
                   help="agent that drives the approach to a sighting (default policy:default); 'oracle' "
                   "plans on the true navigation map, an ablation that isolates the search (reported in "
                   "the JSON's oracle object)")
    p.add_argument("--max-scenes", type=int, default=None, help="run only the first N scenes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from embodied_stack.eval.search_eval import (
        SPLITS,
        VARIANTS,
        SearchEvalConfig,
        run_scene,
        summarise,
    )
    from embodied_stack.eval.search_set import (
        SceneEpisodes,
        SearchSet,
        load_search_set,
        save_search_set,
    )
    from embodied_stack.text.embedders import load_embedder

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if args.ablation:
        variants += tuple(v for v in ABLATION if v not in variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        print(f"error: unknown variant(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(VARIANTS)}",
              file=sys.stderr)
        return 2
    if args.save and not args.split:
        print("error: --save writes a set built with --split", file=sys.stderr)
        return 2
    if args.episodes:
        search_set = load_search_set(args.episodes)
    else:
        search_set = SearchSet(args.split, [SceneEpisodes(name) for name in SPLITS[args.split]])
    cfg = SearchEvalConfig(survey_steps=search_set.survey_steps, search_steps=search_set.search_steps,
                           approach_steps=search_set.approach_steps, width=search_set.width,
                           height=search_set.height, seed=search_set.seed,
                           success_distance_m=search_set.success_distance_m)
    logging.getLogger("embodied_stack.eval.search_eval").setLevel(logging.WARNING)
    _quiet_progress_bars()
    embedder = load_embedder(None)
    started = time.perf_counter()
    results: list[Any] = []
    entries = search_set.scenes[: args.max_scenes] if args.max_scenes else search_set.scenes
    for entry in entries:
        episodes, rs = run_scene(entry.scene, variants, cfg, embedder, args.agent,
                                 episodes=entry.episodes if args.episodes else None)
        entry.episodes = list(episodes)
        for r in rs:
            print(f"{r.scene} {r.target} ({r.kind}) {r.mode}: {'ok  ' if r.success else 'FAIL'} spl {r.spl:.2f} "
                  f"steps {r.steps} ({r.planner_state.lower()}{'' if r.status_agrees else ', DISAGREES'})",
                  file=sys.stderr, flush=True)
        results.extend(rs)
    if args.save:
        save_search_set(search_set, args.save)
        print(f"wrote {args.save}", file=sys.stderr)
    summary = {"split": search_set.split, "scenes": [e.scene for e in entries], "agent": args.agent,
               "oracle": {"approach_on_true_map": args.agent == "oracle"},
               "perception": "simulated detector (realistic) + noisy pose/depth, rooms from the robot's own map",
               "wall_s": round(time.perf_counter() - started, 1), **summarise(results, variants),
               "results": [r.to_dict() for r in results]}
    print(json.dumps(summary))
    return 0


def _quiet_progress_bars() -> None:
    """No third-party progress bars ("Loading weights ...") between the episode lines."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
    except (ImportError, AttributeError):  # transformers absent or without the switch
        pass
