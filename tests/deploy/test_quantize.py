"""int8 quantisation round trip: files, manifest, runtime, agreement with fp32, TensorRT caches."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import onnx
import pytest

from embodied_stack.deploy.bench import replay
from embodied_stack.deploy.errors import QuantizationError
from embodied_stack.deploy.manifest import read_manifest
from embodied_stack.deploy.quantize import TRT_CACHE_HEADER, quantize_export
from embodied_stack.deploy.runtime import OnnxPolicy
from embodied_stack.deploy.sim_inputs import RecordedEpisodes
from embodied_stack.policy.early_exit import ExitThresholds


def _agreement(root: Path, recorded: RecordedEpisodes) -> float:
    full = ExitThresholds.full(3, "tv")
    _, want = replay(OnnxPolicy(root), full, recorded)
    _, got = replay(OnnxPolicy(root, precision="int8"), full, recorded)
    return float((got == want).mean())


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_round_trip(export_copy: Path, recorded: RecordedEpisodes, mode: str) -> None:
    manifest = quantize_export(export_copy, mode, recorded=recorded)
    reread = read_manifest(export_copy)
    assert reread.int8 is not None and reread.int8["mode"] == mode
    assert reread.precisions() == ("fp32", "int8")
    for graph in reread.graphs:
        path = graph.int8.resolve(export_copy)
        assert path.parent.name == "int8"
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert ops & ({"DynamicQuantizeLinear", "DynamicQuantizeLSTM", "MatMulInteger"} if mode == "dynamic"
                      else {"QuantizeLinear", "DequantizeLinear"}), graph.name
    assert manifest.total_bytes("int8") < manifest.total_bytes("fp32")
    assert _agreement(export_copy, recorded) >= 0.8
    if mode == "static":
        assert reread.int8["calibration"]["steps"] == recorded.num_steps
        assert all(g.trt_calibration_cache == f"calib/{g.name}.cache" for g in reread.graphs)
    else:
        assert all(g.trt_calibration_cache is None for g in reread.graphs)


def test_static_mode_writes_tensorrt_calibration_caches(export_copy: Path, recorded: RecordedEpisodes) -> None:
    quantize_export(export_copy, "static", recorded=recorded)
    lines = (export_copy / "calib" / "segment_1.cache").read_text().splitlines()
    assert lines[0] == TRT_CACHE_HEADER
    graph = onnx.load(str(export_copy / "segment_1.onnx"))
    names = {v.name for v in graph.graph.input} | {o for n in graph.graph.node for o in n.output}
    entries = dict(line.split(": ") for line in lines[1:])
    assert "hidden" in entries and "feature" in entries
    assert set(entries) <= names
    scales = [struct.unpack(">f", bytes.fromhex(v))[0] for v in entries.values()]
    assert all(math.isfinite(s) and s > 0 for s in scales)


def test_requantising_replaces_the_previous_mode(export_copy: Path, recorded: RecordedEpisodes) -> None:
    quantize_export(export_copy, "static", recorded=recorded)
    quantize_export(export_copy, "dynamic")
    data = json.loads((export_copy / "manifest.json").read_text())
    assert data["int8"]["mode"] == "dynamic"
    assert not (export_copy / "calib").exists()
    assert all("trt_calibration_cache" not in g for g in data["graphs"])


def test_quantisation_errors(export_copy: Path) -> None:
    with pytest.raises(QuantizationError, match="int8 mode must be one of"):
        quantize_export(export_copy, "int4")
    with pytest.raises(QuantizationError, match="needs recorded simulator episodes"):
        quantize_export(export_copy, "static")
    assert read_manifest(export_copy).int8 is None
    assert np.all([g.int8 is None for g in read_manifest(export_copy).graphs])
