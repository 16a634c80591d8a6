"""Complete-linkage clustering on a combined spatial + semantic distance (after Embodied-RAG).

similarity(i, j) = w * exp(-|p_i - p_j| / scale) + (1 - w) * cos(e_i, e_j); distance = 1 - similarity,
and 2 (the maximum) for pairs farther apart than ``max_span_m``. Complete linkage cut at
``threshold`` puts two nodes in one cluster only when *every* pair in it is within the threshold,
so no cluster spans more than ``max_span_m``. Clustering is always local (one room or one spatial cell at a time):
complete linkage is O(n^2) in memory and time, so a cell with more than ``max_size`` members is
split deterministically along its longer axis first.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist


def combined_distances(positions: np.ndarray, embeddings: np.ndarray, *, spatial_weight: float,
                       spatial_scale_m: float, max_span_m: float = np.inf) -> np.ndarray:
    """Condensed (scipy ``pdist`` order) combined distances of n nodes."""
    metres = pdist(positions)
    cosine = 1.0 - pdist(embeddings.astype(np.float32), "cosine")
    distance = 1.0 - (spatial_weight * np.exp(-metres / spatial_scale_m) + (1.0 - spatial_weight) * cosine)
    distance[metres > max_span_m] = 2.0
    return distance


def cluster_nodes(positions: np.ndarray, embeddings: np.ndarray, *, threshold: float, spatial_weight: float,
                  spatial_scale_m: float, max_span_m: float = np.inf, max_size: int = 1500) -> np.ndarray:
    """Cluster labels (0..k-1, in order of first member) for n nodes, complete linkage.

    Args:
        positions: (n, 3) ``map`` positions, metres.
        embeddings: (n, D) unit text embeddings.
        threshold: the cut, as a combined distance (below 2, so spans above ``max_span_m`` never join).
    """
    n = len(positions)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    labels = np.empty(n, dtype=np.int64)
    next_label = 0
    for chunk in _split(positions, np.arange(n), max_size):
        if len(chunk) == 1:
            labels[chunk] = next_label
            next_label += 1
            continue
        distances = combined_distances(positions[chunk], embeddings[chunk], spatial_weight=spatial_weight,
                                       spatial_scale_m=spatial_scale_m, max_span_m=max_span_m)
        tree = linkage(np.maximum(distances, 0.0), method="complete")
        labels[chunk] = _relabel(_cut(tree, len(chunk), threshold)) + next_label
        next_label = int(labels[chunk].max()) + 1
    return _relabel(labels)


def _cut(tree: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """Flat clusters of a linkage tree cut at ``threshold`` (complete-linkage heights only grow,
    so the merges at or below it form whole subtrees): scipy's ``fcluster(criterion="distance")``
    without its per-call validation."""
    owner = np.arange(2 * n - 1)
    for row in np.flatnonzero(tree[:, 2] <= threshold).tolist():
        owner[int(tree[row, 0])] = n + row
        owner[int(tree[row, 1])] = n + row
    labels = np.arange(n)
    for _ in range(n):
        nxt = owner[labels]
        if np.array_equal(nxt, labels):
            break
        labels = nxt
    return labels


def _split(positions: np.ndarray, members: np.ndarray, max_size: int) -> list[np.ndarray]:
    """Halve along the longer horizontal axis until every part has at most ``max_size`` members."""
    if len(members) <= max_size:
        return [members]
    xy = positions[members, :2]
    axis = int(np.argmax(xy.max(axis=0) - xy.min(axis=0)))
    order = members[np.lexsort((xy[:, 1 - axis], xy[:, axis]))]
    half = len(order) // 2
    return _split(positions, order[:half], max_size) + _split(positions, order[half:], max_size)


def _relabel(raw: np.ndarray) -> np.ndarray:
    """Renumber labels 0..k-1 in order of first appearance (deterministic across runs)."""
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]
