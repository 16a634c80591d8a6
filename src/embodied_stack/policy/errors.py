"""Errors of the policy subpackage."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError, FormatError


class PolicyError(EmbodiedStackError):
    """Base class of policy errors."""


class PolicyConfigError(PolicyError, ValueError):
    """A :class:`~embodied_stack.policy.configuration_vla.VLAConfig` field has an invalid value."""


class CheckpointError(PolicyError, FormatError):
    """A checkpoint file is missing, damaged or not a policy checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was written for a different model configuration than the one asked for."""


class CalibrationError(PolicyError, ValueError):
    """Exit thresholds cannot be calibrated (bad budget, empty scores, impossible cap)."""


class TrainingError(PolicyError):
    """Training cannot start or resume (no demonstrations, incompatible resume state)."""
