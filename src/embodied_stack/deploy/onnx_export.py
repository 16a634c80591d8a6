"""Export one ``nn.Module`` to one ONNX graph and prove it computes what torch computes.

Uses torch's default (dynamo) exporter with a fixed opset (``DEFAULT_OPSET`` = 18: the
exporter supports 18 and up; onnxruntime >= 1.14 and TensorRT >= 8.6 read it), the weights
inside the one ``.onnx`` file (no external data: every graph here is far below 2 GB), and
named dynamic axes (``batch``, ``sequence``) so one graph serves every batch size. After
export the graph is run in onnxruntime on the example inputs and compared with torch: a
difference above the tolerance is an :class:`ExportError`, never a silent mismatch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embodied_stack._deps import require
from embodied_stack.deploy.errors import ExportError
from embodied_stack.deploy.manifest import TensorSpec

logger = logging.getLogger(__name__)

PARITY_ATOL = 1e-4
_NOISY_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export")
_ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32"}


def export_module(
    module: torch.nn.Module,
    example_inputs: Sequence[torch.Tensor],
    path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    opset: int,
) -> Path:
    """Write ``module`` as one ONNX graph at ``path``.

    Args:
        example_inputs: tensors to trace with; make every dynamic axis at least 2 long, or the
            exporter specialises it to the example's size.
        input_names, output_names: the graph's tensor names, in ``forward`` order.
        dynamic_axes: input name -> {axis: symbolic name}; output axes follow from tracing.
        opset: ONNX opset of the default domain.

    Raises:
        ExportError: the exporter failed (message names the module and the cause).
    """
    require("onnxscript")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dims: dict[str, Any] = {}
    dynamic_shapes = {
        name: {axis: dims.setdefault(symbol, torch.export.Dim(symbol, min=1, max=1 << 16)) for axis, symbol in axes.items()}
        for name, axes in dynamic_axes.items()
    }
    dynamic_shapes.update({name: {} for name in input_names if name not in dynamic_shapes})
    chatter = io.StringIO()
    quiet = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                tuple(example_inputs),
                str(path),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=dynamic_shapes,
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except Exception as err:  # noqa: BLE001 - the exporter raises many unrelated types
        raise ExportError(f"exporting {type(module).__name__} to {path} failed: {err}") from err
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
        logger.debug("torch.onnx output for %s:\n%s", path.name, chatter.getvalue())
    return path


def tensor_specs(path: str | Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The inputs and outputs of an ONNX file as manifest :class:`TensorSpec` entries."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)

    def spec(value) -> TensorSpec:  # noqa: ANN001 - onnx ValueInfoProto
        tensor_type = value.type.tensor_type
        shape = tuple(d.dim_param if d.dim_param else int(d.dim_value) for d in tensor_type.shape.dim)
        return TensorSpec(value.name, _ONNX_DTYPES.get(tensor_type.elem_type, str(tensor_type.elem_type)), shape)

    return tuple(spec(v) for v in model.graph.input), tuple(spec(v) for v in model.graph.output)


def max_abs_diff(
    session_path: str | Path, inputs: Mapping[str, np.ndarray], reference: Sequence[torch.Tensor | np.ndarray]
) -> float:
    """Largest |onnxruntime - reference| over all outputs of the graph at ``session_path`` (CPU)."""
    ort = require("onnxruntime")
    session = ort.InferenceSession(str(session_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, dict(inputs))
    if len(outputs) != len(reference):
        raise ExportError(f"{session_path}: graph returns {len(outputs)} outputs, torch returns {len(reference)}")
    worst = 0.0
    for out, ref in zip(outputs, reference, strict=True):
        ref_np = ref.detach().cpu().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
        if out.shape != ref_np.shape:
            raise ExportError(f"{session_path}: output shape {out.shape} differs from torch's {ref_np.shape}")
        worst = max(worst, float(np.max(np.abs(out.astype(np.float64) - ref_np.astype(np.float64)), initial=0.0)))
    return worst


def check_parity(
    path: str | Path,
    inputs: Mapping[str, np.ndarray],
    reference: Sequence[torch.Tensor | np.ndarray],
    atol: float = PARITY_ATOL,
) -> float:
    """:func:`max_abs_diff`, raising :class:`ExportError` when it exceeds ``atol``."""
    diff = max_abs_diff(path, inputs, reference)
    if not diff <= atol:
        raise ExportError(f"{path}: onnxruntime differs from torch by {diff:.3g} (tolerance {atol:g})")
    return diff
