"""``embodied-stack memory ...`` and ``bench memory`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied_stack.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "sim" / "samples" / "observations_apartment.jsonl"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["ingest", "query", "stats", "export", "rebuild"])
def test_help(capsys, command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["memory", command, "--help"])
    assert exit_info.value.code == 0 and "--store" in capsys.readouterr().out


def test_readme_flow_with_the_default_embedder(tmp_path, capsys) -> None:
    """The sample apartment, ingested and queried as the README's interim main job does."""
    root = ["--root", str(tmp_path), "--store", "out/memory"]
    code, out, _ = _run(capsys, "memory", "ingest", str(SAMPLE), *root, "--json")
    report = _last_json(out)
    assert code == 0 and report["accepted"] == 50 and report["rejected"] == []
    assert 25 <= report["stats"]["leaves"] <= 35 and report["stats"]["rooms"] == 6
    code, out, _ = _run(capsys, "memory", "query", "where is the fridge?", *root, "--json")
    result = _last_json(out)
    assert code == 0 and result["kind"] == "explicit" and result["hits"][0]["name"] == "fridge"
    assert result["hits"][0]["ancestors"][1][1] == "kitchen (kitchen_1)"
    code, out, _ = _run(capsys, "memory", "query", "which room would I cook in?", *root, "--json")
    assert _last_json(out)["hits"][0]["name"] == "kitchen (kitchen_1)"


def test_ingest_reports_bad_lines_and_other_commands(tmp_path, capsys) -> None:
    data = tmp_path / "obs.jsonl"
    lines = SAMPLE.read_text().splitlines()
    lines.insert(5, '{"category": "mug", "position": [NaN, 0, 0]}')
    lines.insert(6, "{not json")
    data.write_text("\n".join(lines) + "\n")
    root = ["--root", str(tmp_path), "--store", "mem", "--embedder", "hash:64"]
    code, out, err = _run(capsys, "memory", "ingest", str(data), *root, "--json")
    report = _last_json(out)
    assert code == 0 and report["accepted"] == 50 and len(report["rejected"]) == 2
    assert "obs.jsonl:6" in err and "position" in err and "obs.jsonl:7" in err
    code, out, _ = _run(capsys, "memory", "stats", *root, "--json")
    assert code == 0 and _last_json(out)["observations"] == 50
    code, out, _ = _run(capsys, "memory", "query", "bed", *root, "--mode", "flat", "--pose", "1", "2", "0",
                        "-k", "2", "--json")
    result = _last_json(out)
    assert code == 0 and result["mode"] == "flat" and len(result["hits"]) == 2
    code, out, _ = _run(capsys, "memory", "export", *root, "--format", "graphml", "--out", str(tmp_path / "g.xml"))
    assert code == 0 and (tmp_path / "g.xml").stat().st_size > 1000
    code, out, _ = _run(capsys, "memory", "rebuild", *root, "--json")
    assert code == 0 and _last_json(out)["stats"]["leaves"] == 31


def test_errors_are_clear(tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "memory", "stats", "--root", str(tmp_path), "--store", "none", "--embedder", "hash")
    assert code == 1 and "no memory store" in err
    code, _, err = _run(capsys, "memory", "query", "x", "--root", str(tmp_path), "--store", "../up",
                        "--embedder", "hash")
    assert code == 1 and "outside the memory root" in err


def test_bench_memory_prints_figures(tmp_path, capsys) -> None:
    code, out, _ = _run(capsys, "bench", "memory", "--leaves", "300", "--queries", "8", "--stream-leaves", "40",
                        "--inserts", "4", "--embedder", "hash:64", "--workdir", str(tmp_path), "--json")
    figures = _last_json(out)
    assert code == 0 and figures["leaves"] > 200 and figures["observations"] >= 300
    for key in ("ingest_obs_per_s", "embedder_raw_texts_per_s", "ingest_vs_raw_embedder_throughput",
                "full_rebuild_cold_s", "rss_after_build_mib", "distinct_captions"):
        assert figures[key] > 0, key
    for mode in ("forest", "flat"):
        for timing in ("with_embedding", "without_embedding"):
            assert figures["queries"][mode][timing]["p99_ms"] >= figures["queries"][mode][timing]["p50_ms"] > 0
    assert figures["stream"]["leaves"] == 40 and figures["stream"]["ratio"] > 0
    passes = figures["embedder_raw_texts_per_s_passes"]
    assert len(passes) == 5 and figures["embedder_raw_texts_per_s"] == max(passes)  # 3 after ingest, 2 at the end
    expected = figures["texts_embedded_by_ingest"] / max(passes) / figures["ingest_s"]
    assert figures["ingest_embedder_bound_ratio"] == pytest.approx(expected, abs=1e-3)
    assert figures["single_insert"]["n"] == 4
