"""Policy checkpoints: one safetensors file (no pickle) with the config and thresholds in its metadata.

Format ``embodied-stack.vla/1``: the tensors are the ``VLAModel`` state dict (float32 or
float16); the safetensors metadata (string -> string) holds

* ``format``: ``"embodied-stack.vla/1"``;
* ``config``: the :class:`VLAConfig` as JSON;
* ``exit_thresholds`` (optional): calibrated :class:`ExitThresholds` as JSON;
* ``training`` (optional): JSON notes on how the checkpoint was made (command, data, steps).

One reserved tensor may sit beside the state dict: ``_calibration.scores`` (N, E) float32, the
consistency scores of validation steps that ``policy calibrate`` measured, so thresholds for any
other budget can be set later without re-running the simulator.

Loading with an explicit config that differs from the stored one is an error naming the
fields, never a silent reshape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.errors import (
    CalibrationError,
    CheckpointError,
    CheckpointMismatchError,
    PolicyConfigError,
)
from embodied_stack.policy.modeling_vla import VLAModel

CHECKPOINT_FORMAT = "embodied-stack.vla/1"
SCORES_KEY = "_calibration.scores"


@dataclass
class LoadedPolicy:
    """A model read from a checkpoint, with what its metadata says."""

    model: VLAModel
    config: VLAConfig
    thresholds: ExitThresholds | None
    training: dict[str, Any]
    path: Path
    calibration_scores: np.ndarray | None = None
    has_aux_heads: bool = True
    """False for an inference checkpoint (``policy calibrate --half``): the training-only auxiliary
    heads were left out, and the model's are untrained."""


def save_policy(
    path: str | Path,
    model: VLAModel,
    thresholds: ExitThresholds | None = None,
    training: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
    include_aux_heads: bool = True,
    calibration_scores: np.ndarray | None = None,
) -> Path:
    """Write ``model`` (and optionally thresholds and training notes) to ``path``.

    ``dtype=torch.float16`` halves the file (weights are cast back to float32 on load).
    ``include_aux_heads=False`` drops the training-only auxiliary heads (inference checkpoints).
    ``calibration_scores`` (N, num_exits) are stored for later re-calibration.
    """
    from safetensors.torch import save_file

    if thresholds is not None and thresholds.num_exits != model.num_exits:
        raise CalibrationError(f"thresholds for {thresholds.num_exits} exits do not fit a {model.num_exits}-exit model")
    tensors = {
        name: t.detach().to("cpu", dtype=dtype if t.is_floating_point() else t.dtype).contiguous()
        for name, t in model.state_dict().items()
        if include_aux_heads or not name.startswith("aux_heads.")
    }
    if calibration_scores is not None:
        scores = np.asarray(calibration_scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[1] != model.num_exits:
            raise CalibrationError(f"calibration scores must be (N, {model.num_exits}), got {scores.shape}")
        tensors[SCORES_KEY] = torch.from_numpy(scores.copy())
    metadata = {"format": CHECKPOINT_FORMAT, "config": model.config.to_json()}
    if thresholds is not None:
        metadata["exit_thresholds"] = thresholds.to_json()
    if training:
        metadata["training"] = json.dumps(training, sort_keys=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors metadata of a policy checkpoint, checked for the format tag."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such checkpoint file", path=str(path))
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"not a readable safetensors file ({err})", path=str(path)) from err
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"is {metadata.get('format')!r}; expected {CHECKPOINT_FORMAT!r}", path=str(path), field="format"
        )
    return metadata


def load_policy(path: str | Path, config: VLAConfig | None = None) -> LoadedPolicy:
    """Read a checkpoint written by :func:`save_policy`.

    Args:
        path: the ``.safetensors`` file.
        config: when given, the stored config must equal it; otherwise
            :class:`CheckpointMismatchError` lists the differing fields.

    Raises:
        CheckpointError: missing file, wrong format, unreadable config, missing or misshapen tensors.
    """
    from safetensors.torch import load_file

    path = Path(path)
    metadata = read_metadata(path)
    try:
        stored = VLAConfig.from_dict(json.loads(metadata.get("config", "")), where=f"{path} metadata 'config'")
    except (ValueError, PolicyConfigError) as err:
        raise CheckpointError(f"stored config is invalid ({err})", path=str(path), field="config") from err
    if config is not None and config != stored:
        changes = ", ".join(f"{k}: checkpoint {a!r} vs requested {b!r}" for k, (a, b) in stored.diff(config).items())
        raise CheckpointMismatchError(f"written for a different model config ({changes})", path=str(path), field="config")
    thresholds = None
    if "exit_thresholds" in metadata:
        try:
            thresholds = ExitThresholds.from_dict(json.loads(metadata["exit_thresholds"]), where=str(path))
        except (ValueError, CalibrationError) as err:
            raise CheckpointError(f"invalid ({err})", path=str(path), field="exit_thresholds") from err
        if thresholds.num_exits != stored.num_exits:
            raise CheckpointError(
                f"has {thresholds.num_exits} thresholds for a {stored.num_exits}-exit model",
                path=str(path), field="exit_thresholds",
            )
    training = json.loads(metadata["training"]) if "training" in metadata else {}
    model = VLAModel(stored)
    tensors = load_file(str(path))
    scores = tensors.pop(SCORES_KEY, None)
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in tensors and not k.startswith("aux_heads."))
    unexpected = sorted(k for k in tensors if k not in expected)
    misshapen = sorted(f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                       if k in tensors and tensors[k].shape != v.shape)
    if missing or unexpected or misshapen:
        raise CheckpointError(
            f"tensors do not match the stored config: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {misshapen[:5]}",
            path=str(path),
        )
    model.load_state_dict(tensors, strict=False)
    model.eval()
    calibration_scores = scores.float().numpy() if scores is not None else None
    has_aux = any(k.startswith("aux_heads.") for k in tensors)
    return LoadedPolicy(model, stored, thresholds, training, path, calibration_scores, has_aux)
