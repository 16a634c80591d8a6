"""Manifest validation and clear errors for missing, damaged or mismatching ONNX files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from embodied_stack.deploy.errors import ManifestError, ModelFileError
from embodied_stack.deploy.manifest import EMBEDDER_FORMAT, file_sha256, read_manifest
from embodied_stack.deploy.policy_spec import PolicyExport, load_policy_export
from embodied_stack.deploy.runtime import OnnxPolicy
from embodied_stack.errors import FormatError


def _edit(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_round_trip_keeps_every_field(export_copy: Path, tiny_export: PolicyExport) -> None:
    manifest = read_manifest(export_copy)
    before = json.loads((export_copy / "manifest.json").read_text())
    manifest.write()
    assert json.loads((export_copy / "manifest.json").read_text()) == before
    assert load_policy_export(export_copy).config == tiny_export.config


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value
    return change


@pytest.mark.parametrize("change, field, message", [
    (_set(("format",), "embodied-stack.onnx-policy/9"), "format", "expected"),
    (_drop("graphs"), "graphs", "is missing"),
    (_set(("opset",), "18"), "opset", "expected int"),
    (_set(("graphs", 0, "role"), "decoder"), "graphs[0].role", "not one of"),
    (_set(("graphs", 1, "inputs", 0, "name"), "x"), "graphs[1]", r"takes \['hidden'\]"),
    (_set(("graphs", 2, "exit"), 7), "graphs", "exits 1..3"),
    (_set(("graphs", 0, "file"), "../vision.onnx"), "graphs[0].file", "relative path inside"),
    (_set(("graphs", 0, "sha256"), "abc"), "graphs[0].sha256", "64 lower-case hex"),
    (_set(("graphs", 0, "inputs", 0, "shape"), ["batch", -3]), "graphs[0].inputs[0].shape", "non-negative"),
    (_set(("exits", "count"), 4), "exits.count", "the config has 3 exits"),
    (_set(("exits", "thresholds"), {"thresholds": [0.1, "inf"], "max_exit": 2}), "exits.thresholds",
     "2 thresholds for a 3-exit model"),
    (_set(("config", "hidden_size"), 33), "config", "hidden_size"),
    (_set(("int8",), {"mode": "dynamic"}), "graphs", "have no int8 file"),
    (_set(("int8",), {"mode": "fp4"}), "int8.mode", "not one of"),
])
def test_invalid_manifests_name_the_field(export_copy: Path, change: Callable[[dict[str, Any]], None],
                                          field: str, message: str) -> None:
    _edit(export_copy, change)
    with pytest.raises(ManifestError, match=message) as info:
        load_policy_export(export_copy)
    assert info.value.field == field
    assert str(export_copy / "manifest.json") in str(info.value)
    assert isinstance(info.value, FormatError)


def test_missing_or_unreadable_manifest(tmp_path: Path, export_copy: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")
    with pytest.raises(ManifestError, match="no manifest.json"):
        read_manifest(tmp_path)
    (export_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not readable JSON"):
        read_manifest(export_copy)


def test_embedder_manifest_is_not_a_policy(export_copy: Path) -> None:
    _edit(export_copy, _set(("format",), EMBEDDER_FORMAT))
    with pytest.raises(ManifestError, match="expected 'embodied-stack.onnx-policy/1'"):
        load_policy_export(export_copy)


def test_missing_onnx_file(export_copy: Path) -> None:
    (export_copy / "segment_2.onnx").unlink()
    with pytest.raises(ModelFileError, match="missing; the export is incomplete") as info:
        OnnxPolicy(export_copy)
    assert info.value.path == str(export_copy / "segment_2.onnx")


def test_changed_onnx_file_fails_the_checksum(export_copy: Path) -> None:
    with open(export_copy / "head.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelFileError, match="sha256 .* differs from the manifest's"):
        OnnxPolicy(export_copy)


def test_corrupt_onnx_file_is_reported_by_name(export_copy: Path) -> None:
    target = export_copy / "vision.onnx"
    target.write_bytes(b"this is not an onnx protobuf" * 10)
    _edit(export_copy, _set(("graphs", 0, "sha256"), file_sha256(target)))
    with pytest.raises(ModelFileError, match="onnxruntime cannot load graph 'vision'") as info:
        OnnxPolicy(export_copy)
    assert info.value.path == str(target)


def test_graph_with_other_io_than_the_manifest(export_copy: Path) -> None:
    (export_copy / "segment_1.onnx").write_bytes((export_copy / "head.onnx").read_bytes())
    _edit(export_copy, _set(("graphs", 1, "sha256"), file_sha256(export_copy / "segment_1.onnx")))
    with pytest.raises(ModelFileError, match="the manifest lists \\['hidden'\\]"):
        OnnxPolicy(export_copy)
