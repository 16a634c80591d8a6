"""Errors of the planning subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError


class PlanningError(EmbodiedStackError):
    """Base class of planning errors."""


class InstructionError(PlanningError, ValueError):
    """An instruction is empty, too long or cannot be split into steps."""


class PlanStateError(PlanningError):
    """Feedback or a request that does not fit the plan's state (unknown subgoal id, no active plan)."""
