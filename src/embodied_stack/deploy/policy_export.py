"""Export the multi-exit policy as one ONNX graph per stage, with a manifest.

One static graph of a dynamic network loses early stopping; one graph per stage (the vision
tokenizer, each trunk segment between two exits, the shared action head) keeps it: the host
runs the exit controller and only the segments up to the exit it takes. The head's LSTM
state is an explicit input and output, so the graph holds no hidden state across steps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from embodied_stack import __version__
from embodied_stack.deploy.manifest import (
    DEFAULT_OPSET,
    MANIFEST_NAME,
    POLICY_FORMAT,
    ROLE_IO,
    GraphFile,
    GraphSpec,
    Manifest,
    file_sha256,
)
from embodied_stack.deploy.onnx_export import PARITY_ATOL, check_parity, export_module, tensor_specs
from embodied_stack.deploy.policy_spec import (
    CALIBRATION_SCORES_FILE,
    PolicyExport,
    policy_export_from_manifest,
)
from embodied_stack.policy.checkpoint import load_policy
from embodied_stack.policy.early_exit import ExitThresholds
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.modeling_vla import VLAModel

logger = logging.getLogger(__name__)

_EXAMPLE_BATCH = 2


def _example_inputs(model: VLAModel, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random (rgb, depth, instruction, goal) at batch 2, the shapes ``VisionTokenizer`` takes
    (token instructions (2, L, text_dim) for a token policy)."""
    config = model.config
    gen = torch.Generator().manual_seed(seed)
    b, h, w = _EXAMPLE_BATCH, config.image_height, config.image_width
    depth = torch.rand(b, 1, h, w, generator=gen) * (1.2 * config.max_depth_m)
    depth[:, :, : h // 4] = 0.0
    goal = torch.zeros(b, config.goal_features)
    goal[:, :4] = torch.rand(b, 4, generator=gen) * 2.0 - 1.0
    goal[:, 4] = 1.0
    if config.instruction_tokens:  # token embeddings with a few padding (all-zero) rows at the end
        instruction = torch.randn(b, config.instruction_tokens, config.text_dim, generator=gen)
        instruction[:, max(1, config.instruction_tokens - 3):] = 0.0
    else:
        instruction = torch.nn.functional.normalize(torch.randn(b, config.text_dim, generator=gen), dim=-1)
    return torch.rand(b, 3, h, w, generator=gen), depth, instruction, goal


def export_policy(
    model: VLAModel,
    out_dir: str | Path,
    *,
    thresholds: ExitThresholds | None = None,
    opset: int = DEFAULT_OPSET,
    producer: Mapping[str, object] | None = None,
    atol: float = PARITY_ATOL,
) -> PolicyExport:
    """Write ``vision.onnx``, ``segment_1.onnx`` .. ``segment_E.onnx``, ``head.onnx`` and
    ``manifest.json`` into ``out_dir``; each graph is checked against torch on random inputs.

    Args:
        model: the policy network (its auxiliary training heads are not exported).
        thresholds: calibrated exit thresholds to record (the runtime's default).
        opset: ONNX opset (see :mod:`embodied_stack.deploy.onnx_export`).
        producer: provenance notes stored in the manifest (source checkpoint, ...).
        atol: largest |ORT - torch| accepted per output.

    Raises:
        ExportError: a stage cannot be exported or misses the tolerance.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().float().cpu()
    config = model.config
    rgb, depth, instruction, goal = _example_inputs(model)
    specs: list[GraphSpec] = []

    def add(name: str, role: str, module: torch.nn.Module, args: tuple[torch.Tensor, ...],
            axes: dict[str, dict[int, str]], exit_index: int | None = None) -> tuple[torch.Tensor, ...]:
        inputs, outputs = ROLE_IO[role]
        file = f"{name}.onnx"
        logger.info("exporting %s", file)
        export_module(module, args, out / file, inputs, outputs, axes, opset)
        with torch.no_grad():
            reference = module(*args)
        diff = check_parity(out / file, {k: v.numpy() for k, v in zip(inputs, args, strict=True)}, reference, atol)
        in_specs, out_specs = tensor_specs(out / file)
        specs.append(GraphSpec(name, role, GraphFile.of(out, file), in_specs, out_specs, exit_index,
                               parity_max_abs_diff=diff))
        return reference

    batch = {0: "batch"}
    hidden, feature = add("vision", "vision", model.tokenizer, (rgb, depth, instruction, goal),
                          {"rgb": batch, "depth": batch, "instruction": batch, "goal": batch})
    features = [feature]
    for k, segment in enumerate(model.segments, start=1):
        hidden, feature = add(f"segment_{k}", "segment", segment, (hidden,), {"hidden": batch}, exit_index=k)
        features.append(feature)
    h, c = model.initial_state(_EXAMPLE_BATCH)
    h, c = torch.randn_like(h) * 0.5, torch.randn_like(c) * 0.5
    add("head", "head", model.head, (features[-1], h, c), {"feature": batch, "h": {1: "batch"}, "c": {1: "batch"}})

    flops = StepFlops.from_config(config)
    manifest = Manifest(
        format=POLICY_FORMAT,
        opset=opset,
        graphs=tuple(specs),
        producer={"embodied_stack": __version__, "torch": torch.__version__, **(producer or {})},
        sections={
            "config": config.to_dict(),
            "exits": {
                "count": config.num_exits,
                "metric": config.exit_metric,
                "exit_layers": list(config.exit_layers),
                "thresholds": thresholds.to_dict() if thresholds is not None else None,
                "flops": {
                    "vision": flops.vision,
                    "head": flops.head,
                    "trunk_per_exit": list(flops.trunk_per_exit),
                    "total_per_exit": [flops.total(k) for k in range(1, config.num_exits + 1)],
                },
            },
        },
        root=out,
    )
    manifest.write()
    logger.info("wrote %s (%d graphs)", out / MANIFEST_NAME, len(specs))
    return policy_export_from_manifest(manifest)


def export_checkpoint(
    checkpoint: str | Path, out_dir: str | Path, *, opset: int = DEFAULT_OPSET, atol: float = PARITY_ATOL
) -> PolicyExport:
    """:func:`export_policy` of a checkpoint file, recording its path, checksum and thresholds.

    The checkpoint's validation consistency scores, when it has them, are copied to
    ``calibration_scores.npy`` so that the runtime can calibrate other budgets (``budget=``).
    """
    loaded = load_policy(checkpoint)
    producer = {"source": str(Path(checkpoint)), "source_sha256": file_sha256(checkpoint)}
    export = export_policy(loaded.model, out_dir, thresholds=loaded.thresholds, opset=opset, producer=producer, atol=atol)
    if loaded.calibration_scores is not None:
        np.save(export.root / CALIBRATION_SCORES_FILE, np.asarray(loaded.calibration_scores, dtype=np.float32))
        export.manifest.sections["exits"]["calibration_scores"] = CALIBRATION_SCORES_FILE
        export.manifest.write()
    return export
