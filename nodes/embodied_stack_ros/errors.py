"""Errors of the ROS layer (derived from the core's root error)."""

from __future__ import annotations

from embodied_stack.errors import EmbodiedStackError


class RosLayerError(EmbodiedStackError):
    """Base class of the errors raised by ``embodied_stack_ros``."""


class ParameterError(RosLayerError, ValueError):
    """A parameter value is unusable; the message names the node, the parameter and the value."""


class ServiceCallError(RosLayerError):
    """A service call failed: no server, a timeout, or a response with ``success = false``."""
