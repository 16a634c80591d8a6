"""Fixtures shared across the test tree: the packaged MiniLM (loaded once per session) and a
hashing embedder. The helper modules of tests/sim (hand-built scenes) are importable everywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from embodied_stack.text.embedders import CachedEmbedder, HashEmbedder, load_embedder

sys.path.insert(0, str(Path(__file__).resolve().parent / "sim"))


@pytest.fixture(scope="session")
def minilm() -> CachedEmbedder:
    """The default embedder (all-MiniLM-L6-v2 from the PyPI package), loaded once per session."""
    return load_embedder("default")


@pytest.fixture()
def hash_embedder() -> CachedEmbedder:
    return CachedEmbedder(HashEmbedder(64))
