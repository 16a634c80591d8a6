"""Per-segment ONNX export of a wrapped Hugging Face decoder (:mod:`embodied_stack.policy.hf_multi_exit`).

One graph for the input stage (exit 0: ``inputs_embeds -> hidden, logits, actions``) and one per
segment (``hidden -> hidden_next, logits, actions``): the hidden state is the state a segment
hands the next, so a host runs only the graphs up to the exit its rule takes. Each graph is
checked against torch in onnxruntime (:func:`~embodied_stack.deploy.onnx_export.check_parity`).
Key/value caches across time steps are not exported: every step re-encodes its whole token
sequence, as the shipped policies do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from embodied_stack.deploy.manifest import DEFAULT_OPSET
from embodied_stack.deploy.onnx_export import PARITY_ATOL, check_parity, export_module
from embodied_stack.policy.hf_multi_exit import MultiExitDecoder

HF_EXPORT_FORMAT = "embodied-stack.hf-multi-exit/1"


def export_multi_exit(model: MultiExitDecoder, out_dir: str | Path, *, seq_len: int | None = None,
                      opset: int = DEFAULT_OPSET, atol: float = PARITY_ATOL, seed: int = 0) -> dict[str, Any]:
    """Write ``input.onnx``, ``segment_1.onnx`` .. ``segment_E.onnx`` and ``hf_export.json``.

    Returns the index written to ``hf_export.json``: graph files, exit layers, per-exit FLOPs and
    each graph's measured max |onnxruntime - torch|.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().float()
    t = seq_len or model.spec.seq_len
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(2, t, model.hidden_size, generator=gen) * 0.5
    graphs = []
    names = ("hidden_next", "logits", "actions")

    def add(name: str, module: torch.nn.Module, x: torch.Tensor, input_name: str) -> torch.Tensor:
        export_module(module, (x,), out / f"{name}.onnx", [input_name], list(names), {input_name: {0: "batch"}}, opset)
        with torch.no_grad():
            reference = module(x)
        diff = check_parity(out / f"{name}.onnx", {input_name: x.numpy()}, reference, atol)
        graphs.append({"name": name, "file": f"{name}.onnx", "input": input_name, "outputs": list(names),
                       "parity_max_abs_diff": diff})
        return reference[0]

    hidden = add("input", model.inputs, example, "inputs_embeds")
    for k, segment in enumerate(model.segments, start=1):
        hidden = add(f"segment_{k}", segment, hidden, "hidden")
    index = {
        "format": HF_EXPORT_FORMAT,
        "family": model.family,
        "seq_len": t,
        "hidden_size": model.hidden_size,
        "exit_layers": list(model.exit_layers),
        "exit_flops": [int(x) for x in model.exit_flops(t)],
        "metric": model.spec.metric,
        "graphs": graphs,
    }
    (out / "hf_export.json").write_text(json.dumps(index, indent=1) + "\n")
    return index
