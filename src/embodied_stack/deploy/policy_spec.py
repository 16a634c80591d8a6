"""The policy-specific part of an ``embodied-stack.onnx-policy/1`` manifest, checked and typed.

:func:`load_policy_export` reads a policy export directory and returns its config, exit
thresholds, FLOPs table and graphs in execution order (vision, segments 1..E, head), so that
the runtime, the quantiser and the benchmark never index raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embodied_stack.deploy.errors import ManifestError
from embodied_stack.deploy.manifest import POLICY_FORMAT, GraphSpec, Manifest, read_manifest
from embodied_stack.errors import EmbodiedStackError
from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.early_exit import ExitThresholds

CALIBRATION_SCORES_FILE = "calibration_scores.npy"
"""Validation consistency scores (N, E) copied from the checkpoint, for calibrating other budgets."""


@dataclass(frozen=True)
class PolicyExport:
    """A checked policy export: what the runtime needs to chain its graphs."""

    manifest: Manifest
    config: VLAConfig
    thresholds: ExitThresholds | None
    flops: dict[str, Any]
    vision: GraphSpec
    segments: tuple[GraphSpec, ...]
    head: GraphSpec

    @property
    def root(self) -> Path:
        return self.manifest.root

    @property
    def num_exits(self) -> int:
        return self.config.num_exits

    def ordered_graphs(self) -> tuple[GraphSpec, ...]:
        """Vision, segments 1..E, head: the order one full step runs them in."""
        return (self.vision, *self.segments, self.head)


def _fail(manifest: Manifest, field: str, message: str) -> ManifestError:
    return ManifestError(message, path=str(manifest.root / "manifest.json"), field=field)


def policy_export_from_manifest(manifest: Manifest) -> PolicyExport:
    """Check the policy sections of a manifest read by :func:`read_manifest`.

    Raises:
        ManifestError: invalid ``config``; ``exits`` inconsistent with the config (count,
            thresholds, FLOPs table); not exactly one vision and one head graph; segments
            that do not cover exits 1..E once each.
    """
    if manifest.format != POLICY_FORMAT:
        raise _fail(manifest, "format", f"is {manifest.format!r}; expected {POLICY_FORMAT!r}")
    try:
        config = VLAConfig.from_dict(manifest.sections.get("config"), where="config")
    except (EmbodiedStackError, TypeError, ValueError) as err:
        raise _fail(manifest, "config", str(err)) from err
    exits = manifest.sections.get("exits")
    if not isinstance(exits, dict):
        raise _fail(manifest, "exits", "is missing or not an object")
    count = exits.get("count")
    if count != config.num_exits:
        raise _fail(manifest, "exits.count", f"is {count!r}; the config has {config.num_exits} exits")
    thresholds = None
    if exits.get("thresholds") is not None:
        try:
            thresholds = ExitThresholds.from_dict(exits["thresholds"], where="exits.thresholds")
        except (EmbodiedStackError, TypeError, ValueError) as err:
            raise _fail(manifest, "exits.thresholds", str(err)) from err
        if thresholds.num_exits != config.num_exits:
            raise _fail(
                manifest, "exits.thresholds",
                f"has {thresholds.num_exits} thresholds for a {config.num_exits}-exit model",
            )
    flops = exits.get("flops")
    if not isinstance(flops, dict):
        raise _fail(manifest, "exits.flops", "is missing or not an object")
    for key in ("trunk_per_exit", "total_per_exit"):
        values = flops.get(key)
        if not isinstance(values, list) or len(values) != config.num_exits:
            raise _fail(manifest, f"exits.flops.{key}", f"expected a list of {config.num_exits} numbers, got {values!r}")
    visions, heads = manifest.by_role("vision"), manifest.by_role("head")
    if len(visions) != 1 or len(heads) != 1:
        raise _fail(
            manifest, "graphs", f"expected one vision and one head graph, got {len(visions)} and {len(heads)}"
        )
    segments = sorted(manifest.by_role("segment"), key=lambda g: g.exit or 0)
    found = [g.exit for g in segments]
    if found != list(range(1, config.num_exits + 1)):
        raise _fail(manifest, "graphs", f"segments must end at exits 1..{config.num_exits} once each, got {found}")
    return PolicyExport(manifest, config, thresholds, flops, visions[0], tuple(segments), heads[0])


def load_policy_export(root: str | Path) -> PolicyExport:
    """Read and check ``root/manifest.json`` of a policy export (files are checked when opened)."""
    return policy_export_from_manifest(read_manifest(root, POLICY_FORMAT))
