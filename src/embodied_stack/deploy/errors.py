"""Errors of the deploy subpackage (ONNX export, int8 quantisation, onnxruntime runtime)."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError, FormatError


class DeployError(EmbodiedStackError):
    """Base class of deploy errors."""


class ExportError(DeployError):
    """A model cannot be exported, or its exported graph does not reproduce the torch outputs."""


class ManifestError(DeployError, FormatError):
    """An export directory's ``manifest.json`` is missing or does not follow its format."""


class ModelFileError(DeployError, FormatError):
    """An ONNX file named by a manifest is missing, damaged, changed since export, or has other
    inputs/outputs than the manifest lists."""


class QuantizationError(DeployError):
    """int8 quantisation cannot run (unknown mode, no calibration data, quantiser failure)."""


class RuntimeConfigError(DeployError, ValueError):
    """A runtime setting is invalid: unknown or unavailable execution provider, bad agent spec."""
