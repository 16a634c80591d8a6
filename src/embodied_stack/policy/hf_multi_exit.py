"""Bring your own VLA: a multi-exit wrapper around a Hugging Face decoder-only model (after DeeR-VLA).

Wraps the decoder layers of a local Llama, Qwen2 or GPT-2 model (``from_pretrained`` with
``local_files_only``: nothing is downloaded) and adds, after every ``exit_every`` layers, an exit:
a per-exit adapter (LayerNorm, pooling of the last token and the mean over tokens, a projection)
and the exit's own action heads, discrete (``num_actions`` logits) and continuous (``action_dim``
values, tanh-bounded to ``action_bounds``). Exit 0 reads the input embeddings (the user's text and
vision tokens); it is never taken, only compared against, as in
:mod:`embodied_stack.policy.early_exit`.

* :meth:`MultiExitDecoder.forward` returns every exit's outputs (training, calibration);
* :func:`deer_loss` is DeeR's multi-exit loss (the action loss summed over all exits);
* :func:`exit_consistency` scores consecutive exits for discrete (total variation / JS) and
  continuous (scaled RMS) actions; :func:`calibrate_exits` sets thresholds for an average and a
  peak budget with the project's DeeR calibration;
* :meth:`MultiExitDecoder.step` runs one early-exit inference, only the segments it needs;
* ``embodied_stack.deploy.hf_export.export_multi_exit`` writes one ONNX graph per segment
  (the hidden state in and out, so the host runs only the segments up to the exit it takes).

The user supplies ``inputs_embeds`` (B, T, hidden): e.g. the model's own token embeddings of the
instruction (:meth:`MultiExitDecoder.embed_ids`) concatenated with projected image patches.
Attention is the model's own (causal for these families), so the last token sees every token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embodied_stack.policy.calibration import Calibration, calibrate
from embodied_stack.policy.early_exit import consistency_score
from embodied_stack.policy.errors import PolicyConfigError

FAMILIES = ("llama", "qwen2", "gpt2")


@dataclass(frozen=True)
class MultiExitSpec:
    """What the wrapper adds: exits, adapters, action heads, the sequence length and the metric.

    Attributes:
        exit_every: an exit after every this many decoder layers (the last layer always ends one).
        num_layers: use only the first this many decoder layers (DeeR cuts its model); None: all.
        num_actions: discrete actions (0: none); action_dim: continuous action values (0: none).
        action_bounds: the continuous actions' bounds (tanh-scaled), one per value; default 1.
        adapter_dim: width of each exit's adapter.
        seq_len: the token sequence length (rotary tables and the exported graphs are built for it).
        metric: exit-consistency metric: ``tv`` or ``js`` (discrete) or ``velocity`` (continuous).
    """

    exit_every: int = 1
    num_layers: int | None = None
    num_actions: int = 4
    action_dim: int = 2
    action_bounds: tuple[float, ...] | None = None
    adapter_dim: int = 128
    seq_len: int = 32
    metric: str = "tv"

    def __post_init__(self) -> None:
        if self.exit_every <= 0 or self.adapter_dim <= 0 or self.seq_len <= 0:
            raise PolicyConfigError(f"MultiExitSpec: exit_every, adapter_dim and seq_len must be positive: {self}")
        if self.num_actions < 0 or self.action_dim < 0 or self.num_actions + self.action_dim == 0:
            raise PolicyConfigError("MultiExitSpec: need discrete actions, continuous actions or both")
        if self.metric not in ("tv", "js", "velocity"):
            raise PolicyConfigError(f"MultiExitSpec.metric must be tv, js or velocity, got {self.metric!r}")
        if self.metric == "velocity" and not self.action_dim:
            raise PolicyConfigError("MultiExitSpec: the velocity metric needs continuous actions (action_dim > 0)")
        if self.metric in ("tv", "js") and not self.num_actions:
            raise PolicyConfigError(f"MultiExitSpec: the {self.metric} metric needs discrete actions")
        if self.action_bounds is not None and len(self.action_bounds) != self.action_dim:
            raise PolicyConfigError(f"MultiExitSpec: {len(self.action_bounds)} action bounds for {self.action_dim} values")


def load_backbone(path: str | Path) -> nn.Module:
    """The base model (no LM head) of a local Llama / Qwen2 / GPT-2 directory; never downloads."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        if config.model_type not in FAMILIES:
            raise PolicyConfigError(f"{path}: model_type {config.model_type!r}; expected one of {FAMILIES}")
        return AutoModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise PolicyConfigError(f"{path}: cannot load a local transformers model ({err})") from err


def _parts(backbone: nn.Module) -> tuple[str, nn.ModuleList, int]:
    family = backbone.config.model_type
    if family not in FAMILIES:
        raise PolicyConfigError(f"model_type {family!r} is not supported; expected one of {FAMILIES}")
    layers = backbone.h if family == "gpt2" else backbone.layers
    return family, layers, int(backbone.config.hidden_size)


class ExitAdapter(nn.Module):
    """Per-exit adapter and heads: hidden (B, T, H) -> logits (B, A), actions (B, D)."""

    def __init__(self, hidden: int, spec: MultiExitSpec) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.proj = nn.Sequential(nn.Linear(2 * hidden, spec.adapter_dim), nn.GELU())
        self.discrete = nn.Linear(spec.adapter_dim, max(spec.num_actions, 1))
        self.continuous = nn.Linear(spec.adapter_dim, max(spec.action_dim, 1))
        self.num_actions, self.action_dim = spec.num_actions, spec.action_dim
        bounds = spec.action_bounds or (1.0,) * max(spec.action_dim, 1)
        self.register_buffer("bounds", torch.tensor(bounds, dtype=torch.float32), persistent=False)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normed = self.norm(hidden)
        x = self.proj(torch.cat([normed[:, -1], normed.mean(dim=1)], dim=-1))
        return self.discrete(x), torch.tanh(self.continuous(x)) * self.bounds


class HFSegment(nn.Module):
    """Decoder layers between two exits and the exit's adapter: hidden -> (hidden, logits, actions)."""

    def __init__(self, family: str, layers: list[nn.Module], adapter: ExitAdapter,
                 rope: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        super().__init__()
        self.family = family
        self.layers = nn.ModuleList(layers)
        self.adapter = adapter
        if rope is not None:
            self.register_buffer("rope_cos", rope[0].clone(), persistent=False)
            self.register_buffer("rope_sin", rope[1].clone(), persistent=False)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for layer in self.layers:
            if self.family == "gpt2":
                out = layer(hidden)
            else:
                t = hidden.shape[1]
                out = layer(hidden, attention_mask=None, position_embeddings=(self.rope_cos[:, :t], self.rope_sin[:, :t]))
            hidden = out[0] if isinstance(out, tuple) else out
        logits, actions = self.adapter(hidden)
        return hidden, logits, actions


class InputStage(nn.Module):
    """Exit 0: the input embeddings (plus GPT-2's learned positions) and their adapter."""

    def __init__(self, family: str, adapter: ExitAdapter, positions: nn.Module | None) -> None:
        super().__init__()
        self.family = family
        self.adapter = adapter
        self.positions = positions

    def forward(self, inputs_embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = inputs_embeds
        if self.positions is not None:
            ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)
            hidden = hidden + self.positions(ids)[None]
        logits, actions = self.adapter(hidden)
        return hidden, logits, actions


@dataclass(frozen=True)
class EarlyExitResult:
    """One early-exit step: the exit taken, its outputs and the scores compared on the way."""

    exit_index: int
    logits: torch.Tensor
    actions: torch.Tensor
    scores: tuple[float, ...]


class MultiExitDecoder(nn.Module):
    """The wrapped decoder: :class:`InputStage` (exit 0) and one :class:`HFSegment` per exit."""

    def __init__(self, backbone: nn.Module, spec: MultiExitSpec) -> None:
        super().__init__()
        family, layers, hidden = _parts(backbone)
        count = spec.num_layers or len(layers)
        if not 1 <= count <= len(layers):
            raise PolicyConfigError(f"num_layers={spec.num_layers} but the model has {len(layers)} decoder layers")
        self.spec, self.family, self.hidden_size = spec, family, hidden
        self.config = backbone.config
        rope = None
        if family != "gpt2":
            positions = torch.arange(spec.seq_len).unsqueeze(0)
            with torch.no_grad():
                rope = backbone.rotary_emb(torch.zeros(1, dtype=torch.float32), positions)
        self.embed_tokens = backbone.wte if family == "gpt2" else backbone.embed_tokens
        self.inputs = InputStage(family, ExitAdapter(hidden, spec), backbone.wpe if family == "gpt2" else None)
        bounds = list(range(spec.exit_every, count, spec.exit_every)) + [count]
        starts = [0] + bounds[:-1]
        self.exit_layers = tuple(bounds)
        self.segments = nn.ModuleList(
            HFSegment(family, list(layers[a:b]), ExitAdapter(hidden, spec), rope) for a, b in zip(starts, bounds, strict=True)
        )

    @classmethod
    def from_pretrained(cls, path: str | Path, spec: MultiExitSpec | None = None) -> MultiExitDecoder:
        """Wrap the local model in ``path`` (a ``save_pretrained`` directory)."""
        return cls(load_backbone(path), spec or MultiExitSpec())

    @property
    def num_exits(self) -> int:
        return len(self.segments)

    def embed_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The model's own token embeddings of ``input_ids`` (B, T) -> (B, T, hidden)."""
        return self.embed_tokens(input_ids)

    def forward(self, inputs_embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs at exits 0..E: logits (E + 1, B, A), continuous actions (E + 1, B, D)."""
        self._check(inputs_embeds)
        hidden, logits, actions = self.inputs(inputs_embeds)
        all_logits, all_actions = [logits], [actions]
        for segment in self.segments:
            hidden, logits, actions = segment(hidden)
            all_logits.append(logits)
            all_actions.append(actions)
        return torch.stack(all_logits), torch.stack(all_actions)

    def _check(self, inputs_embeds: torch.Tensor) -> None:
        if inputs_embeds.ndim != 3 or inputs_embeds.shape[-1] != self.hidden_size:
            raise PolicyConfigError(f"inputs_embeds must be (B, T, {self.hidden_size}), got {tuple(inputs_embeds.shape)}")
        if inputs_embeds.shape[1] > self.spec.seq_len:
            raise PolicyConfigError(f"sequence of {inputs_embeds.shape[1]} tokens exceeds spec.seq_len={self.spec.seq_len}")

    def layer_flops(self, seq_len: int | None = None) -> int:
        """Matrix FLOPs of one decoder layer over ``seq_len`` tokens (batch 1)."""
        cfg, t, d = self.config, seq_len or self.spec.seq_len, self.hidden_size
        heads = getattr(cfg, "num_attention_heads", getattr(cfg, "n_head", 1))
        kv = getattr(cfg, "num_key_value_heads", None) or heads
        head_dim = d // heads
        inner = getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * d
        mlp_mats = 2 if self.family == "gpt2" else 3
        proj = 2 * t * d * (heads * head_dim) * 2 + 2 * 2 * t * d * kv * head_dim
        return proj + 2 * 2 * heads * t * t * head_dim + mlp_mats * 2 * t * d * inner

    def exit_flops(self, seq_len: int | None = None) -> np.ndarray:
        """(E,) FLOPs of a step stopping at exit k: its layers and the adapters of exits 0..k."""
        adapter = 2 * (2 * self.hidden_size * self.spec.adapter_dim
                       + self.spec.adapter_dim * (max(self.spec.num_actions, 1) + max(self.spec.action_dim, 1)))
        layers = np.asarray(self.exit_layers, dtype=np.int64)
        return layers * self.layer_flops(seq_len) + (np.arange(1, self.num_exits + 1) + 1) * adapter

    @torch.inference_mode()
    def step(self, inputs_embeds: torch.Tensor, thresholds: tuple[float, ...], max_exit: int | None = None) -> EarlyExitResult:
        """Early-exit inference on a (1, T, hidden) input: stop at the first exit k whose
        consistency score with exit k-1 is at most ``thresholds[k-1]``, or at ``max_exit``."""
        self._check(inputs_embeds)
        cap = max_exit or self.num_exits
        hidden, prev_logits, prev_actions = self.inputs(inputs_embeds)
        scores: list[float] = []
        for k in range(1, cap + 1):
            hidden, logits, actions = self.segments[k - 1](hidden)
            if k == cap:
                break
            score = float(exit_consistency(prev_logits, logits, prev_actions, actions, self.spec.metric,
                                           self.inputs.adapter.bounds))
            scores.append(score)
            if score <= thresholds[k - 1]:
                break
            prev_logits, prev_actions = logits, actions
        return EarlyExitResult(k, logits, actions, tuple(scores))


def exit_consistency(prev_logits: torch.Tensor, logits: torch.Tensor, prev_actions: torch.Tensor,
                     actions: torch.Tensor, metric: str, bounds: torch.Tensor | None = None) -> torch.Tensor:
    """Disagreement of two consecutive exits: ``tv``/``js`` on the discrete action distributions,
    ``velocity`` the RMS difference of the continuous actions scaled by their bounds."""
    return consistency_score(prev_logits, logits, prev_actions, actions, metric, bounds)


def all_exit_scores(model: MultiExitDecoder, inputs_embeds: torch.Tensor) -> np.ndarray:
    """(N, E) consistency scores at exits 1..E of a batch of inputs (for calibration)."""
    with torch.no_grad():
        logits, actions = model(inputs_embeds)
    scores = exit_consistency(logits[:-1], logits[1:], actions[:-1], actions[1:], model.spec.metric,
                              model.inputs.adapter.bounds)
    return scores.transpose(0, 1).numpy().astype(np.float64)


def calibrate_exits(model: MultiExitDecoder, scores: np.ndarray, average_budget: float,
                    peak_exit: int | None = None) -> Calibration:
    """DeeR thresholds for an average budget (a fraction of the full model's FLOPs, in (0, 1])
    and a peak budget (the deepest exit any step may reach)."""
    if not 0 < average_budget <= 1:
        raise PolicyConfigError(f"average budget must be a fraction of the full model in (0, 1], got {average_budget}")
    flops = model.exit_flops().astype(np.float64)
    return calibrate(scores, flops, average_budget * flops[-1], peak_exit or model.num_exits, model.spec.metric)


def deer_loss(model: MultiExitDecoder, inputs_embeds: torch.Tensor, action: torch.Tensor | None = None,
              continuous: torch.Tensor | None = None, huber_weight: float = 1.0) -> torch.Tensor:
    """DeeR's multi-exit loss: cross-entropy on the discrete action and a Huber loss on the
    continuous one (scaled by the bounds), averaged over the batch and summed over exits 1..E
    (and exit 0, whose adapter is what the first consistency score compares with)."""
    if action is None and continuous is None:
        raise PolicyConfigError("deer_loss needs discrete targets, continuous targets or both")
    logits, actions = model(inputs_embeds)
    exits = logits.shape[0]
    loss = logits.new_zeros(())
    if action is not None:
        loss = loss + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), action.repeat(exits)) * exits
    if continuous is not None:
        bounds = model.inputs.adapter.bounds
        loss = loss + huber_weight * F.smooth_l1_loss(actions / bounds, (continuous / bounds).expand_as(actions),
                                                      reduction="mean") * exits
    return loss
