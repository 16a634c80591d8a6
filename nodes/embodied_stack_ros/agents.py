"""Build the policy node's agent from its parameters (the ``--agent`` specs of ``eval nav``)."""

from __future__ import annotations

from typing import Any

from embodied_stack.errors import EmbodiedStackError
from embodied_stack_ros.errors import ParameterError


def load_agent(spec: str, budget: str = "", max_exit: int = 0, embedder: str = "") -> Any:
    """A :class:`embodied_stack.policy.agent.PolicyAgent` for ``policy:CKPT`` or ``onnx:DIR``.

    Args:
        spec: the agent spec (required: '' is refused with a hint).
        budget: average-compute budget ('' = the calibrated thresholds).
        max_exit: peak cap (0 = none).
        embedder: text embedder spec ('' = the agent's default).

    Raises:
        ParameterError: the spec, budget or cap is unusable, or the files do not load.
    """
    if not spec:
        raise ParameterError("policy: parameter 'agent' is empty; give 'policy:CHECKPOINT.safetensors' or "
                             "'onnx:EXPORT_DIR' (see `embodied-stack policy train` and `embodied-stack export`)")
    kwargs: dict[str, Any] = {"budget": budget or None, "max_exit": max_exit or None}
    try:
        if embedder:
            from embodied_stack.text.embedders import load_embedder

            kwargs["embed"] = load_embedder(embedder).embed
        if spec.startswith("onnx:"):
            from embodied_stack.deploy.runtime import make_onnx_agent

            return make_onnx_agent(spec, **kwargs)
        from embodied_stack.policy.agent import make_agent

        return make_agent(spec, **kwargs)
    except (EmbodiedStackError, OSError, ValueError) as err:
        raise ParameterError(f"policy: cannot load agent {spec!r}: {err}") from err
