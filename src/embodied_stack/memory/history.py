"""Sighting-history tools for temporal questions, after ReMEmbR's time and position tools.

- :func:`latest_of`: "where did I last see my keys?" — the leaves of the named categories, most
  recently seen first (a thing that moved has a newer leaf at its new place; the old one, looked
  at and not seen again, is retired);
- :func:`on_anchor`: "what was on the kitchen counter this morning?" — leaves sighted in the
  window that stand on or next to a leaf of the named thing (over its footprint, not below it);
- :func:`changes_in`: "has anything moved in the living room?" — leaves of a region that appeared
  after the robot's first visit there (new places of moved things first: the same category was
  retired from the region) and leaves retired since (gone).

Each returns leaf ids, best first; answering turns them into hits and text.
"""

from __future__ import annotations

import re

import numpy as np

from embodied_stack.memory.state import MemoryState

ON_ANCHOR = re.compile(r"\bwhat (?:was|were|is|are|did you see|have you seen) (?:on|on top of|at|by|next to|near) (?:the|my)\b")
CHANGE_CUES = re.compile(r"\b(moved|changed|change|disappeared|missing|gone|anything new|new things?|still there|"
                         r"been moved|taken away|removed)\b")
REVISIT_GAP_S = 600.0
"""A leaf first seen this long after the region's first sighting appeared on a later visit."""
NEAR_M = 0.35
DUPLICATE_M = 1.0


def latest_of(memory: MemoryState, category_ids: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Leaves of these categories (within ``allowed`` when given): live ones first, then those seen
    on the latest visit, then the best supported, then the most recently seen."""
    leaves = memory.leaves
    ids = leaves.with_category(category_ids) if len(category_ids) else np.zeros(0, dtype=np.int64)
    if allowed is not None:
        ids = ids[np.isin(ids, allowed)]
    if len(ids) == 0:
        return ids
    retired = memory.absence.retired(leaves.n)[ids]
    seen = leaves.last_seen[ids]
    latest = seen[~retired].max() if (~retired).any() else seen.max()
    # the latest visit: seen within REVISIT_GAP_S of the newest sighting; within it the best
    # supported leaf (sightings times confidence), not the one a stray detection touched last
    recent = seen >= latest - REVISIT_GAP_S
    support = leaves.count[ids] * leaves.best_conf[ids]
    return ids[np.lexsort((ids, -seen, -support, ~recent, retired))]


def on_anchor(memory: MemoryState, anchors: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Leaves (sighted in the window: ``allowed``) whose centre lies over an anchor leaf's footprint
    (grown by :data:`NEAR_M`) and not below its centre; nearest to an anchor first."""
    leaves = memory.leaves
    if len(anchors) == 0:
        return np.zeros(0, dtype=np.int64)
    pool = np.arange(leaves.n) if allowed is None else np.asarray(allowed, dtype=np.int64)
    pool = pool[~np.isin(pool, anchors)]
    if len(pool) == 0:
        return pool
    delta = leaves.position[pool][:, None, :] - leaves.position[anchors][None, :, :]
    half = leaves.extent[anchors][None, :, :2] / 2.0 + NEAR_M
    over = (np.abs(delta[..., :2]) <= half).all(axis=2) & (delta[..., 2] >= -0.05)
    hit = over.any(axis=1)
    distance = np.where(over, np.linalg.norm(delta[..., :2], axis=2), np.inf).min(axis=1)
    pool, distance = pool[hit], distance[hit]
    return pool[np.lexsort((pool, distance))]


def changes_in(memory: MemoryState, region_leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(appeared, gone) leaves of a region: appeared = first seen at least :data:`REVISIT_GAP_S`
    after the region's first sighting, with no older live leaf of its category within
    :data:`DUPLICATE_M` (that would be the same thing seen again, not a change; moved things,
    whose category also vanished from where it was, here or elsewhere, first); gone = retired.
    Each most recent first."""
    leaves = memory.leaves
    ids = np.asarray(region_leaves, dtype=np.int64)
    if len(ids) == 0:
        return ids, ids
    retired = memory.absence.retired(leaves.n)[ids]
    first = leaves.first_seen[ids]
    later = (first >= first.min() + REVISIT_GAP_S) & ~retired
    older = ids[~later & ~retired]
    appeared = ids[later]
    if len(appeared) and len(older):
        same = leaves.category[appeared][:, None] == leaves.category[older][None, :]
        near = np.linalg.norm(leaves.position[appeared][:, None, :2] - leaves.position[older][None, :, :2],
                              axis=2) <= DUPLICATE_M
        appeared = appeared[~(same & near).any(axis=1)]
    gone = ids[retired]
    # a thing of a kind that also vanished from where it was (here or elsewhere) has moved
    moved = np.isin(leaves.category[appeared], leaves.category[:leaves.n][memory.absence.retired(leaves.n)])
    appeared = appeared[np.lexsort((appeared, -leaves.first_seen[appeared], ~moved))]
    gone = gone[np.lexsort((gone, -memory.absence.retired_at[gone]))]
    return appeared, gone
