"""Success against compute: ``eval nav --agent policy:CKPT --curve B1 B2 ...``.

Runs the same episodes once per compute setting and reports, per setting, success, SPL, mean and
peak FLOPs per step (the trunk alone and the whole network: vision encoder, every trunk segment
run, every head run), the exit histogram, the network's wall-clock per step and the host-side
input work (mapping, planning, odometry) beside it. Settings:

* ``full``: every step to the last exit (the full model);
* ``exit:K``: a static depth, every step stops at exit K (the head runs once); ``static`` expands
  to ``exit:1`` .. ``exit:E``;
* anything else is an average-compute budget of dynamic early exit (``0.25``, ``4x``, ``40M``;
  thresholds re-calibrated from the scores stored in the checkpoint, see
  :func:`embodied_stack.policy.agent.thresholds_for_budget`).

The plot draws success against mean whole-network FLOPs: static depths as one line, dynamic
early exit as another, so a dynamic point can be compared with the static depth of equal compute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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


def expand_settings(settings: list[str], num_exits: int) -> list[str]:
    """``static`` -> ``exit:1`` .. ``exit:E``; other settings unchanged (checked)."""
    out: list[str] = []
    for item in settings:
        if item == "static":
            out += [f"exit:{k}" for k in range(1, num_exits + 1)]
            continue
        if item.startswith("exit:"):
            try:
                k = int(item[5:])
            except ValueError as err:
                raise PolicyError(f"curve setting {item!r}: expected exit:K with K an integer") from err
            if not 1 <= k <= num_exits:
                raise PolicyError(f"curve setting {item!r}: K must be in 1..{num_exits}")
        out.append(item)
    return out


def setting_spec(agent_spec: str, setting: str, max_exit: int | None = None) -> tuple[str, str]:
    """(agent spec, kind) of one curve setting; kind is ``static`` or ``dynamic``."""
    if setting == "full":
        return with_budget(agent_spec, "full", max_exit), "static"
    if setting.startswith("exit:"):
        return with_budget(agent_spec, "full", int(setting[5:])), "static"
    return with_budget(agent_spec, setting, max_exit), "dynamic"


def sweep_budgets(
    *,
    agent_spec: str,
    budgets: list[str],
    scene: str | Path | None = None,
    episodes_path: str | Path | None = None,
    suite: str | Path | None = None,
    max_exit: int | None = None,
    max_episodes: int | None = None,
    width: int | None = None,
    height: int | None = None,
    log: IO[str] | None = None,
    runner: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Evaluate the policy at each setting (see the module docstring) on the same episodes:
    a scene and its episodes, or a split ``suite``; ``runner`` (spec -> report) replaces both."""
    from embodied_stack.policy.checkpoint import read_metadata

    if not budgets:
        raise PolicyError("--curve needs at least one setting (e.g. static full 0.3 0.2)")
    if runner is None:
        if suite is not None:
            from embodied_stack.eval.nav_suite import run_eval_suite

            def runner(spec: str) -> Any:
                return run_eval_suite(suite=suite, agent_spec=spec, width=width, height=height, log=log)
        elif scene is not None and episodes_path is not None:
            from embodied_stack.eval.nav import run_eval_nav

            def runner(spec: str) -> Any:
                return run_eval_nav(scene=scene, episodes_path=episodes_path, agent_spec=spec,
                                    max_episodes=max_episodes, width=width, height=height, log=log)
        else:
            raise PolicyError("a curve needs --suite, or --scene with --episodes")
    path, _ = parse_agent_spec(agent_spec)
    num_exits = json.loads(read_metadata(path)["config"]).get("num_layers", 0) // json.loads(
        read_metadata(path)["config"]).get("exit_interval", 1)
    points = []
    stats: dict[str, Any] = {}
    for setting in expand_settings(budgets, num_exits):
        spec, kind = setting_spec(agent_spec, setting, max_exit)
        summary = runner(spec).summary()
        stats = summary.get("agent_stats", {})
        point = {
            "setting": setting,
            "budget": setting,
            "kind": kind,
            "success": summary["success"],
            "spl": summary["spl"],
            "soft_spl": summary["soft_spl"],
            "episodes": summary["episodes"],
            **{key: stats.get(key) for key in (
                "trunk_flops_mean", "trunk_flops_peak", "trunk_flops_reduction_x", "network_flops_mean",
                "network_flops_peak", "network_flops_reduction_x", "mean_exit", "exit_histogram",
                "policy_ms_per_step", "host_ms_per_step")},
            "wall_s_per_step": summary["wall_s_per_step"],
            "steps_mean": summary["steps_mean"],
        }
        logger.info("%s (%s): success %.3f, SPL %.3f, %.3g network FLOPs/step (%.2fx less), %.3g trunk", setting,
                    kind, point["success"], point["spl"], point["network_flops_mean"] or 0.0,
                    point["network_flops_reduction_x"] or 0.0, point["trunk_flops_mean"] or 0.0)
        points.append(point)
    return {"scene": str(suite or scene), "episodes": str(episodes_path) if episodes_path else None,
            "agent": agent_spec, "full_trunk_flops": stats.get("full_trunk_flops"),
            "full_network_flops": stats.get("full_network_flops"), "vision_flops": stats.get("vision_flops"),
            "head_flops": stats.get("head_flops"), "max_exit": max_exit, "points": points,
            "comparison": compare_static_dynamic(points)}


def compare_static_dynamic(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each dynamic point: the full model's success, the static depth of nearest (not lower)
    mean whole-network FLOPs and the best static depth at or below its FLOPs, and the gaps."""
    static = [p for p in points if p.get("kind") == "static" and p.get("network_flops_mean")]
    full = max(static, key=lambda p: p["network_flops_mean"], default=None)
    out = []
    for p in points:
        if p.get("kind") != "dynamic" or not p.get("network_flops_mean"):
            continue
        cheaper = [s for s in static if s["network_flops_mean"] <= p["network_flops_mean"] * 1.0001]
        costlier = [s for s in static if s["network_flops_mean"] >= p["network_flops_mean"]]
        best_cheaper = max(cheaper, key=lambda s: s["success"], default=None)
        next_up = min(costlier, key=lambda s: s["network_flops_mean"], default=None)
        out.append({
            "setting": p["setting"],
            "success": p["success"],
            "network_flops_mean": p["network_flops_mean"],
            "full_success": full["success"] if full else None,
            "reduction_vs_full_x": full["network_flops_mean"] / p["network_flops_mean"] if full else None,
            "success_minus_full": p["success"] - full["success"] if full else None,
            "best_static_at_or_below": best_cheaper["setting"] if best_cheaper else None,
            "success_minus_best_static_at_or_below": p["success"] - best_cheaper["success"] if best_cheaper else None,
            "next_static_above": next_up["setting"] if next_up else None,
            "success_minus_next_static_above": p["success"] - next_up["success"] if next_up else None,
        })
    return out


def plot_curve(curve: dict[str, Any], png_path: str | Path) -> Path:
    """Success (and SPL) against mean whole-network MFLOPs per step: static depths and dynamic exit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def x_of(p: dict[str, Any]) -> float:
        return (p.get("network_flops_mean") or p.get("trunk_flops_mean") or 0.0) / 1e6

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    for kind, style, colour in (("static", "o-", "tab:blue"), ("dynamic", "D-", "tab:red")):
        points = sorted((p for p in curve["points"] if p.get("kind", "dynamic") == kind), key=x_of)
        if not points:
            continue
        xs = [x_of(p) for p in points]
        label = "static depth" if kind == "static" else "dynamic early exit"
        ax.plot(xs, [p["success"] for p in points], style, color=colour, label=f"{label}: success")
        ax.plot(xs, [p["spl"] for p in points], style.replace("-", ":"), color=colour, alpha=0.5,
                label=f"{label}: SPL")
        for x, p in zip(xs, points, strict=True):
            ax.annotate(str(p.get("setting", p.get("budget"))), (x, p["success"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    full = curve.get("full_network_flops") or curve.get("full_trunk_flops")
    if full:
        ax.axvline(full / 1e6, color="grey", lw=0.8, ls=":", label="full model")
    ax.set_xlabel("mean whole-network MFLOPs per step (vision + trunk + heads)")
    ax.set_ylabel("success / SPL")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(f"static depth vs dynamic early exit: {Path(str(curve['scene'])).name}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
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
