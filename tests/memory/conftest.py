"""Shared fixtures of the memory tests: the packaged MiniLM (loaded once), a hashing embedder,
and a hand-built apartment of observations with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_helpers import apartment_observations

from embodied_stack.memory.embedders import CachedEmbedder, HashEmbedder, load_embedder

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def minilm() -> CachedEmbedder:
    """The default embedder (all-MiniLM-L6-v2 from the PyPI package), loaded once per session."""
    return load_embedder("default")


@pytest.fixture()
def hash_embedder() -> CachedEmbedder:
    return CachedEmbedder(HashEmbedder(64))


@pytest.fixture(scope="session")
def apartment():
    return apartment_observations()


@pytest.fixture()
def small_house_dir() -> Path:
    path = SHARED_DATA / "scene_aws_small_house"
    if not (path / "map.yaml").is_file():
        pytest.skip(f"shared test data not found at {path}")
    return path
