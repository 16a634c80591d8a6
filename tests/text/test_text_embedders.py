"""Embedders: the packaged MiniLM, the hashing embedder, the cache and the spec registry."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.text.embedders import (
    CachedEmbedder,
    HashEmbedder,
    load_embedder,
    register_embedder_scheme,
)
from embodied_stack.text.errors import EmbedderError


def test_minilm_is_384d_normalised_and_meaningful(minilm: CachedEmbedder) -> None:
    vectors = minilm.embed(["a fridge", "a refrigerator", "a sofa"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)  # rounded through float16
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert minilm.name == "all-MiniLM-L6-v2"


def test_a_few_texts_skip_encode_and_give_its_values(minilm: CachedEmbedder) -> None:
    inner = minilm.inner
    texts = ["where is the red mug?", "I'm thirsty", "a tall white fridge. fridge: keep food cold"]
    assert inner._direct
    expected = inner._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(inner.embed(texts), expected, atol=1e-6)
    assert np.allclose(inner.embed(texts[:1]), expected[:1], atol=1e-6)


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    a = HashEmbedder(64).embed(["red mug", "", "red mug"])
    b = HashEmbedder(64).embed(["red mug"])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[0], a[2])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)


def test_cache_counts_hits_and_evicts_oldest() -> None:
    calls: list[int] = []

    class Counting(HashEmbedder):
        def embed(self, texts):  # noqa: ANN001, ANN202
            calls.append(len(texts))
            return super().embed(texts)

    cache = CachedEmbedder(Counting(32), max_entries=2)
    first = cache.embed(["a", "b", "a"])
    assert calls == [2] and cache.misses == 2
    assert np.array_equal(cache.embed(["b"])[0], first[1]) and cache.hits == 1
    cache.embed(["c"])  # evicts "a", the least recently used
    cache.embed(["a"])
    assert calls == [2, 1, 1]


def test_specs(tmp_path) -> None:
    assert load_embedder("hash:32").dim == 32
    with pytest.raises(EmbedderError, match="unknown embedder"):
        load_embedder("no-such-model")
    with pytest.raises(EmbedderError, match="not a sentence-transformers"):
        load_embedder(str(tmp_path))
    register_embedder_scheme("testonly", lambda arg: HashEmbedder(int(arg)))
    assert load_embedder("testonly:16").dim == 16
