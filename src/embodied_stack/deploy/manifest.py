"""The ``manifest.json`` of an export directory: which ONNX graphs it holds and how to chain them.

Two formats, both strict on load (a :class:`ManifestError` names the file, the field and what
was expected):

``embodied-stack.onnx-policy/1`` (``export onnx``)::

    {"format": "embodied-stack.onnx-policy/1", "opset": 18,
     "producer": {"embodied_stack": "0.1.0", "torch": "2.13.0", "source": "policy.safetensors", ...},
     "config": {... VLAConfig fields ...},
     "exits": {"count": 8, "metric": "tv", "exit_layers": [2, 4, ...],
               "thresholds": {"thresholds": [0.1, ..., "inf"], "max_exit": 8, "metric": "tv", "info": {}} | null,
               "flops": {"vision": 1, "head": 1, "trunk_per_exit": [...], "total_per_exit": [...]}},
     "graphs": [GRAPH, ...],
     "int8": null | {"mode": "dynamic" | "static", ...how it was made...}}

``embodied-stack.onnx-embedder/1`` (``export embedder``)::

    {"format": "embodied-stack.onnx-embedder/1", "opset": 18, "producer": {...},
     "embedder": {"name": "all-MiniLM-L6-v2", "dim": 384, "max_seq_length": 256,
                  "tokenizer": "tokenizer.json", "pooling": "mean", "normalized": true},
     "graphs": [GRAPH], "int8": null | {...}}

A GRAPH is ``{"name", "role", "file", "sha256", "bytes", "inputs", "outputs"}`` plus optional
``"exit"`` (segments: the exit it ends at, 1-based), ``"int8"`` (``{"file", "sha256",
"bytes"}`` of the quantised graph), ``"trt_calibration_cache"`` (TensorRT int8 cache, see
``deploy/build_trt_engines.sh``) and ``"parity_max_abs_diff"`` (largest |ORT - torch| seen at
export). Inputs and outputs are ``{"name", "dtype", "shape"}``; a shape lists integers and
symbolic axis names (``"batch"``, ``"sequence"``). Roles: ``vision`` (``rgb, depth,
instruction, goal -> hidden, feature``), ``segment`` (``hidden -> hidden_next, feature``),
``head`` (``feature, h, c -> logits, velocity, h_next, c_next``; the LSTM state is explicit)
and ``embedder`` (``input_ids, attention_mask -> sentence_embedding``). File paths are relative
to the export directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from embodied_stack.deploy.errors import ManifestError, ModelFileError

MANIFEST_NAME = "manifest.json"
POLICY_FORMAT = "embodied-stack.onnx-policy/1"
EMBEDDER_FORMAT = "embodied-stack.onnx-embedder/1"
DEFAULT_OPSET = 18
PRECISIONS = ("fp32", "int8")
INT8_MODES = ("dynamic", "static")

ROLE_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vision": (("rgb", "depth", "instruction", "goal"), ("hidden", "feature")),
    "segment": (("hidden",), ("hidden_next", "feature")),
    "head": (("feature", "h", "c"), ("logits", "velocity", "h_next", "c_next")),
    "embedder": (("input_ids", "attention_mask"), ("sentence_embedding",)),
}
_DTYPES = ("float32", "float16", "int64", "int32")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type, shape (ints and symbolic axis names)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class GraphFile:
    """An ONNX file of the export, relative to the export directory, with its checksum."""

    file: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, root: Path, relative: str) -> GraphFile:
        path = root / relative
        return cls(relative, file_sha256(path), path.stat().st_size)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "bytes": self.bytes}

    def resolve(self, root: Path, *, verify: bool = True) -> Path:
        """The file's path under ``root``; checks that it exists and (``verify``) its checksum."""
        path = root / self.file
        if not path.is_file():
            raise ModelFileError(
                "missing; the export is incomplete (run `embodied-stack export` again)", path=str(path)
            )
        if verify:
            actual = file_sha256(path)
            if actual != self.sha256:
                raise ModelFileError(
                    f"sha256 {actual[:12]}... differs from the manifest's {self.sha256[:12]}...: "
                    "the file was changed or damaged after export",
                    path=str(path),
                )
        return path


@dataclass(frozen=True)
class GraphSpec:
    """One exported stage; see the module docstring."""

    name: str
    role: str
    fp32: GraphFile
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    exit: int | None = None
    int8: GraphFile | None = None
    trt_calibration_cache: str | None = None
    parity_max_abs_diff: float | None = None

    def file(self, precision: str) -> GraphFile:
        """The file for ``precision`` (``fp32`` or ``int8``)."""
        if precision == "fp32":
            return self.fp32
        if precision == "int8" and self.int8 is not None:
            return self.int8
        if precision == "int8":
            raise ManifestError(
                f"graph {self.name!r} has no int8 file; export with --int8 dynamic|static", field="graphs"
            )
        raise ManifestError(f"precision {precision!r} is not one of {PRECISIONS}", field="graphs")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "role": self.role, **self.fp32.to_dict()}
        if self.exit is not None:
            data["exit"] = self.exit
        data["inputs"] = [t.to_dict() for t in self.inputs]
        data["outputs"] = [t.to_dict() for t in self.outputs]
        if self.int8 is not None:
            data["int8"] = self.int8.to_dict()
        if self.trt_calibration_cache is not None:
            data["trt_calibration_cache"] = self.trt_calibration_cache
        if self.parity_max_abs_diff is not None:
            data["parity_max_abs_diff"] = self.parity_max_abs_diff
        return data


@dataclass
class Manifest:
    """A parsed manifest: the common part plus the format's own sections in ``sections``.

    ``sections`` holds ``config`` and ``exits`` (policy) or ``embedder`` (embedder) as JSON
    values; :mod:`embodied_stack.deploy.runtime` and :mod:`embodied_stack.deploy.embedder`
    turn them into typed objects and validate them further.
    """

    format: str
    opset: int
    graphs: tuple[GraphSpec, ...]
    producer: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    int8: dict[str, Any] | None = None
    root: Path = field(default_factory=Path)

    def graph(self, name: str) -> GraphSpec:
        for g in self.graphs:
            if g.name == name:
                return g
        raise ManifestError(f"no graph named {name!r}; have {[g.name for g in self.graphs]}", field="graphs")

    def by_role(self, role: str) -> list[GraphSpec]:
        return [g for g in self.graphs if g.role == role]

    def precisions(self) -> tuple[str, ...]:
        """Precisions every graph has a file for."""
        return ("fp32", "int8") if all(g.int8 is not None for g in self.graphs) else ("fp32",)

    def total_bytes(self, precision: str) -> int:
        return sum(g.file(precision).bytes for g in self.graphs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "opset": self.opset,
            "producer": self.producer,
            **self.sections,
            "graphs": [g.to_dict() for g in self.graphs],
            "int8": self.int8,
        }

    def write(self, root: str | Path | None = None) -> Path:
        """Write ``manifest.json`` into ``root`` (default: the directory it was read from)."""
        directory = Path(root) if root is not None else self.root
        path = directory / MANIFEST_NAME
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)
        return path


class _Reader:
    """Typed field access that raises :class:`ManifestError` naming the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def fail(self, where: str, message: str) -> ManifestError:
        return ManifestError(message, path=self.path, field=where)

    def get(self, data: Any, key: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
        if not isinstance(data, dict):
            raise self.fail(where, f"expected an object, got {type(data).__name__}")
        name = f"{where}.{key}" if where else key
        if key not in data or data[key] is None:
            if optional:
                return None
            raise self.fail(name, "is missing")
        value = data[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(name, f"expected {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(name, f"expected {_kind_name(kind)}, got {type(value).__name__} {value!r}")
        return value

    def relative_file(self, value: str, where: str) -> str:
        pure = PurePosixPath(value)
        if not value or pure.is_absolute() or ".." in pure.parts:
            raise self.fail(where, f"{value!r} must be a relative path inside the export directory")
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _tensor(r: _Reader, data: Any, where: str) -> TensorSpec:
    name = r.get(data, "name", str, where)
    dtype = r.get(data, "dtype", str, where)
    if dtype not in _DTYPES:
        raise r.fail(f"{where}.dtype", f"{dtype!r} is not one of {_DTYPES}")
    shape = r.get(data, "shape", list, where)
    for axis in shape:
        if isinstance(axis, bool) or not isinstance(axis, (int, str)) or (isinstance(axis, int) and axis < 0):
            raise r.fail(f"{where}.shape", f"axes must be non-negative integers or axis names, got {shape}")
    return TensorSpec(name, dtype, tuple(shape))


def _graph_file(r: _Reader, data: Any, where: str) -> GraphFile:
    file = r.relative_file(r.get(data, "file", str, where), f"{where}.file")
    sha = r.get(data, "sha256", str, where)
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        raise r.fail(f"{where}.sha256", f"expected 64 lower-case hex digits, got {sha!r}")
    size = r.get(data, "bytes", int, where)
    return GraphFile(file, sha, size)


def _graph(r: _Reader, data: Any, where: str) -> GraphSpec:
    name = r.get(data, "name", str, where)
    role = r.get(data, "role", str, where)
    if role not in ROLE_IO:
        raise r.fail(f"{where}.role", f"{role!r} is not one of {sorted(ROLE_IO)}")
    inputs = tuple(_tensor(r, t, f"{where}.inputs[{i}]") for i, t in enumerate(r.get(data, "inputs", list, where)))
    outputs = tuple(_tensor(r, t, f"{where}.outputs[{i}]") for i, t in enumerate(r.get(data, "outputs", list, where)))
    want_in, want_out = ROLE_IO[role]
    if tuple(t.name for t in inputs) != want_in or tuple(t.name for t in outputs) != want_out:
        raise r.fail(
            where,
            f"a {role!r} graph takes {list(want_in)} and returns {list(want_out)}; "
            f"the manifest lists {[t.name for t in inputs]} -> {[t.name for t in outputs]}",
        )
    exit_index = r.get(data, "exit", int, where, optional=True)
    if role == "segment" and (exit_index is None or exit_index < 1):
        raise r.fail(f"{where}.exit", f"a segment needs its exit index (>= 1), got {exit_index!r}")
    int8_data = r.get(data, "int8", dict, where, optional=True)
    calib = r.get(data, "trt_calibration_cache", str, where, optional=True)
    parity = r.get(data, "parity_max_abs_diff", (int, float), where, optional=True)
    return GraphSpec(
        name=name,
        role=role,
        fp32=_graph_file(r, data, where),
        inputs=inputs,
        outputs=outputs,
        exit=exit_index,
        int8=_graph_file(r, int8_data, f"{where}.int8") if int8_data is not None else None,
        trt_calibration_cache=r.relative_file(calib, f"{where}.trt_calibration_cache") if calib else None,
        parity_max_abs_diff=float(parity) if parity is not None else None,
    )


def read_manifest(root: str | Path, expected_format: str | None = None) -> Manifest:
    """Read and check the common part of ``root/manifest.json``.

    Raises:
        ManifestError: no manifest, not JSON, another format than ``expected_format``, a
            missing or mistyped field, a graph whose inputs/outputs do not fit its role, a
            duplicate graph name, or an int8 section without int8 files (or the reverse).
    """
    root = Path(root)
    path = root / MANIFEST_NAME
    r = _Reader(path)
    if not root.is_dir():
        raise ManifestError("export directory does not exist", path=str(root))
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ManifestError("no manifest.json: not an `embodied-stack export` directory", path=str(path)) from err
    except (OSError, ValueError) as err:
        raise ManifestError(f"not readable JSON ({err})", path=str(path)) from err
    fmt = r.get(data, "format", str, "")
    known = (POLICY_FORMAT, EMBEDDER_FORMAT)
    if fmt not in known or (expected_format is not None and fmt != expected_format):
        raise r.fail("format", f"is {fmt!r}; expected {expected_format or ' or '.join(known)!r}")
    opset = r.get(data, "opset", int, "")
    graphs = tuple(_graph(r, g, f"graphs[{i}]") for i, g in enumerate(r.get(data, "graphs", list, "")))
    if not graphs:
        raise r.fail("graphs", "is empty")
    names = [g.name for g in graphs]
    if len(set(names)) != len(names):
        raise r.fail("graphs", f"graph names must be unique, got {names}")
    int8 = r.get(data, "int8", dict, "", optional=True)
    if int8 is not None:
        mode = r.get(int8, "mode", str, "int8")
        if mode not in INT8_MODES:
            raise r.fail("int8.mode", f"{mode!r} is not one of {INT8_MODES}")
        lacking = [g.name for g in graphs if g.int8 is None]
        if lacking:
            raise r.fail("graphs", f"int8 mode {mode!r} but graphs {lacking} have no int8 file")
    elif any(g.int8 is not None for g in graphs):
        raise r.fail("int8", "is null but some graphs list int8 files")
    producer = r.get(data, "producer", dict, "", optional=True) or {}
    common = {"format", "opset", "producer", "graphs", "int8"}
    sections = {k: v for k, v in data.items() if k not in common}
    return Manifest(fmt, opset, graphs, producer, sections, int8, root)
