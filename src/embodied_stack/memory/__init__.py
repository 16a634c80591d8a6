"""Semantic-forest memory (after Embodied-RAG): observed objects as leaves, spatial/semantic
clusters as parents, retrieval by walking the forest.

Public API (imported lazily, so ``embodied-stack --help`` stays fast)::

    from embodied_stack.memory import SemanticMemory, MemoryConfig, Observation, QueryKind

    with SemanticMemory.open("out/memory") as memory:
        memory.ingest(read_observations_jsonl("observations.jsonl"))
        result = memory.query("I'm thirsty")          # QueryResult(answer, kind, hits, ...)
        hit = result.hits[0]                           # MemoryHit: position, target_pose, ancestors
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SemanticMemory": "semantic_memory",
    "MemoryConfig": "config",
    "Observation": "types",
    "read_observations_jsonl": "types",
    "write_observations_jsonl": "types",
    "QueryKind": "results",
    "QueryResult": "results",
    "MemoryHit": "results",
    "MemoryStats": "results",
    "IngestReport": "results",
    "NodeView": "results",
    "Embedder": "embedders",
    "CachedEmbedder": "embedders",
    "HashEmbedder": "embedders",
    "load_embedder": "embedders",
    "register_embedder_scheme": "embedders",
    "SpatialContext": "spatial",
    "OccupancyMapContext": "spatial",
    "RoomPolygons": "spatial",
    "Room": "spatial",
    "rooms_from_scene": "spatial",
    "Summariser": "summarise",
    "ExtractiveSummariser": "summarise",
    "LLMSummariser": "summarise",
    "LocalCausalLM": "llm",
    "LLMNodeScorer": "llm",
    "LLMAnswerer": "llm",
    "Knowledge": "knowledge",
    "MemoryError_": "errors",
    "QueryError": "errors",
    "StoreError": "errors",
    "CorruptStoreError": "errors",
    "SchemaVersionError": "errors",
    "PathOutsideRootError": "errors",
    "InvalidObservationError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'embodied_stack.memory' has no attribute {name!r}")
    return getattr(importlib.import_module(f"embodied_stack.memory.{module}"), name)
