"""Errors of the memory subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError, FormatError
from embodied_stack.text.errors import EmbedderError
from embodied_stack.types.observations import InvalidObservationError

__all__ = [
    "CorruptStoreError",
    "EmbedderError",
    "InvalidObservationError",
    "MemoryConfigError",
    "MemoryError_",
    "PathOutsideRootError",
    "QueryError",
    "SchemaVersionError",
    "SpatialContextError",
    "StoreError",
]


class MemoryError_(EmbodiedStackError):
    """Base class of memory errors (named with a trailing underscore: ``MemoryError`` is a builtin)."""


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


class SpatialContextError(MemoryError_, FormatError):
    """A navigable map or room segmentation file is malformed."""
