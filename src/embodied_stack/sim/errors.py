"""Errors of the simulation subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError, FormatError


class SimError(EmbodiedStackError):
    """Base class of simulation errors."""


class SceneFormatError(SimError, FormatError):
    """A scene file does not follow ``embodied-stack.scene/1``."""


class EpisodeFormatError(SimError, FormatError):
    """An episode or query set file does not follow its format."""


class NavigationError(SimError):
    """A navigation request cannot be served (no navigable point, unreachable goal, ...)."""


class HabitatExportError(SimError):
    """A scene cannot be exported to, or read back from, habitat-sim's files (.glb, configs)."""
