"""``eval nav --compare``: the same episodes and agent on two simulators, side by side.

Both runs use the same episode starts, goal regions (navigable points near the targets, from the
scene/1 file) and agent spec; each simulator moves the robot, renders and measures geodesic
distances itself. The comparison lists success, SPL, Soft-SPL, steps and collisions per
simulator and, per episode, where the two differ (success, SPL, steps, shortest path ``l``).
"""

from __future__ import annotations

import math
from typing import Any

from embodied_stack.eval.nav import EvalReport

SUMMARY_KEYS = ("episodes", "success", "spl", "soft_spl", "steps_mean", "collisions_mean", "shortest_path_m_mean",
                "sim_s_per_step")


def compare_reports(a: EvalReport, b: EvalReport, *, names: tuple[str, str]) -> dict[str, Any]:
    """Summaries of two runs of the same episodes and their per-episode differences."""
    sa, sb = a.summary(), b.summary()
    by_id = {e.id: e for e in b.episodes}
    rows: list[dict[str, Any]] = []
    for ea in a.episodes:
        eb = by_id.get(ea.id)
        if eb is None:
            continue
        rows.append({
            "id": ea.id,
            "success": [ea.metrics["success"], eb.metrics["success"]],
            "spl": [round(ea.metrics["spl"], 4), round(eb.metrics["spl"], 4)],
            "steps": [ea.steps, eb.steps],
            "collisions": [ea.collisions, eb.collisions],
            "shortest_path_m": [round(ea.metrics["shortest_path_m"], 3), round(eb.metrics["shortest_path_m"], 3)],
        })
    l_gaps = []
    for r in rows:
        la, lb = (float(v) for v in r["shortest_path_m"])
        if max(la, lb) > 0 and math.isfinite(la) and math.isfinite(lb):
            l_gaps.append(abs(la - lb) / max(la, lb))
    return {
        "simulators": list(names),
        "summary": {name: {k: s[k] for k in SUMMARY_KEYS} for name, s in zip(names, (sa, sb), strict=True)},
        "episodes_compared": len(rows),
        "success_disagreements": sum(r["success"][0] != r["success"][1] for r in rows),
        "shortest_path_gap_max": max(l_gaps, default=0.0),
        "shortest_path_gap_mean": sum(l_gaps) / len(l_gaps) if l_gaps else 0.0,
        "per_episode": rows,
    }


def format_comparison(cmp: dict[str, Any]) -> str:
    """The comparison as text: one summary line per simulator, then the episodes that differ."""
    a, b = cmp["simulators"]
    width = max(len(a), len(b), 9)
    lines = [f"{'simulator':<{width}} {'episodes':>8} {'success':>7} {'spl':>6} {'softspl':>7} {'steps':>7} "
             f"{'collide':>7} {'l_m':>6}"]
    for name in (a, b):
        s = cmp["summary"][name]
        lines.append(f"{name:<{width}} {s['episodes']:>8} {s['success']:7.3f} {s['spl']:6.3f} {s['soft_spl']:7.3f} "
                     f"{s['steps_mean']:7.1f} {s['collisions_mean']:7.1f} {s['shortest_path_m_mean']:6.2f}")
    lines.append(f"success differs on {cmp['success_disagreements']} of {cmp['episodes_compared']} episodes; "
                 f"shortest path l differs by {100 * cmp['shortest_path_gap_mean']:.1f}% on average, "
                 f"{100 * cmp['shortest_path_gap_max']:.1f}% at most")
    lines.append(f"{'episode':>8}  {'success':>9}  {'spl':>13}  {'steps':>9}  {'collisions':>10}  {'l_m':>13}")
    for r in cmp["per_episode"]:
        differs = r["success"][0] != r["success"][1] or r["steps"][0] != r["steps"][1] or r["spl"][0] != r["spl"][1]
        mark = " *" if differs else ""
        lines.append(f"{r['id']:>8}  {r['success'][0]:>4.0f}/{r['success'][1]:<4.0f}  {r['spl'][0]:>6.3f}/{r['spl'][1]:<6.3f}"
                     f"  {r['steps'][0]:>4}/{r['steps'][1]:<4}  {r['collisions'][0]:>5}/{r['collisions'][1]:<4}"
                     f"  {r['shortest_path_m'][0]:>6.2f}/{r['shortest_path_m'][1]:<6.2f}{mark}")
    return "\n".join(lines)
