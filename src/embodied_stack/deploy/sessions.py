"""onnxruntime sessions: execution-provider selection and clear errors for bad model files.

Providers are named short (``cpu``, ``cuda``, ``tensorrt``) or by their onnxruntime names, in
preference order (``"tensorrt,cuda,cpu"`` on a Jetson; ``"cpu"`` here). TensorRT gets fp16 and
an engine cache (built on the first run, reused after) in ``trt_cache_dir``, by default
``$EMBODIED_STACK_TRT_CACHE`` or ``~/.cache/embodied-stack/trt``: the export directory itself
may be read-only on the robot.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from embodied_stack._deps import require
from embodied_stack.deploy.errors import ModelFileError, RuntimeConfigError
from embodied_stack.deploy.manifest import GraphSpec

logger = logging.getLogger(__name__)

PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
ProviderList = list[tuple[str, dict[str, Any]]]


def default_trt_cache_dir() -> Path:
    env = os.environ.get("EMBODIED_STACK_TRT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "embodied-stack" / "trt"


def parse_providers(
    spec: str | Sequence[str] | None = None, *, trt_cache_dir: str | Path | None = None, trt_fp16: bool = True
) -> ProviderList:
    """Execution providers with their options, in preference order.

    Args:
        spec: ``"cpu"`` (default), ``"cuda,cpu"``, ``"tensorrt,cuda,cpu"``, a list of such names,
            or onnxruntime's own names (``CUDAExecutionProvider``).
        trt_cache_dir: where TensorRT keeps its engines (see the module docstring).
        trt_fp16: let TensorRT run in fp16.

    Raises:
        RuntimeConfigError: an unknown name, or one this onnxruntime build lacks (the message
            lists the available ones).
    """
    ort = require("onnxruntime")
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else (spec or ["cpu"])) if s.strip()]
    if not names:
        names = ["cpu"]
    available = ort.get_available_providers()
    providers: ProviderList = []
    for name in names:
        full = PROVIDER_NAMES.get(name.lower(), name)
        if full not in PROVIDER_NAMES.values():
            raise RuntimeConfigError(
                f"unknown execution provider {name!r}; expected some of {sorted(set(PROVIDER_NAMES))}"
            )
        if full not in available:
            raise RuntimeConfigError(
                f"execution provider {name!r} ({full}) is not in this onnxruntime build; available: {available} "
                "(on a Jetson install onnxruntime-gpu, see deploy/GUIDE.md)"
            )
        options: dict[str, Any] = {}
        if full == "TensorrtExecutionProvider":
            cache = Path(trt_cache_dir) if trt_cache_dir is not None else default_trt_cache_dir()
            cache.mkdir(parents=True, exist_ok=True)
            options = {"trt_fp16_enable": trt_fp16, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}
        providers.append((full, options))
    return providers


def as_provider_list(providers: str | Sequence[str] | ProviderList | None) -> ProviderList:
    """``providers`` unchanged when already parsed (a list of (name, options)), else parsed."""
    if isinstance(providers, list) and providers and all(isinstance(p, tuple) for p in providers):
        return providers
    return parse_providers(providers)  # type: ignore[arg-type]


def split_options(text: str, known: set[str], what: str) -> tuple[str, dict[str, str]]:
    """Split ``PATH?key=value&key=value`` into the path and its options (unknown keys are errors)."""
    path, _, query = text.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=False))
    unknown = sorted(set(options) - known)
    if not path:
        raise RuntimeConfigError(f"{what} {text!r}: no directory given")
    if unknown:
        raise RuntimeConfigError(f"{what} {text!r}: unknown option(s) {unknown}; expected some of {sorted(known)}")
    return path, options


def open_session(path: Path, spec: GraphSpec, providers: ProviderList, threads: int | None = None) -> Any:
    """An ``InferenceSession`` for ``path``, checked against the manifest's graph ``spec``.

    Raises:
        ModelFileError: the file is not a loadable ONNX model, or its input/output names
            differ from the manifest's.
    """
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads is not None:
        if threads < 0:
            raise RuntimeConfigError(f"threads must be >= 0 (0 = onnxruntime's default), got {threads}")
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options,
            providers=[name for name, _ in providers], provider_options=[opts for _, opts in providers],
        )
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own unrelated types
        raise ModelFileError(
            f"onnxruntime cannot load graph {spec.name!r}: {str(err).strip()[:300]}", path=str(path)
        ) from err
    inputs = tuple(i.name for i in session.get_inputs())
    outputs = tuple(o.name for o in session.get_outputs())
    want_in, want_out = tuple(t.name for t in spec.inputs), tuple(t.name for t in spec.outputs)
    if inputs != want_in or outputs != want_out:
        raise ModelFileError(
            f"graph {spec.name!r} takes {list(inputs)} -> {list(outputs)}; the manifest lists "
            f"{list(want_in)} -> {list(want_out)}",
            path=str(path),
        )
    logger.debug("opened %s with %s", path, session.get_providers())
    return session
