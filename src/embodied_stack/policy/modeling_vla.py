"""The multi-exit vision-language-action network (after DeeR-VLA, Yue et al. 2024).

Three kinds of modules with plain tensor signatures, so that each can be exported on its own
(ONNX per segment keeps early exit; one static graph would lose it):

* :class:`VisionTokenizer` ``(rgb, depth, instruction, goal) -> (tokens, exit0_feature)``:
  a small conv net over RGB-D and the goal/state and instruction tokens;
* :class:`TrunkSegment` ``(hidden) -> (hidden, exit_feature)``: ``exit_interval`` decoder
  layers from ``transformers`` (Llama or Qwen2, bidirectional attention), then the exit's own
  RMSNorm and pooling;
* :class:`ActionHead` ``(feature, h, c) -> (logits, velocity, h, c)``: the shared head, an LSTM
  whose state is carried across time steps, with the discrete action logits (stop, forward,
  left, right) and a velocity command (v m/s, omega rad/s) for the ROS node.

An exit feature is the max-pool over tokens of the normalised hidden states concatenated with
the normalised goal/state token (the goal must not be diluted by the pool), shape (B, 2 * hidden).
:class:`VLAModel` holds them plus per-exit auxiliary heads used only in training.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.errors import PolicyConfigError

logger = logging.getLogger(__name__)


def trunk_transformers_config(config: VLAConfig):  # noqa: ANN201 - a transformers PretrainedConfig
    """The ``transformers`` config (LlamaConfig or Qwen2Config) of the trunk's decoder layers."""
    from transformers import LlamaConfig, Qwen2Config

    common = {
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": config.rope_theta,
        "max_position_embeddings": max(64, config.num_tokens),
        "vocab_size": 1,
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
        "hidden_act": "silu",
    }
    if config.backbone == "llama":
        tf_config = LlamaConfig(attention_bias=False, mlp_bias=False, **common)
    else:
        tf_config = Qwen2Config(use_sliding_window=False, **common)
    tf_config._attn_implementation = "sdpa"
    return tf_config


def _decoder_layer_class(config: VLAConfig) -> type[nn.Module]:
    if config.backbone == "llama":
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer

        return LlamaDecoderLayer
    from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer

    return Qwen2DecoderLayer


def _rope_tables(config: VLAConfig, tf_config) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """cos/sin rotary tables (1, num_tokens, head_dim) for positions 0..num_tokens-1."""
    if config.backbone == "llama":
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding as Rotary
    else:
        from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding as Rotary
    rotary = Rotary(tf_config)
    positions = torch.arange(config.num_tokens).unsqueeze(0)
    with torch.no_grad():
        cos, sin = rotary(torch.zeros(1, dtype=torch.float32), positions)
    return cos, sin


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale (as Llama's)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class ExitPool(nn.Module):
    """Exit adapter: RMSNorm, then [max over tokens, goal/state token] -> (B, 2 * hidden)."""

    def __init__(self, config: VLAConfig) -> None:
        super().__init__()
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        normed = self.norm(hidden)
        return torch.cat([normed.amax(dim=1), normed[:, 0]], dim=-1)


class VisionTokenizer(nn.Module):
    """RGB-D conv encoder plus the goal/state and instruction tokens.

    Inputs: ``rgb`` (B, 3, H, W) in [0, 1]; ``depth`` (B, 1, H, W) metres (0 = no hit, read as
    far; ignored when ``use_depth`` is off); ``instruction`` (B, text_dim) text embedding, or
    (B, instruction_tokens, text_dim) token embeddings (zero rows = padding) when
    ``config.instruction_tokens``; ``goal`` (B, goal_features) from
    :func:`embodied_stack.policy.inputs.goal_features` or
    :func:`embodied_stack.policy.odometry.odometry_features`.
    Outputs: ``tokens`` (B, num_tokens, hidden) and the exit-0 feature (B, 2 * hidden).
    """

    def __init__(self, config: VLAConfig) -> None:
        super().__init__()
        self.use_depth = config.use_depth
        self.max_depth_m = float(config.max_depth_m)
        stages: list[nn.Module] = []
        in_ch = config.in_channels
        first_refined = len(config.vision_channels) - config.vision_refine_stages
        for index, out_ch in enumerate(config.vision_channels):
            stages += [nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.GELU()]
            if index >= first_refined:
                stages += [nn.Conv2d(out_ch, out_ch, 3, padding=1)]
            stages += [nn.GroupNorm(min(8, out_ch), out_ch), nn.GELU()]
            in_ch = out_ch
        self.conv = nn.Sequential(*stages)
        self.visual_proj = nn.Linear(in_ch, config.hidden_size)
        self.visual_pos = nn.Parameter(torch.randn(1, config.num_visual_tokens, config.hidden_size) * 0.02)
        self.goal_mlp = nn.Sequential(
            nn.Linear(config.goal_features, config.hidden_size),
            nn.GELU(),
            nn.Linear(config.hidden_size, config.hidden_size),
        )
        self.instruction_proj = nn.Linear(config.text_dim, config.hidden_size)
        self.instruction_tokens = config.instruction_tokens
        if config.instruction_tokens:
            self.text_pos = nn.Parameter(torch.randn(1, config.instruction_tokens, config.hidden_size) * 0.02)
            self.text_pad = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.exit0 = ExitPool(config)

    def forward(
        self, rgb: torch.Tensor, depth: torch.Tensor, instruction: torch.Tensor, goal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = rgb * 2.0 - 1.0
        if self.use_depth:
            far = torch.full_like(depth, self.max_depth_m)
            metres = torch.where(depth > 0, depth, far).clamp(max=self.max_depth_m)
            image = torch.cat([image, metres * (2.0 / self.max_depth_m) - 1.0], dim=1)
        features = self.conv(image)
        visual = self.visual_proj(features.flatten(2).transpose(1, 2)) + self.visual_pos
        if self.instruction_tokens:
            # (B, L, text_dim) token embeddings; all-zero rows are padding, replaced by a learned token
            real = (instruction.abs().sum(-1, keepdim=True) > 0).to(visual.dtype)
            text = real * self.instruction_proj(instruction) + (1.0 - real) * self.text_pad + self.text_pos
        else:
            text = self.instruction_proj(instruction).unsqueeze(1)
        tokens = torch.cat([self.goal_mlp(goal).unsqueeze(1), text, visual], dim=1)
        return tokens, self.exit0(tokens)


class TrunkSegment(nn.Module):
    """``exit_interval`` decoder layers between two exits: (B, T, hidden) -> (B, T, hidden), exit feature.

    Attention is bidirectional over the fixed-length token sequence; rotary tables for positions
    0..T-1 are buffers, so the forward pass has no data-dependent control flow.
    """

    def __init__(self, config: VLAConfig, first_layer: int, tf_config, rope: tuple[torch.Tensor, torch.Tensor]) -> None:  # noqa: ANN001
        super().__init__()
        layer_cls = _decoder_layer_class(config)
        self.layers = nn.ModuleList(
            layer_cls(tf_config, layer_idx=first_layer + i) for i in range(config.exit_interval)
        )
        for layer in self.layers:
            layer.self_attn.is_causal = False
        self.register_buffer("rope_cos", rope[0].clone(), persistent=False)
        self.register_buffer("rope_sin", rope[1].clone(), persistent=False)
        self.exit = ExitPool(config)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rope = (self.rope_cos, self.rope_sin)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=None, position_embeddings=rope)
        return hidden, self.exit(hidden)


class ActionHead(nn.Module):
    """Shared action head: projection, LSTM over time, MLP to logits (4) and velocity (v, omega).

    ``forward`` is one time step with the LSTM state (``h``, ``c``: (lstm_layers, B, lstm_hidden))
    as explicit inputs and outputs; :meth:`forward_sequence` runs a (B, S) sequence for training.
    The velocity is tanh-bounded to ``max_linear_mps`` / ``max_angular_radps``.
    """

    def __init__(self, config: VLAConfig) -> None:
        super().__init__()
        feature = 2 * config.hidden_size
        self.in_proj = nn.Sequential(nn.Linear(feature, config.lstm_hidden_size), nn.GELU())
        self.lstm = nn.LSTM(config.lstm_hidden_size, config.lstm_hidden_size, config.lstm_layers, batch_first=True)
        self.out = nn.Sequential(
            nn.Linear(2 * config.lstm_hidden_size, config.head_hidden_size),
            nn.GELU(),
            nn.Linear(config.head_hidden_size, config.num_actions + 2),
        )
        self.num_actions = config.num_actions
        self.register_buffer(
            "velocity_scale", torch.tensor([config.max_linear_mps, config.max_angular_radps]), persistent=False
        )

    def forward_sequence(
        self, features: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, S, F) features -> logits (B, S, 4), velocity (B, S, 2), final h, c."""
        x = self.in_proj(features)
        y, (h, c) = self.lstm(x, (h, c))
        out = self.out(torch.cat([y, x], dim=-1))
        logits = out[..., : self.num_actions]
        velocity = torch.tanh(out[..., self.num_actions :]) * self.velocity_scale
        return logits, velocity, h, c

    def forward(
        self, feature: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, velocity, h, c = self.forward_sequence(feature.unsqueeze(1), h, c)
        return logits[:, 0], velocity[:, 0], h, c


class AuxHead(nn.Module):
    """Per-exit auxiliary head (training only): exit feature -> logits (4), velocity (2), and
    ``config.teacher_targets`` teacher predictions (see :meth:`AuxHead.with_teacher`)."""

    def __init__(self, config: VLAConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * config.hidden_size, config.head_hidden_size),
            nn.GELU(),
            nn.Linear(config.head_hidden_size, config.num_actions + 2 + config.teacher_targets),
        )
        self.num_actions = config.num_actions
        self.register_buffer(
            "velocity_scale", torch.tensor([config.max_linear_mps, config.max_angular_radps]), persistent=False
        )

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.mlp(feature)
        velocity = out[..., self.num_actions : self.num_actions + 2]
        return out[..., : self.num_actions], torch.tanh(velocity) * self.velocity_scale

    def with_teacher(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, velocity and the raw teacher predictions (``..., teacher_targets``)."""
        out = self.mlp(feature)
        velocity = out[..., self.num_actions : self.num_actions + 2]
        return (out[..., : self.num_actions], torch.tanh(velocity) * self.velocity_scale,
                out[..., self.num_actions + 2 :])


class VLAModel(nn.Module):
    """The whole multi-exit policy network; see the module docstring for the parts."""

    def __init__(self, config: VLAConfig) -> None:
        super().__init__()
        self.config = config
        tf_config = trunk_transformers_config(config)
        rope = _rope_tables(config, tf_config)
        self.tokenizer = VisionTokenizer(config)
        self.segments = nn.ModuleList(
            TrunkSegment(config, k * config.exit_interval, tf_config, rope) for k in range(config.num_exits)
        )
        self.head = ActionHead(config)
        self.aux_heads = nn.ModuleList(AuxHead(config) for _ in range(config.num_exits))

    @property
    def num_exits(self) -> int:
        return self.config.num_exits

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero LSTM state (h, c) for the start of an episode, each (lstm_layers, batch, lstm_hidden)."""
        shape = (self.config.lstm_layers, batch, self.config.lstm_hidden_size)
        device = self.head.velocity_scale.device
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def exit_features(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        instruction: torch.Tensor,
        goal: torch.Tensor,
        num_exits: int | None = None,
    ) -> torch.Tensor:
        """Features at exits 0..num_exits (all by default): (num_exits + 1, B, 2 * hidden)."""
        last = self.num_exits if num_exits is None else num_exits
        hidden, feature = self.tokenizer(rgb, depth, instruction, goal)
        features = [feature]
        for segment in self.segments[:last]:
            hidden, feature = segment(hidden)
            features.append(feature)
        return torch.stack(features)

    def sequence_outputs(
        self, rgb: torch.Tensor, depth: torch.Tensor, instruction: torch.Tensor, goal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shared-head outputs at every exit over (B, S) step sequences, for training and calibration.

        Inputs are step tensors with two leading dims (B, S): ``rgb`` (B, S, 3, H, W), ``depth``
        (B, S, 1, H, W), ``instruction`` (B, S, text_dim) or (B, S, L, text_dim), ``goal`` (B, S, G). Each exit runs the
        LSTM over the sequence from a zero state, as if every step stopped at that exit.

        Returns:
            features (E + 1, B, S, F), logits (E + 1, B, S, A), velocity (E + 1, B, S, 2).
        """
        batch, steps = goal.shape[:2]
        flat = [x.reshape(batch * steps, *x.shape[2:]) for x in (rgb, depth, instruction, goal)]
        features = self.exit_features(*flat)
        exits = features.shape[0]
        features = features.reshape(exits, batch, steps, -1)
        h, c = self.initial_state(exits * batch)
        logits, velocity, _, _ = self.head.forward_sequence(features.reshape(exits * batch, steps, -1), h, c)
        return (
            features,
            logits.reshape(exits, batch, steps, -1),
            velocity.reshape(exits, batch, steps, -1),
        )


def init_trunk_from_pretrained(model: VLAModel, path: str | Path | None = None) -> None:
    """Copy the first ``num_layers`` decoder layers of a local Llama/Qwen2 model into the trunk.

    ``path`` defaults to ``config.pretrained_trunk_path``. Loads with ``local_files_only`` (no
    download). The exit norms, tokenizer and heads stay as initialised.
    """
    from transformers import AutoModel

    config = model.config
    source = path or config.pretrained_trunk_path
    if not source:
        raise PolicyConfigError("no pretrained trunk path: set VLAConfig.pretrained_trunk_path or pass path")
    try:
        lm = AutoModel.from_pretrained(str(source), local_files_only=True)
    except (OSError, ValueError) as err:
        raise PolicyConfigError(f"{source}: cannot load a local transformers model ({err})") from err
    layers = getattr(lm, "layers", None)
    if layers is None or len(layers) < config.num_layers:
        raise PolicyConfigError(f"{source}: expected at least {config.num_layers} decoder layers in model.layers")
    for k, segment in enumerate(model.segments):
        for i, layer in enumerate(segment.layers):
            source_state = layers[k * config.exit_interval + i].state_dict()
            try:
                layer.load_state_dict(source_state)
            except RuntimeError as err:
                raise PolicyConfigError(
                    f"{source}: layer {k * config.exit_interval + i} does not fit the trunk config ({err})"
                ) from err
    logger.info("trunk initialised from %s (%d layers)", source, config.num_layers)
