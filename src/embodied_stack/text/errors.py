"""Errors of the text-embedding subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError


class EmbedderError(EmbodiedStackError):
    """A text embedder cannot be loaded or returned unusable vectors."""
