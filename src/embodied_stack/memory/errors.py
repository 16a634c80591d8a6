"""Errors of the memory subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError, FormatError


class MemoryError_(EmbodiedStackError):
    """Base class of memory errors (named with a trailing underscore: ``MemoryError`` is a builtin)."""


class InvalidObservationError(MemoryError_, FormatError):
    """An observation is malformed: NaN position, empty category, absurd extent, ..."""


class StoreError(MemoryError_):
    """The persistent store cannot be opened, read or written."""


class CorruptStoreError(StoreError):
    """A store file exists but is damaged; it is reported, never silently replaced."""


class SchemaVersionError(StoreError):
    """The store was written with a schema version this code does not read."""


class PathOutsideRootError(StoreError):
    """A save/load path escapes the configured memory root."""


class MemoryConfigError(MemoryError_, ValueError):
    """A memory setting is out of range; the message quotes the setting and its value."""


class QueryError(MemoryError_, ValueError):
    """A query cannot be answered as asked: empty or huge text, absurd ``k``, unknown kind."""


class EmbedderError(MemoryError_):
    """A text embedder cannot be loaded or returned unusable vectors."""


class SpatialContextError(MemoryError_, FormatError):
    """A navigable map or room segmentation file is malformed."""
