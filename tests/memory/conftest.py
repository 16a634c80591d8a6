"""Shared fixtures of the memory tests: a hand-built apartment of observations with known answers
(the embedders are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_helpers import apartment_observations

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def apartment():
    return apartment_observations()


@pytest.fixture()
def small_house_dir() -> Path:
    path = SHARED_DATA / "scene_aws_small_house"
    if not (path / "map.yaml").is_file():
        pytest.skip(f"shared test data not found at {path}")
    return path
