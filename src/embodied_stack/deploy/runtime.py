"""The onnxruntime policy: the exported stages behind the torch policy's own exit logic.

:class:`OnnxPolicy` opens one session per stage and offers the parts of
:class:`~embodied_stack.policy.modeling_vla.VLAModel` that
:class:`~embodied_stack.policy.early_exit.EarlyExitController` calls (``tokenizer``,
``segments[k]``, ``head`` with its ``velocity_scale``, ``initial_state``), each taking and
returning torch tensors. The controller, the exit criterion, the input preparation and the
statistics are therefore the torch policy's code, not a copy: the same inputs give the same
exit decisions and actions, whichever backend computes the stages.
:func:`make_onnx_agent` builds the navigation agent for the spec ``onnx:DIR``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embodied_stack.deploy.errors import RuntimeConfigError
from embodied_stack.deploy.manifest import PRECISIONS, GraphSpec
from embodied_stack.deploy.policy_spec import (
    CALIBRATION_SCORES_FILE,
    PolicyExport,
    load_policy_export,
)
from embodied_stack.deploy.sessions import (
    ProviderList,
    as_provider_list,
    open_session,
    split_options,
)
from embodied_stack.policy.agent import EmbedFn, PolicyAgent, thresholds_for_budget
from embodied_stack.policy.early_exit import ExitThresholds

logger = logging.getLogger(__name__)

AGENT_PREFIX = "onnx:"
AGENT_OPTIONS = {"precision", "providers", "threads", "budget", "max_exit", "embedder"}
EMBEDDER_SUBDIR = "embedder"


class OnnxStage:
    """One exported stage as a callable on torch tensors (CPU), returning torch tensors."""

    def __init__(self, session: Any, spec: GraphSpec) -> None:
        self.session = session
        self.spec = spec
        self.input_names = [t.name for t in spec.inputs]
        self.output_names = [t.name for t in spec.outputs]

    def __call__(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {
            name: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)
            for name, t in zip(self.input_names, tensors, strict=True)
        }
        return tuple(torch.from_numpy(out) for out in self.session.run(self.output_names, feeds))


class OnnxHead(OnnxStage):
    """The action-head stage, with the velocity bounds the ``velocity`` exit metric divides by."""

    def __init__(self, session: Any, spec: GraphSpec, velocity_scale: torch.Tensor) -> None:
        super().__init__(session, spec)
        self.velocity_scale = velocity_scale


class OnnxPolicy:
    """An exported policy run by onnxruntime, usable wherever the controller takes a ``VLAModel``.

    Args:
        export_dir: a directory written by ``embodied-stack export onnx``.
        precision: ``"fp32"`` or ``"int8"`` (needs an export made with ``--int8``).
        providers: execution providers (see :func:`~embodied_stack.deploy.sessions.parse_providers`).
        threads: onnxruntime intra-op threads per session. The default, 1, suits batch-1 steps
            of small stages: intra-op parallelism does not pay there, and one thread pool per
            stage would make a dozen pools compete for the cores. 0 is onnxruntime's default.
        verify: check every file's SHA-256 against the manifest before loading it.

    Raises:
        ManifestError, ModelFileError, RuntimeConfigError: see their modules.
    """

    def __init__(
        self,
        export_dir: str | Path,
        *,
        precision: str = "fp32",
        providers: str | Sequence[str] | ProviderList | None = None,
        threads: int | None = 1,
        verify: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise RuntimeConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.export: PolicyExport = load_policy_export(export_dir)
        self.config = self.export.config
        self.precision = precision
        provider_list = as_provider_list(providers)
        root = self.export.root

        def session(spec: GraphSpec) -> Any:
            return open_session(spec.file(precision).resolve(root, verify=verify), spec, provider_list, threads)

        self.tokenizer = OnnxStage(session(self.export.vision), self.export.vision)
        self.segments = [OnnxStage(session(spec), spec) for spec in self.export.segments]
        scale = torch.tensor([self.config.max_linear_mps, self.config.max_angular_radps])
        self.head = OnnxHead(session(self.export.head), self.export.head, scale)
        self.providers = self.head.session.get_providers()

    @property
    def num_exits(self) -> int:
        return self.config.num_exits

    @property
    def thresholds(self) -> ExitThresholds | None:
        """The calibrated thresholds recorded at export, if any."""
        return self.export.thresholds

    def eval(self) -> OnnxPolicy:
        """No-op, for the controller (a ``VLAModel`` is put in eval mode the same way)."""
        return self

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero LSTM state (h, c), each (lstm_layers, batch, lstm_hidden)."""
        shape = (self.config.lstm_layers, batch, self.config.lstm_hidden_size)
        return torch.zeros(shape), torch.zeros(shape)

    def exit_features(
        self, rgb: torch.Tensor, depth: torch.Tensor, instruction: torch.Tensor, goal: torch.Tensor,
        num_exits: int | None = None,
    ) -> torch.Tensor:
        """Features at exits 0..num_exits: (num_exits + 1, B, 2 * hidden), as ``VLAModel.exit_features``."""
        last = self.num_exits if num_exits is None else num_exits
        hidden, feature = self.tokenizer(rgb, depth, instruction, goal)
        features = [feature]
        for segment in self.segments[:last]:
            hidden, feature = segment(hidden)
            features.append(feature)
        return torch.stack(features)


@dataclass(frozen=True)
class _ExportCalibration:
    """What :func:`thresholds_for_budget` reads from a checkpoint, taken from an export instead."""

    config: Any
    thresholds: ExitThresholds | None
    calibration_scores: np.ndarray | None
    path: Path


def parse_agent_spec(spec: str) -> tuple[Path, dict[str, str]]:
    """Split ``onnx:DIR[?key=value&...]`` into the directory and its options.

    Options: ``precision`` (fp32|int8), ``providers`` (e.g. ``tensorrt,cuda,cpu``),
    ``threads``, ``budget``, ``max_exit``, ``embedder`` (an embedder spec).
    """
    if not spec.startswith(AGENT_PREFIX):
        raise RuntimeConfigError(f"agent spec {spec!r}: expected '{AGENT_PREFIX}DIR[?precision=int8&providers=cpu]'")
    path, options = split_options(spec[len(AGENT_PREFIX):], AGENT_OPTIONS, "agent spec")
    return Path(path), options


def _int_option(options: dict[str, str], key: str, spec: str, default: int | None) -> int | None:
    if key not in options:
        return default
    try:
        return int(options[key])
    except ValueError as err:
        raise RuntimeConfigError(f"agent spec {spec!r}: option {key}={options[key]!r} must be an integer") from err


def default_embed_for(export_dir: Path, embedder: str | None) -> EmbedFn | None:
    """The instruction embedder an ONNX agent uses: ``embedder`` when given, else the ONNX
    embedder exported next to the policy (``DIR/embedder``), else ``None`` (the memory's default)."""
    from embodied_stack.text.embedders import load_embedder

    if embedder:
        return load_embedder(embedder).embed
    if (export_dir / EMBEDDER_SUBDIR / "manifest.json").is_file():
        from embodied_stack.deploy.embedder import OnnxEmbedder

        return OnnxEmbedder(export_dir / EMBEDDER_SUBDIR).embed
    return None


def make_onnx_agent(
    spec: str,
    *,
    budget: str | None = None,
    max_exit: int | None = None,
    embed: EmbedFn | None = None,
    precision: str | None = None,
    providers: str | Sequence[str] | None = None,
    threads: int | None = None,
) -> PolicyAgent:
    """The navigation agent for ``onnx:DIR`` (``eval nav --agent``, the ROS policy node).

    The agent is the torch policy's :class:`PolicyAgent` running :class:`OnnxPolicy` stages,
    so its exit rule, statistics and velocity command are the same. Keyword arguments win over
    the spec's options (see :func:`parse_agent_spec`); ``budget``/``max_exit`` work as for
    ``policy:CKPT`` (a budget needs the calibration scores the export copied from the checkpoint).
    """
    export_dir, options = parse_agent_spec(spec)
    precision = precision or options.get("precision", "fp32")
    threads_value = threads if threads is not None else _int_option(options, "threads", spec, 1)
    policy = OnnxPolicy(export_dir, precision=precision, providers=providers or options.get("providers"),
                        threads=threads_value)
    budget = budget if budget is not None else options.get("budget")
    cap = max_exit if max_exit is not None else _int_option(options, "max_exit", spec, None)
    scores_path = export_dir / CALIBRATION_SCORES_FILE
    source = _ExportCalibration(
        policy.config, policy.thresholds, np.load(scores_path) if scores_path.is_file() else None, export_dir
    )
    thresholds = thresholds_for_budget(source, budget, cap)  # type: ignore[arg-type]
    if embed is None and getattr(policy.config, "instruction_tokens", 0):
        embed_fn = None  # a token policy: the agent loads the MiniLM token embedder itself
    else:
        embed_fn = embed or default_embed_for(export_dir, options.get("embedder"))
    logger.info("onnx policy %s (%s, %s): exits up to %d", export_dir, precision, policy.providers, thresholds.max_exit)
    return PolicyAgent(policy, thresholds, embed_fn)  # type: ignore[arg-type]
