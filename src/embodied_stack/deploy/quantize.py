"""int8 quantisation of an export directory (policy or embedder), with onnxruntime's quantiser.

Two modes, both writing ``int8/<graph>.onnx`` beside the fp32 graphs and recording them in the
manifest:

* ``dynamic``: int8 weights, activations quantised on the fly per call. Needs no data. Policy:
  MatMul and LSTM (ConvInteger has no int8-weight kernel in onnxruntime's CPU provider);
  embedder: MatMul and the embedding Gather, per output channel.
* ``static``: int8 weights (per channel) and uint8 activations with fixed ranges calibrated
  (min/max) on recorded simulator episodes, in QDQ form, for MatMul, Gemm and Conv. uint8
  activations with int8 weights is the combination onnxruntime's x86 kernels are fast at.
  Static mode also writes a TensorRT calibration cache per graph (``calib/<graph>.cache``,
  scales = max |activation| / 127 of every tensor, TensorRT's text format) for
  ``deploy/build_trt_engines.sh``. Policy only: the embedder is quantised dynamically.

The calibration inputs of every policy stage come from running the fp32 graphs over the
recorded episodes with the LSTM state carried from step to step, so each stage is calibrated
on what it sees at run time (segments on the hidden states of real frames, the head at every exit).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack._deps import require
from embodied_stack.deploy.errors import QuantizationError
from embodied_stack.deploy.manifest import (
    EMBEDDER_FORMAT,
    INT8_MODES,
    POLICY_FORMAT,
    GraphFile,
    Manifest,
    read_manifest,
)
from embodied_stack.deploy.sim_inputs import RecordedEpisodes

logger = logging.getLogger(__name__)

INT8_DIR = "int8"
CALIB_DIR = "calib"
TRT_CACHE_HEADER = "TRT-100300-EntropyCalibration2"
"""Header of the written caches (TensorRT 10.3, JetPack 6.1/6.2); the build script rewrites it
to the local TensorRT version, which TensorRT insists on."""

_POLICY_DYNAMIC_OPS = ["MatMul", "LSTM"]
_EMBEDDER_DYNAMIC_OPS = ["MatMul", "Gather"]
_STATIC_OPS = ["MatMul", "Gemm", "Conv"]


def _quantization() -> Any:
    """``onnxruntime.quantization`` (the error names the pip extra when onnxruntime is missing)."""
    require("onnxruntime")
    import onnxruntime.quantization

    return onnxruntime.quantization


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs every tensor on the root logger; keep that out of the CLI."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _list_reader(feeds: list[dict[str, np.ndarray]]) -> Any:
    """An onnxruntime ``CalibrationDataReader`` over a list of input dicts."""
    quantization = _quantization()

    class _Reader(quantization.CalibrationDataReader):  # type: ignore[name-defined]
        def __init__(self) -> None:
            self._items: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    return _Reader()


def collect_stage_feeds(export_dir: str | Path, recorded: RecordedEpisodes) -> dict[str, list[dict[str, np.ndarray]]]:
    """Inputs of every policy graph over ``recorded``, from the fp32 graphs run in onnxruntime.

    Returns graph name -> list of input dicts (one per step; the head gets one per exit 0..E).
    """
    import torch

    from embodied_stack.deploy.runtime import OnnxPolicy

    policy = OnnxPolicy(export_dir, precision="fp32", providers="cpu")
    feeds: dict[str, list[dict[str, np.ndarray]]] = {g.name: [] for g in policy.export.ordered_graphs()}
    vision, head = policy.export.vision.name, policy.export.head.name
    for episode in recorded.episodes:
        h, c = policy.initial_state(1)
        for step in episode:
            feeds[vision].append(step.feeds())
            hidden, feature = policy.tokenizer(*(torch.from_numpy(v) for v in step.feeds().values()))
            feeds[head].append({"feature": feature.numpy(), "h": h.numpy(), "c": c.numpy()})
            for spec, segment in zip(policy.export.segments, policy.segments, strict=True):
                feeds[spec.name].append({"hidden": hidden.numpy()})
                hidden, feature = segment(hidden)
                feeds[head].append({"feature": feature.numpy(), "h": h.numpy(), "c": c.numpy()})
            _, _, h, c = policy.head(feature, h, c)
    return feeds


def tensor_ranges(model_path: Path, feeds: list[dict[str, np.ndarray]]) -> dict[str, tuple[float, float]]:
    """(min, max) of every float tensor of the graph over ``feeds`` (onnxruntime's MinMax calibrator)."""
    quantization = _quantization()
    with tempfile.TemporaryDirectory(prefix="es-calib-") as tmp:
        calibrator = quantization.create_calibrator(
            model_path, None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=quantization.CalibrationMethod.MinMax,
        )
        calibrator.collect_data(_list_reader(feeds))
        data = calibrator.compute_data()
    return {name: (float(np.min(value.range_value[0])), float(np.max(value.range_value[1])))
            for name, value in data.data.items()}


def write_trt_cache(path: Path, ranges: dict[str, tuple[float, float]]) -> Path:
    """TensorRT calibration cache: header, then ``tensor: <big-endian float32 scale in hex>``."""
    lines = [TRT_CACHE_HEADER]
    for name in sorted(ranges):
        low, high = ranges[name]
        amax = max(abs(low), abs(high), 1e-8)
        lines.append(f"{name}: {struct.pack('>f', amax / 127.0).hex()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _quantize_graph(fmt: str, mode: str, source: Path, target: Path, feeds: list[dict[str, np.ndarray]]) -> None:
    quantization = _quantization()
    if mode == "dynamic":
        quantization.quantize_dynamic(
            source, target, op_types_to_quantize=_POLICY_DYNAMIC_OPS if fmt == POLICY_FORMAT else _EMBEDDER_DYNAMIC_OPS,
            per_channel=fmt == EMBEDDER_FORMAT, weight_type=quantization.QuantType.QInt8,
        )
    else:
        quantization.quantize_static(
            source, target, _list_reader(feeds), quant_format=quantization.QuantFormat.QDQ,
            op_types_to_quantize=_STATIC_OPS, per_channel=True, activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, calibrate_method=quantization.CalibrationMethod.MinMax,
        )


def quantize_export(
    export_dir: str | Path, mode: str, *, recorded: RecordedEpisodes | None = None
) -> Manifest:
    """Quantise every graph of an export directory to int8 and update its manifest (int8 files
    of an earlier run are replaced).

    Args:
        export_dir: a policy or embedder export.
        mode: ``"dynamic"`` or ``"static"`` (policy only; needs ``recorded``).
        recorded: simulator episodes to calibrate on (:func:`record_sim_episodes`).

    Raises:
        QuantizationError: unknown mode, static mode without data or for the embedder, or a
            quantiser failure (named graph and cause).
    """
    if mode not in INT8_MODES:
        raise QuantizationError(f"int8 mode must be one of {INT8_MODES}, got {mode!r}")
    manifest = read_manifest(export_dir)
    root = manifest.root
    if mode == "static" and manifest.format == EMBEDDER_FORMAT:
        raise QuantizationError("static int8 is for the policy; quantise the embedder with mode 'dynamic'")
    if mode == "static" and (recorded is None or recorded.num_steps == 0):
        raise QuantizationError("static int8 needs recorded simulator episodes to calibrate on")
    _quantization()
    feeds = collect_stage_feeds(root, recorded) if mode == "static" and recorded is not None else {}
    shutil.rmtree(root / INT8_DIR, ignore_errors=True)
    shutil.rmtree(root / CALIB_DIR, ignore_errors=True)
    (root / INT8_DIR).mkdir()
    graphs = []
    for spec in manifest.graphs:
        source = spec.fp32.resolve(root, verify=True)
        relative = f"{INT8_DIR}/{Path(spec.fp32.file).name}"
        calib = None
        logger.info("quantising %s (%s)", spec.name, mode)
        try:
            with _quiet_root_logger():
                _quantize_graph(manifest.format, mode, source, root / relative, feeds.get(spec.name, []))
            if mode == "static":
                calib = f"{CALIB_DIR}/{spec.name}.cache"
                write_trt_cache(root / calib, tensor_ranges(source, feeds[spec.name]))
        except Exception as err:  # noqa: BLE001 - the quantiser raises many unrelated types
            raise QuantizationError(f"quantising graph {spec.name!r} ({source}) failed: {err}") from err
        graphs.append(replace(spec, int8=GraphFile.of(root, relative), trt_calibration_cache=calib))
    manifest.graphs = tuple(graphs)
    manifest.int8 = {
        "mode": mode,
        "weights": "int8" + (" per channel" if mode == "static" or manifest.format == EMBEDDER_FORMAT else ""),
        "activations": "uint8, calibrated min/max, QDQ" if mode == "static" else "dynamic (per call)",
        "op_types": _STATIC_OPS if mode == "static" else (
            _POLICY_DYNAMIC_OPS if manifest.format == POLICY_FORMAT else _EMBEDDER_DYNAMIC_OPS),
        "calibration": recorded.describe() if mode == "static" and recorded is not None else None,
    }
    manifest.write()
    return manifest

