"""Shared fixtures of the deploy tests: a tiny randomly initialised policy, its checkpoint and
export, and a few episodes recorded in the embedded simulator (built once per session)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from deploy_helpers import hash_embed, tiny_config

from embodied_stack.deploy.bench import consistency_scores, torch_threads
from embodied_stack.deploy.policy_export import export_checkpoint
from embodied_stack.deploy.policy_spec import PolicyExport
from embodied_stack.deploy.sim_inputs import RecordedEpisodes, record_sim_episodes
from embodied_stack.policy.calibration import calibrate
from embodied_stack.policy.checkpoint import save_policy
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.modeling_vla import VLAModel


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models at batch 1: one torch thread is faster, and steadier on a busy machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny_model() -> VLAModel:
    """Random weights, with the STOP logit lowered so that episodes run for a while."""
    torch.manual_seed(0)
    model = VLAModel(tiny_config()).eval()
    with torch.no_grad():
        model.head.out[-1].bias[0] -= 4.0
    return model


@pytest.fixture(scope="session")
def recorded() -> RecordedEpisodes:
    return record_sim_episodes(tiny_config(), episodes=2, steps=12, seed=1, embed=hash_embed)


@pytest.fixture(scope="session")
def tiny_scores(tiny_model: VLAModel) -> np.ndarray:
    """Consistency scores (N, 3), as ``policy calibrate`` stores them, on other steps than
    ``recorded`` (thresholds equal calibration scores; replaying those very steps would turn
    float rounding into exit decisions)."""
    held_out = record_sim_episodes(tiny_config(), episodes=2, steps=12, seed=2, embed=hash_embed)
    with torch_threads(1):
        return consistency_scores(tiny_model, held_out)


@pytest.fixture(scope="session")
def tiny_thresholds(tiny_model: VLAModel, tiny_scores: np.ndarray) -> ExitThresholds:
    """DeeR thresholds at half the full trunk's FLOPs: steps stop at different exits."""
    flops = StepFlops.from_config(tiny_model.config)
    result = calibrate(tiny_scores, np.asarray(flops.trunk_per_exit), 0.5 * flops.full_trunk, tiny_model.num_exits)
    assert math.isinf(result.thresholds.values[-1])
    return result.thresholds


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_model: VLAModel,
                    tiny_thresholds: ExitThresholds, tiny_scores: np.ndarray) -> Path:
    return save_policy(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", tiny_model, tiny_thresholds,
                       calibration_scores=tiny_scores)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> PolicyExport:
    """The fp32 export of the tiny checkpoint; copy it (``export_copy``) before changing it."""
    return export_checkpoint(tiny_checkpoint, tmp_path_factory.mktemp("export") / "policy")


@pytest.fixture()
def export_copy(tmp_path: Path, tiny_export: PolicyExport) -> Path:
    """A private copy of the tiny export directory."""
    return Path(shutil.copytree(tiny_export.root, tmp_path / "policy"))
