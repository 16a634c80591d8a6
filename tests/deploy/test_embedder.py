"""The text embedder exported to ONNX with its tokenizer, used through the memory's loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.deploy.embedder import OnnxEmbedder, export_embedder
from embodied_stack.deploy.errors import ManifestError, RuntimeConfigError
from embodied_stack.deploy.manifest import EMBEDDER_FORMAT, Manifest
from embodied_stack.deploy.quantize import quantize_export
from embodied_stack.text.embedders import Embedder, load_embedder

TEXTS = [
    "where is the fridge?",
    "I'd like to lie down for a nap",
    "which room would I cook in?",
    "a tall white fridge next to the oven in the kitchen",
    "x",
    " ".join(["a long description of the living room with a grey sofa and a wooden table"] * 30),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    manifest = export_embedder(tmp_path_factory.mktemp("embedder") / "minilm")
    quantize_export(manifest.root, "dynamic")
    return manifest


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    """The memory's default embedder without its cache (which rounds through float16)."""
    return load_embedder("default").inner.embed(TEXTS)


def test_export_writes_graph_tokenizer_and_manifest(exported: Manifest) -> None:
    assert exported.format == EMBEDDER_FORMAT
    assert {p.name for p in exported.root.iterdir()} >= {"model.onnx", "tokenizer.json", "manifest.json", "int8"}
    info = exported.sections["embedder"]
    assert info["dim"] == 384 and info["max_seq_length"] == 256 and info["pooling"] == "mean"
    graph = exported.graph("embedder")
    assert [t.shape for t in graph.inputs] == [("batch", "sequence"), ("batch", "sequence")]
    assert graph.parity_max_abs_diff is not None and graph.parity_max_abs_diff < 1e-4


def test_onnx_embedder_matches_the_torch_embedder(exported: Manifest, torch_vectors: np.ndarray) -> None:
    vectors = OnnxEmbedder(exported.root).embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float((vectors * torch_vectors).sum(1).min()) > 0.9999
    loaded = load_embedder(f"onnx:{exported.root}")
    assert isinstance(loaded.inner, OnnxEmbedder) and isinstance(loaded, Embedder)
    assert loaded.dim == 384 and loaded.name == "onnx:all-MiniLM-L6-v2"
    assert float((loaded.embed(TEXTS) * torch_vectors).sum(1).min()) > 0.999


def test_padding_does_not_change_a_text_embedding(exported: Manifest) -> None:
    embedder = OnnxEmbedder(exported.root)
    alone = embedder.embed(TEXTS[:1])
    batched = embedder.embed([TEXTS[-1], TEXTS[0]])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_int8_embedder_is_smaller_and_close(exported: Manifest, torch_vectors: np.ndarray) -> None:
    int8 = OnnxEmbedder(exported.root, precision="int8")
    assert int8.name.endswith(":int8") and load_embedder(f"onnx:{exported.root}?precision=int8").name == int8.name
    assert exported.root.joinpath("int8", "model.onnx").stat().st_size * 3 < exported.root.joinpath("model.onnx").stat().st_size
    assert float((int8.embed(TEXTS) * torch_vectors).sum(1).min()) > 0.95


def test_embedder_spec_and_file_errors(exported: Manifest, tmp_path: Path) -> None:
    with pytest.raises(RuntimeConfigError, match="unknown option"):
        load_embedder(f"onnx:{exported.root}?device=npu")
    broken = Path(shutil.copytree(exported.root, tmp_path / "broken", ignore=shutil.ignore_patterns("int8")))
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(ManifestError, match="not a readable tokenizers file"):
        OnnxEmbedder(broken)
