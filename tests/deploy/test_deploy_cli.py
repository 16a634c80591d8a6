"""The deploy commands: ``export onnx``, ``export check`` and ``bench onnx`` (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from embodied_stack.cli import main
from embodied_stack.deploy.bench import BenchSettings, run_bench
from embodied_stack.deploy.errors import ManifestError
from embodied_stack.deploy.policy_spec import PolicyExport, load_policy_export


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_export_onnx_then_check(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "policy_onnx"
    assert main(["export", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                 "--int8", "dynamic", "--json"]) == 0
    result = _last_json(capsys)
    assert result["graphs"] == ["vision", "segment_1", "segment_2", "segment_3", "head"]
    assert result["int8_mode"] == "dynamic" and result["int8_bytes"] < result["fp32_bytes"]
    assert result["parity_max_abs_diff"] <= 1e-4 and result["exits"] == 3
    assert load_policy_export(out).manifest.producer["source"] == str(tiny_checkpoint)
    for precision in ("fp32", "int8"):
        assert main(["export", "check", str(out), "--precision", precision, "--json"]) == 0
        check = _last_json(capsys)
        assert check["ok"] and check["providers"] == ["CPUExecutionProvider"]
        assert sorted(check["one_step_ms_by_exit"]) == ["1", "2", "3"]


def test_export_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "onnx", "--checkpoint", str(tmp_path / "missing.safetensors"),
                 "--out", str(tmp_path / "o")]) == 1
    assert "no such checkpoint file" in capsys.readouterr().err
    assert main(["export", "check", str(tmp_path)]) == 1
    assert "no manifest.json" in capsys.readouterr().err


def test_bench_reports_every_backend_and_depth(tiny_checkpoint: Path, tiny_export: PolicyExport) -> None:
    result = run_bench(BenchSettings(checkpoint=tiny_checkpoint, steps=3, rounds=1, embedder=False,
                                     instruction_embedder="hash", export_dir=tiny_export.root))
    json.dumps(result)
    depths = {"exit_1", "exit_2", "exit_3", "calibrated", "budget_0.5", "budget_0.7"}
    assert set(result["policy_ms_per_step"]) == {"torch_fp32", f"torch_fp32_{torch.get_num_threads()}_threads",
                                                 "ort_fp32", "ort_int8_dynamic", "ort_int8_static"}
    for per_depth in result["policy_ms_per_step"].values():
        assert set(per_depth) == depths and all(ms > 0 for ms in per_depth.values())
    assert set(result["speedup_ort_fp32_vs_torch"]) == depths
    for row in result["decisions_vs_torch"].values():
        assert row["ort_fp32_same_exit"] == 1.0 and row["ort_fp32_same_action"] == 1.0
    sizes = result["sizes_bytes"]
    assert sizes["policy_ort_int8_dynamic"] < sizes["policy_ort_fp32"]
    assert result["embedder"] is None and isinstance(result["targets"]["int8_smaller_than_fp32"], bool)


def test_bench_refuses_an_export_of_another_checkpoint(tiny_export: PolicyExport, tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not the checkpoint")
    with pytest.raises(ManifestError, match="was not exported from"):
        run_bench(BenchSettings(checkpoint=other, export_dir=tiny_export.root, embedder=False))
