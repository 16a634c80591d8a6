"""The package's foundation: the CLI entry point, dependency errors, observation records."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from embodied_stack._deps import available, require
from embodied_stack.cli import GROUPS, build_parser, main
from embodied_stack.errors import MissingDependencyError
from embodied_stack.memory.errors import InvalidObservationError
from embodied_stack.types.observations import (
    Observation,
    read_observations_jsonl,
    write_observations_jsonl,
)


def test_cli_groups_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for group in GROUPS:
        assert group in out


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "embodied_stack.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "embodied-stack" in result.stdout


def test_group_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory"]) == 2
    assert "memory" in capsys.readouterr().out


def test_missing_dependency_names_the_install_command() -> None:
    with pytest.raises(MissingDependencyError, match="pip install"):
        require("embodied_stack_no_such_module")
    assert not available("embodied_stack_no_such_module")
    assert available("numpy")


def good() -> dict:
    return {"category": "fridge", "caption": "a white fridge", "position": [1.0, 2.0, 0.9],
            "extent": [0.7, 0.7, 1.8], "confidence": 0.9, "timestamp": 3.5,
            "source_pose": [0, 0, 1, 0, 0, 0, 1]}


def test_observation_round_trip(tmp_path: Path) -> None:
    obs = Observation.from_dict(good())
    path = tmp_path / "obs.jsonl"
    assert write_observations_jsonl(path, [obs, obs]) == 2
    back = list(read_observations_jsonl(path))
    assert back == [obs, obs]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"position": [math.nan, 0, 0]}, "position"),
        ({"position": [1, 2]}, "position"),
        ({"category": "  "}, "category"),
        ({"extent": [0.5, 0.5, 500.0]}, "extent"),
        ({"extent": [-1, 0.5, 0.5]}, "extent"),
        ({"confidence": 1.5}, "confidence"),
        ({"frame_id": "odom"}, "frame_id"),
        ({"source_pose": [0, 0, 0, 0, 0, 0, 5]}, "source_pose"),
        ({"timestamp": "noon"}, "timestamp"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_observations_name_the_field(change: dict, field: str) -> None:
    data = good() | change
    with pytest.raises(InvalidObservationError, match=field):
        Observation.from_dict(data)


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    path.write_text(json.dumps(good()) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(InvalidObservationError, match=r"obs.jsonl:2"):
        list(read_observations_jsonl(path))
