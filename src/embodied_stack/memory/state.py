"""What the memory's helpers (retrieval, answering, persistence, views, export) read: the
memory's tables and settings, as a protocol.

The helpers depend on this interface, not on :class:`~embodied_stack.memory.semantic_memory.
SemanticMemory`; the facade implements it and composes the helpers, so the imports run one way.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from embodied_stack.memory.absence import AbsenceTracker
from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.forest import Forest, Vocab
from embodied_stack.memory.index import VectorIndex
from embodied_stack.memory.knowledge import Knowledge
from embodied_stack.memory.leaves import LeafTable
from embodied_stack.memory.sightings import SightingLog
from embodied_stack.memory.spatial import SpatialContext
from embodied_stack.text.embedders import CachedEmbedder


class MemoryState(Protocol):
    """The memory's data: leaves, forest, vocabulary, index, sighting log, knowledge, settings."""

    config: MemoryConfig
    embedder: CachedEmbedder
    spatial: SpatialContext | None
    knowledge: Knowledge
    vocab: Vocab
    leaves: LeafTable
    forest: Forest
    index: VectorIndex
    sightings: SightingLog
    absence: AbsenceTracker
    committed_vocab: dict[str, int]
    committed_edges: dict[int, np.ndarray]

    def now(self) -> float:
        """The memory's clock: the newest sighting's timestamp (seconds)."""
        ...
