"""A FAISS inner-product index over leaf embeddings that stays fast as the memory grows.

Below ``flat_max`` vectors it is exact (``IndexFlatIP`` behind an id map); above, it switches to
an inverted-file index with 8-bit scalar quantisation (``IndexIVFScalarQuantizer``, about
``sqrt(N)`` lists, ``nprobe`` probed, so a query scans 2-5 % of the vectors, about 2 ms at a
million; more lists would scan less but make training and every batch's adds dearer: an add
compares each new vector with every list's centroid), retrained when the memory has grown
8-fold since the last training. Callers re-rank the candidates with exact embeddings, so
quantisation only affects which candidates come back. Vectors are unit-norm float32, so scores
are cosines.
Files are written with ``faiss.write_index`` (a binary layout FAISS parses; no pickle).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from embodied_stack._deps import require
from embodied_stack.memory.errors import CorruptStoreError

log = logging.getLogger(__name__)

_TRAIN_SAMPLES_PER_LIST = 40
_RETRAIN_GROWTH = 8
_ADD_CHUNK = 65_536


class VectorIndex:
    """Inner-product k-NN over (id, vector) pairs with integer ids."""

    def __init__(self, dim: int, *, flat_max: int = 20_000, nprobe: int = 24) -> None:
        self.faiss = require("faiss")
        self.dim = dim
        self.flat_max = flat_max
        self.nprobe = nprobe
        self._trained_size = 0
        self._index = self._flat()

    @property
    def kind(self) -> str:
        return "flat" if self._trained_size == 0 else "ivf-sq8"

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def _flat(self):  # noqa: ANN202 - a faiss index
        return self.faiss.IndexIDMap2(self.faiss.IndexFlatIP(self.dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids (ids must not be present already)."""
        if len(ids) == 0:
            return
        # An ingest batch's few hundred vectors add 4x faster on one thread than on two (OpenMP
        # start-up costs more than the work); bulk adds during a rebuild keep every thread.
        with self._one_thread(len(ids) < _ADD_CHUNK):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                     np.ascontiguousarray(ids, dtype=np.int64))

    @contextmanager
    def _one_thread(self, wanted: bool = True) -> Iterator[None]:
        """Run FAISS on one OpenMP thread inside the block (when ``wanted``)."""
        threads = self.faiss.omp_get_max_threads()
        if wanted and threads != 1:
            self.faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            if wanted and threads != 1:
                self.faiss.omp_set_num_threads(threads)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def needs_rebuild(self) -> bool:
        """True when the index should be rebuilt for speed (crossed the flat limit, or grew 8x)."""
        n = self.ntotal
        if self._trained_size == 0:
            return n > self.flat_max
        return n > _RETRAIN_GROWTH * self._trained_size

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray | Callable[[np.ndarray], np.ndarray], *,
                seed: int = 0) -> None:
        """Replace the content by (ids, vectors), choosing flat or IVF by size. ``vectors`` may be
        a function from ids to rows, called chunk by chunk (a million float32 rows at once would
        cost 1.5 GB)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        fetch = vectors if callable(vectors) else (lambda chunk: vectors[np.searchsorted(ids, chunk)])
        n = len(ids)
        if n <= self.flat_max:
            self._index = self._flat()
            self._trained_size = 0
            self.add(ids, fetch(ids))
            return
        nlist = int(2 ** round(math.log2(max(64.0, math.sqrt(n)))))
        quantizer = self.faiss.IndexFlatIP(self.dim)
        index = self.faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, self.faiss.ScalarQuantizer.QT_8bit,
                                                   self.faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = min(n, nlist * _TRAIN_SAMPLES_PER_LIST)
        chosen = ids[np.sort(rng.choice(n, size=sample, replace=False))] if sample < n else ids
        index.cp.seed = seed
        index.cp.niter = 10
        index.train(np.ascontiguousarray(fetch(chosen), dtype=np.float32))
        index.set_direct_map_type(self.faiss.DirectMap.Hashtable)
        index.nprobe = self.nprobe
        for start in range(0, n, _ADD_CHUNK):
            chunk = ids[start:start + _ADD_CHUNK]
            index.add_with_ids(np.ascontiguousarray(fetch(chunk), dtype=np.float32), chunk)
        self._index = index
        self._trained_size = n
        log.info("leaf index rebuilt: IVF-SQ8 with %d lists over %d vectors", nlist, n)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one (dim,) query; fewer when the index holds fewer."""
        k = min(k, self.ntotal)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        # One query is fastest on one thread: OpenMP start-up costs far more than the scan,
        # and on a busy machine it can cost 100x.
        with self._one_thread():
            scores, ids = self._index.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def write(self, path: Path) -> None:
        self.faiss.write_index(self._index, str(path))

    @classmethod
    def read(cls, path: Path, dim: int, *, flat_max: int = 20_000, nprobe: int = 24) -> VectorIndex:
        """Read an index file written by :meth:`write`; a damaged file raises CorruptStoreError."""
        index = cls(dim, flat_max=flat_max, nprobe=nprobe)
        try:
            loaded = index.faiss.read_index(str(path))
        except RuntimeError as err:
            raise CorruptStoreError(f"{path}: not a readable FAISS index ({err})") from err
        if loaded.d != dim:
            raise CorruptStoreError(f"{path}: index dimension {loaded.d}, expected {dim}")
        ivf = index.faiss.try_extract_index_ivf(loaded) if hasattr(index.faiss, "try_extract_index_ivf") else None
        if ivf is not None:
            ivf.nprobe = nprobe
            index._trained_size = max(1, int(loaded.ntotal))
        index._index = loaded
        return index
