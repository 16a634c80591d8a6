"""``export check``: validate an export directory where it will run, with its execution providers.

Opens every graph (manifest, SHA-256 and input/output names checked on the way) and runs one
input through it: for the policy a zero-goal step on a mid-grey frame stopping at each exit,
for the embedder two sentences. Meant for the robot after copying an export (deploy/GUIDE.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embodied_stack.deploy.errors import DeployError
from embodied_stack.deploy.manifest import EMBEDDER_FORMAT, read_manifest


def check_export(export_dir: str | Path, *, precision: str = "fp32", providers: str = "cpu") -> dict[str, Any]:
    """Load and run an export; returns what ran where (raises on the first problem)."""
    manifest = read_manifest(export_dir)
    if manifest.format == EMBEDDER_FORMAT:
        from embodied_stack.deploy.embedder import OnnxEmbedder

        embedder = OnnxEmbedder(export_dir, precision=precision, providers=providers)
        vectors = embedder.embed(["where is the fridge?", "a sofa in the living room"])
        return {
            "format": manifest.format, "precision": precision, "providers": embedder.providers,
            "dim": embedder.dim, "norms": [round(float(n), 6) for n in np.linalg.norm(vectors, axis=1)], "ok": True,
        }

    from embodied_stack.deploy.runtime import OnnxPolicy
    from embodied_stack.policy.early_exit import EarlyExitController, ExitThresholds

    policy = OnnxPolicy(export_dir, precision=precision, providers=providers)
    config = policy.config
    rgb = torch.full((1, 3, config.image_height, config.image_width), 0.5)
    depth = torch.full((1, 1, config.image_height, config.image_width), 2.0)
    tokens = getattr(config, "instruction_tokens", 0)
    instruction = torch.zeros(1, tokens, config.text_dim) if tokens else torch.zeros(1, config.text_dim)
    instruction[0, 0] = 1.0
    goal = torch.zeros(1, config.goal_features)
    goal[0, 3] = goal[0, 4] = 1.0
    ms_per_exit = {}
    for k in range(1, policy.num_exits + 1):
        controller = EarlyExitController(
            policy, ExitThresholds.fixed(k, policy.num_exits, config.exit_metric)  # type: ignore[arg-type]
        )
        controller.step(rgb, depth, instruction, goal)
        start = time.perf_counter()
        step = controller.step(rgb, depth, instruction, goal)
        ms_per_exit[str(k)] = round(1000.0 * (time.perf_counter() - start), 3)
        if step.exit_index != k or not np.all(np.isfinite(step.probs)):
            raise DeployError(f"{export_dir}: a step capped at exit {k} stopped at {step.exit_index} "
                               f"with probabilities {step.probs}")
    return {
        "format": manifest.format, "precision": precision, "providers": policy.providers,
        "exits": policy.num_exits, "thresholds": policy.thresholds.to_dict() if policy.thresholds else None,
        "one_step_ms_by_exit": ms_per_exit, "ok": True,
    }
