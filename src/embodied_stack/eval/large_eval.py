"""``bench memory-quality``: retrieval quality of the forest against the fair flat baseline on the
large shipped sites (a big home, an office floor, a two-storey house), in one run.

``bench memory`` times the memory on synthetic leaves; this is its quality half, on scenes where a
hierarchy has something to do (150-600 objects, 18-30 rooms, two storeys). Each site is surveyed
with the default perception path (no oracles, as ``eval memory`` does) and every query is asked
through the forest and through the flat baseline (same leaves, embedder, knowledge and keyword
terms, leaves only: :mod:`embodied_stack.memory.retrieval`), so the difference is the hierarchy's.
Prints per-site and per-split success by kind, the paraphrase subset separately (implicit
questions that share no content word with the knowledge table), the forest-minus-flat gaps and
query latency. Splits come from the query files (``dev``: may be looked at while tuning;
``test``: reported).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SITES = ("large_home_0021", "office_floor_0022", "two_storey_0023")
KINDS = ("explicit", "implicit", "global")


def register(groups: dict[str, argparse._SubParsersAction], run_eval: Callable[..., Any]) -> None:
    """Add ``bench memory-quality``; ``run_eval`` is ``eval memory``'s body (memory_eval registers this)."""
    p = groups["bench"].add_parser(
        "memory-quality",
        help="forest vs the fair flat baseline on the large shipped sites (success per kind, by split)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("--sites", nargs="+", default=list(SITES), help="scene names under sim/scenes (default: the 3 sites)")
    p.add_argument("--root", type=Path, default=Path("sim"), help="folder with scenes/ and queries/ (default: sim)")
    p.add_argument("--max-steps", type=int, default=3000, help="exploration budget per storey (default: 3000)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the embedder (default: 1)")
    p.add_argument("--out", type=Path, default=None, help="also write every per-query outcome here (JSON)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=lambda args: _cmd(args, run_eval))


def _cmd(args: argparse.Namespace, run_eval_memory: Callable[..., Any]) -> int:
    t0 = time.perf_counter()
    per_site: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for site in args.sites:
        ns = argparse.Namespace(scene=args.root / "scenes" / f"{site}.scene.json",
                                queries=args.root / "queries" / f"{site}.queries.json", memory=None, store_out=None,
                                width=320, height=240, max_steps=args.max_steps, perceive_every=1, seed=0,
                                embedder=None, threads=args.threads, oracle_kind=False, no_flat=False,
                                detector="realistic", noise="realistic", oracle="", out=None)
        summary, report = run_eval_memory(ns, log=sys.stderr)
        tags = {q.id: q.tags for q in report.queries}
        for o in report.outcomes:
            rows.append({"site": site, "split": summary.get("split"), "paraphrase": "paraphrase" in tags[o.query_id],
                         **o.to_dict()})
        per_site[site] = {k: summary.get(k) for k in ("split", "counts", "success", "paraphrase_success", "latency_ms",
                                                       "leaves", "nodes", "nodes_per_level", "coverage")}
    out = {"sites": per_site, "splits": {s: _aggregate([r for r in rows if r["split"] == s])
                                         for s in sorted({r["split"] for r in rows if r["split"]})},
           "total_s": round(time.perf_counter() - t0, 1)}
    if args.out is not None:
        args.out.write_text(json.dumps({**out, "outcomes": rows}, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))
    return 0


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success by mode and kind (implicit without the paraphrases; the paraphrases alone), and
    forest minus flat in points."""
    def rate(mode: str, kind: str | None, paraphrase: bool | None) -> float | None:
        picked = [r["success"] for r in rows if r["mode"] == mode and (kind is None or r["kind"] == kind)
                  and (paraphrase is None or r["paraphrase"] == paraphrase)]
        return round(float(np.mean(picked)), 4) if picked else None

    table: dict[str, Any] = {}
    for mode in ("forest", "flat"):
        table[mode] = {"explicit": rate(mode, "explicit", None), "implicit": rate(mode, "implicit", False),
                       "global": rate(mode, "global", None), "paraphrase": rate(mode, "implicit", True),
                       "n": sum(r["mode"] == mode for r in rows)}
    table["forest_minus_flat_points"] = {
        k: round(100 * (table["forest"][k] - table["flat"][k]), 1)
        for k in ("explicit", "implicit", "global", "paraphrase")
        if table["forest"][k] is not None and table["flat"][k] is not None}
    return table
