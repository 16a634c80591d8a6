"""Root of the exception hierarchy. Each subpackage derives its own errors from these."""

from __future__ import annotations


class EmbodiedStackError(Exception):
    """Base class of every error this library raises on purpose."""


class MissingDependencyError(EmbodiedStackError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


class FormatError(EmbodiedStackError, ValueError):
    """A file or record does not follow its documented format.

    The message names the file (when there is one), the field at fault and what was expected.
    """

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        self.path = path
        self.field = field
        parts = []
        if path:
            parts.append(str(path))
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
