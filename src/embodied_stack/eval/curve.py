"""Success against compute: ``eval nav --agent policy:CKPT --curve B1 B2 ...``.

Runs the same episodes once per average-compute budget (thresholds re-calibrated from the
scores stored in the checkpoint, see :func:`embodied_stack.policy.agent.thresholds_for_budget`)
and reports, per budget, success, SPL, mean and peak trunk FLOPs per step, the exit histogram and
wall-clock per step; then draws success (and SPL) against mean trunk FLOPs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

from embodied_stack.policy.agent import parse_agent_spec
from embodied_stack.policy.errors import PolicyError

logger = logging.getLogger(__name__)


def with_budget(spec: str, budget: str | None = None, max_exit: int | None = None) -> str:
    """The agent spec with ``budget`` / ``max_exit`` options set (replacing any already there)."""
    path, options = parse_agent_spec(spec)
    if budget is not None:
        options["budget"] = budget
    if max_exit is not None:
        options["max_exit"] = str(max_exit)
    query = "&".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"policy:{path}" + (f"?{query}" if query else "")


def sweep_budgets(
    *,
    scene: str | Path,
    episodes_path: str | Path,
    agent_spec: str,
    budgets: list[str],
    max_exit: int | None = None,
    max_episodes: int | None = None,
    width: int | None = None,
    height: int | None = None,
    log: IO[str] | None = None,
) -> dict[str, Any]:
    """Evaluate the policy at each budget (``"full"`` = always the last exit) on the same episodes."""
    from embodied_stack.eval.nav import run_eval_nav

    if not budgets:
        raise PolicyError("--curve needs at least one budget (e.g. full 0.5 0.25 0.15)")
    points = []
    for budget in budgets:
        spec = with_budget(agent_spec, budget, max_exit)
        report = run_eval_nav(scene=scene, episodes_path=episodes_path, agent_spec=spec, max_episodes=max_episodes,
                              width=width, height=height, log=log)
        summary = report.summary()
        stats = summary.get("agent_stats", {})
        point = {
            "budget": budget,
            "success": summary["success"],
            "spl": summary["spl"],
            "soft_spl": summary["soft_spl"],
            "trunk_flops_mean": stats.get("trunk_flops_mean"),
            "trunk_flops_peak": stats.get("trunk_flops_peak"),
            "trunk_flops_reduction_x": stats.get("trunk_flops_reduction_x"),
            "exit_histogram": stats.get("exit_histogram"),
            "policy_ms_per_step": stats.get("policy_ms_per_step"),
            "wall_s_per_step": summary["wall_s_per_step"],
            "steps_mean": summary["steps_mean"],
        }
        logger.info("budget %s: success %.3f, SPL %.3f, %.3g trunk FLOPs/step (%.2fx less), peak %.3g", budget,
                    point["success"], point["spl"], point["trunk_flops_mean"] or 0.0,
                    point["trunk_flops_reduction_x"] or 0.0, point["trunk_flops_peak"] or 0.0)
        points.append(point)
    return {"scene": str(scene), "episodes": str(episodes_path), "agent": agent_spec,
            "full_trunk_flops": (stats or {}).get("full_trunk_flops"), "max_exit": max_exit, "points": points}


def plot_curve(curve: dict[str, Any], png_path: str | Path) -> Path:
    """Draw success and SPL against mean trunk MFLOPs per step, one marker per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(curve["points"], key=lambda p: p["trunk_flops_mean"] or 0.0)
    mflops = [(p["trunk_flops_mean"] or 0.0) / 1e6 for p in points]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    ax.plot(mflops, [p["success"] for p in points], "o-", label="success")
    ax.plot(mflops, [p["spl"] for p in points], "s--", label="SPL")
    for x, p in zip(mflops, points, strict=True):
        ax.annotate(str(p["budget"]), (x, p["success"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    full = curve.get("full_trunk_flops")
    if full:
        ax.axvline(full / 1e6, color="grey", lw=0.8, ls=":", label="full model")
    ax.set_xlabel("mean trunk MFLOPs per step")
    ax.set_ylabel("success / SPL")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(f"early exit: {Path(str(curve['scene'])).name}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


def write_curve(curve: dict[str, Any], stem: str | Path) -> tuple[Path, Path]:
    """Write ``STEM.json`` and ``STEM.png``."""
    stem = Path(stem)
    json_path = stem.with_suffix(".json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(curve, indent=1) + "\n", encoding="utf-8")
    return json_path, plot_curve(curve, stem.with_suffix(".png"))
