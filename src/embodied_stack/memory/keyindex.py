"""Ids grouped by an integer key, for lookups and rankings that must not loop over groups.

A query asks for "every leaf of these categories"; at a million leaves a scan of the category
column costs milliseconds per query. :class:`KeyIndex` keeps a stable sort of the keys of ids
``0..n-1`` plus an unsorted tail of the ids appended since, and re-sorts when the tail grows
past an eighth of the whole (amortised O(log n) per id), so a lookup costs O(matches + tail).
:func:`top_per_group` ranks within many groups at once.
"""

from __future__ import annotations

import numpy as np

_MIN_TAIL = 4096


class KeyIndex:
    """Ids ``0..n-1`` by key, where ``keys[i]`` is fixed once id ``i`` exists (append-only)."""

    def __init__(self) -> None:
        self._order = np.zeros(0, dtype=np.int64)
        self._sorted = np.zeros(0, dtype=np.int64)

    def lookup(self, keys: np.ndarray, n: int, wanted: np.ndarray) -> np.ndarray:
        """Ascending ids among the first ``n`` whose key is one of ``wanted``.

        Args:
            keys: the key column (at least ``n`` long); entries below ``n`` must never change.
            n: how many ids exist.
            wanted: the keys asked for.
        """
        done = len(self._order)
        if n < done or n - done > max(_MIN_TAIL, n // 8):
            self._order = np.argsort(keys[:n], kind="stable").astype(np.int64)
            self._sorted = keys[:n][self._order].astype(np.int64)
            done = n
        wanted = np.unique(np.asarray(wanted, dtype=np.int64))
        left = np.searchsorted(self._sorted, wanted, side="left")
        right = np.searchsorted(self._sorted, wanted, side="right")
        parts = [self._order[a:b] for a, b in zip(left.tolist(), right.tolist(), strict=True) if b > a]
        head = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        tail = np.arange(done, n, dtype=np.int64)
        return np.concatenate([head, tail[np.isin(keys[done:n], wanted)]])


def top_per_group(group: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best scores of each group (ties: the earlier index first), grouped by
    group id in ascending order and best first within a group."""
    order = np.lexsort((np.arange(len(scores)), -scores, group))
    grouped = group[order]
    rank = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
    return order[rank < k]
