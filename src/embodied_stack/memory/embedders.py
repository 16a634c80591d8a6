"""Text embedders, re-exported from :mod:`embodied_stack.text.embedders` where they live (the
memory, the policy and the deploy runtime share them)."""

from __future__ import annotations

from embodied_stack.text.embedders import (
    CachedEmbedder,
    Embedder,
    HashEmbedder,
    load_embedder,
    register_embedder_scheme,
)

__all__ = ["CachedEmbedder", "Embedder", "HashEmbedder", "load_embedder", "register_embedder_scheme"]
