"""Errors of the perception subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError, FormatError


class PerceptionError(EmbodiedStackError):
    """Base class of perception errors."""


class ConfigError(PerceptionError, ValueError):
    """A :class:`~embodied_stack.perception.config.PerceptionConfig` value is out of range."""


class BadFrameError(PerceptionError, ValueError):
    """A sensor frame cannot be used (size mismatch, no valid depth, NaN pose, ...).

    ``reason`` is a short snake_case code (``depth_size_mismatch``) that the pipeline counts in
    its skipped-frame tally; the message says what was found and what was expected.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")


class DetectionFormatError(PerceptionError, FormatError):
    """External detections (JSON or vision_msgs-like dicts) do not follow the documented format."""


class BackendError(PerceptionError):
    """A detector or captioner backend cannot be loaded or run (missing model directory, ...)."""
