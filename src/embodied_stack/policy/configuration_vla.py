"""Configuration of the multi-exit vision-language-action policy (after DeeR-VLA).

One dataclass, validated on construction, saved inside every checkpoint so that a checkpoint
always says which model it holds. Loadable from YAML or JSON with the same field names.

Shapes the configuration implies (see :mod:`embodied_stack.policy.modeling_vla`):

* the camera is resized to ``image_width`` x ``image_height`` pixels; RGB (and depth, metres,
  clipped to ``max_depth_m``) go through ``len(vision_channels)`` stride-2 conv stages, so the
  visual tokens form a ``image_width / 2**S`` by ``image_height / 2**S`` grid;
* the trunk sees ``2 + grid_w * grid_h`` tokens: one goal/state token (target and waypoint
  distance and bearing, planned path length, previous action), one instruction token (the memory's 384-d text embedding), then
  the visual tokens;
* the trunk has ``num_layers`` decoder layers (``transformers`` Llama or Qwen2 layers) with an
  exit after every ``exit_interval`` layers: exits ``1 .. num_exits``. Exit ``0`` names the
  token embeddings before any trunk layer; it is never taken, only compared against.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from embodied_stack.policy.errors import PolicyConfigError

BACKBONES = ("llama", "qwen2")
STATE_INPUTS = ("goal", "odometry")
EXIT_METRICS = ("tv", "js", "velocity")
NUM_ACTIONS = 4
# goal/state features: target distance (2 encodings) and sin/cos bearing, waypoint distance and
# sin/cos bearing, planned path length, path length and distance at near range, one-hot previous
# action (none + 4)
GOAL_FEATURES = 4 + 3 + 1 + 2 + 1 + NUM_ACTIONS
# odometry/state features of the language-vision task (no goal): displacement from the start in
# the start frame (2), sin/cos of the heading change, steps taken, one-hot previous action (none + 4)
ODOMETRY_FEATURES = 2 + 2 + 1 + 1 + NUM_ACTIONS


@dataclass(frozen=True)
class VLAConfig:
    """Hyper-parameters of :class:`~embodied_stack.policy.modeling_vla.VLAModel`.

    Attributes:
        image_width, image_height: input resolution in pixels after resizing the camera image.
        use_depth: feed the depth image (metres) as a fourth channel.
        max_depth_m: depth is clipped to this range and scaled to [0, 1]; 0 (no hit) reads as far.
        vision_channels: output channels of each stride-2 conv stage of the vision encoder.
        vision_refine_stages: the last this many stages add a second (stride-1) 3x3 conv; the
            early, high-resolution stages have one conv each to keep CPU training fast.
        text_dim: size of the instruction embedding (the memory's embedder: 384).
        goal_max_distance_m: goal distances are clipped here before scaling to [0, 1].
        waypoints: steer by a waypoint planned on the robot's own depth map
            (:mod:`embodied_stack.policy.waypoints`) besides the target; off, the waypoint
            features repeat the target's.
        backbone: ``"llama"`` or ``"qwen2"``: which ``transformers`` decoder layer the trunk uses.
        hidden_size, num_layers, num_attention_heads, num_key_value_heads, intermediate_size,
        rms_norm_eps, rope_theta: the trunk, with the meaning they have in ``LlamaConfig``.
        exit_interval: an exit after every this many trunk layers.
        lstm_hidden_size, lstm_layers: the shared action head's recurrent state (carried over time).
        head_hidden_size: width of the action head's output MLP and of the auxiliary heads.
        max_linear_mps, max_angular_radps: bounds of the velocity head (tanh-scaled), m/s and rad/s.
        exit_metric: the consistency score between consecutive exits: ``"tv"`` (total variation
            distance of the action distributions), ``"js"`` (Jensen-Shannon divergence, nats) or
            ``"velocity"`` (RMS difference of the scaled velocity commands, as DeeR's continuous rule).
        pretrained_trunk_path: optional local directory of a Llama/Qwen2 model whose first
            ``num_layers`` layers initialise the trunk (see ``VLAConfig.from_pretrained_trunk``).
        instruction_tokens: 0 feeds the instruction as one pooled sentence embedding (one token);
            N > 0 feeds up to N per-token embeddings of the text encoder (MiniLM's contextual
            token embeddings, :mod:`embodied_stack.policy.text_tokens`), zero rows as padding.
        state_inputs: ``"goal"``: the state token holds the target/waypoint features (the
            point-goal policy); ``"odometry"``: only odometry and the previous action (the
            language-vision policy, which must find the target by looking).
        teacher_targets: training only: the per-exit auxiliary heads also predict this many
            privileged teacher values per step (:data:`~embodied_stack.policy.dataset.TEACHER_DIM`:
            whether the named target is in view, and its egocentric bearing and distance, from the
            scene file). 0 (the default) adds nothing. The inference model never sees or outputs them;
            they only shape its exit features during training.
    """

    image_width: int = 64
    image_height: int = 48
    use_depth: bool = True
    max_depth_m: float = 5.0
    vision_channels: tuple[int, ...] = (16, 32, 64, 128)
    vision_refine_stages: int = 2
    text_dim: int = 384
    goal_max_distance_m: float = 10.0
    waypoints: bool = True
    backbone: str = "llama"
    hidden_size: int = 128
    num_layers: int = 16
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 256
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    exit_interval: int = 2
    lstm_hidden_size: int = 128
    lstm_layers: int = 1
    head_hidden_size: int = 128
    max_linear_mps: float = 0.6
    max_angular_radps: float = 1.5
    exit_metric: str = "tv"
    pretrained_trunk_path: str | None = None
    instruction_tokens: int = 0
    state_inputs: str = "goal"
    teacher_targets: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "vision_channels", tuple(int(c) for c in self.vision_channels))
        for name in ("image_width", "image_height", "text_dim", "hidden_size", "num_layers",
                     "num_attention_heads", "num_key_value_heads", "intermediate_size",
                     "exit_interval", "lstm_hidden_size", "lstm_layers", "head_hidden_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise PolicyConfigError(f"VLAConfig.{name} must be a positive integer, got {value!r}")
        for name in ("max_depth_m", "goal_max_distance_m", "rms_norm_eps", "rope_theta",
                     "max_linear_mps", "max_angular_radps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise PolicyConfigError(f"VLAConfig.{name} must be a positive finite number, got {value!r}")
        if isinstance(self.vision_refine_stages, bool) or not isinstance(self.vision_refine_stages, int) or not (
            0 <= self.vision_refine_stages <= len(self.vision_channels)
        ):
            raise PolicyConfigError(
                f"VLAConfig.vision_refine_stages must be an integer in 0..len(vision_channels), "
                f"got {self.vision_refine_stages!r}"
            )
        if isinstance(self.teacher_targets, bool) or not isinstance(self.teacher_targets, int) or not (
            self.teacher_targets == 0 or self.teacher_targets == 4
        ):
            raise PolicyConfigError(f"VLAConfig.teacher_targets must be 0 or 4, got {self.teacher_targets!r}")
        if not self.vision_channels or any(c <= 0 for c in self.vision_channels):
            raise PolicyConfigError(
                f"VLAConfig.vision_channels must be a non-empty list of positive integers, got {list(self.vision_channels)}"
            )
        scale = 2 ** len(self.vision_channels)
        if self.image_width % scale or self.image_height % scale:
            raise PolicyConfigError(
                f"VLAConfig image size {self.image_width}x{self.image_height} must be divisible by "
                f"2**len(vision_channels) = {scale} (one halving per conv stage)"
            )
        if self.backbone not in BACKBONES:
            raise PolicyConfigError(f"VLAConfig.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if isinstance(self.instruction_tokens, bool) or not isinstance(self.instruction_tokens, int) or not (
            0 <= self.instruction_tokens <= 64
        ):
            raise PolicyConfigError(f"VLAConfig.instruction_tokens must be an integer in 0..64, got {self.instruction_tokens!r}")
        if self.state_inputs not in STATE_INPUTS:
            raise PolicyConfigError(f"VLAConfig.state_inputs must be one of {STATE_INPUTS}, got {self.state_inputs!r}")
        if self.exit_metric not in EXIT_METRICS:
            raise PolicyConfigError(f"VLAConfig.exit_metric must be one of {EXIT_METRICS}, got {self.exit_metric!r}")
        if self.hidden_size % self.num_attention_heads:
            raise PolicyConfigError(
                f"VLAConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise PolicyConfigError(
                f"VLAConfig head dim hidden_size/num_attention_heads = "
                f"{self.hidden_size // self.num_attention_heads} must be even (rotary embeddings)"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise PolicyConfigError(
                f"VLAConfig.num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        if self.num_layers % self.exit_interval:
            raise PolicyConfigError(
                f"VLAConfig.num_layers ({self.num_layers}) must be a multiple of exit_interval ({self.exit_interval})"
            )

    # -- derived shapes -------------------------------------------------------------------

    @property
    def in_channels(self) -> int:
        """Image channels the vision encoder reads: RGB, plus depth when ``use_depth``."""
        return 4 if self.use_depth else 3

    @property
    def grid_size(self) -> tuple[int, int]:
        """(width, height) of the visual token grid."""
        scale = 2 ** len(self.vision_channels)
        return self.image_width // scale, self.image_height // scale

    @property
    def num_visual_tokens(self) -> int:
        grid_w, grid_h = self.grid_size
        return grid_w * grid_h

    @property
    def num_tokens(self) -> int:
        """Sequence length the trunk sees: goal/state token, instruction token(s), visual tokens."""
        return 1 + self.num_text_tokens + self.num_visual_tokens

    @property
    def num_text_tokens(self) -> int:
        """Instruction tokens in the sequence: ``instruction_tokens``, or 1 pooled embedding."""
        return max(1, self.instruction_tokens)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def num_exits(self) -> int:
        return self.num_layers // self.exit_interval

    @property
    def exit_layers(self) -> tuple[int, ...]:
        """Number of trunk layers run before each exit 1..num_exits (exit k ends after layer ``exit_layers[k-1]``)."""
        return tuple(self.exit_interval * (k + 1) for k in range(self.num_exits))

    @property
    def goal_features(self) -> int:
        """Width of the state token's input vector (goal features or odometry features)."""
        return GOAL_FEATURES if self.state_inputs == "goal" else ODOMETRY_FEATURES

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    # -- (de)serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vision_channels"] = list(self.vision_channels)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "VLAConfig") -> VLAConfig:
        """Build from a mapping with the field names above; unknown names are an error."""
        if not isinstance(data, dict):
            raise PolicyConfigError(f"{where}: expected a mapping of config fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyConfigError(f"{where}: unknown config field(s) {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> VLAConfig:
        """Load from a ``.json`` or ``.yaml``/``.yml`` file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise PolicyConfigError(f"{path}: cannot read config ({err})") from err
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except (ValueError, ImportError) as err:
            raise PolicyConfigError(f"{path}: not valid {path.suffix or 'JSON'} ({err})") from err
        return cls.from_dict(data, where=str(path))

    def diff(self, other: VLAConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: name -> (self's value, other's value)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}

    @classmethod
    def from_pretrained_trunk(cls, path: str | Path, **overrides: Any) -> VLAConfig:
        """A config whose trunk matches the local Llama/Qwen2 model in ``path`` (its ``config.json``).

        ``num_layers`` defaults to the model's depth and may be lowered in ``overrides`` to cut it,
        as DeeR cuts its 24-layer model to 12. Nothing is downloaded.
        """
        path = Path(path)
        try:
            raw = json.loads((path / "config.json").read_text())
        except (OSError, ValueError) as err:
            raise PolicyConfigError(f"{path / 'config.json'}: cannot read a transformers config ({err})") from err
        model_type = raw.get("model_type")
        if model_type not in BACKBONES:
            raise PolicyConfigError(
                f"{path / 'config.json'}: field 'model_type' is {model_type!r}; expected one of {BACKBONES}"
            )
        rope = raw.get("rope_parameters") or {}
        values: dict[str, Any] = {
            "backbone": model_type,
            "hidden_size": raw["hidden_size"],
            "num_layers": raw["num_hidden_layers"],
            "num_attention_heads": raw["num_attention_heads"],
            "num_key_value_heads": raw.get("num_key_value_heads", raw["num_attention_heads"]),
            "intermediate_size": raw["intermediate_size"],
            "rms_norm_eps": raw.get("rms_norm_eps", 1e-6),
            "rope_theta": rope.get("rope_theta", raw.get("rope_theta", 10000.0)),
            "pretrained_trunk_path": str(path),
        }
        values.update(overrides)
        if values["num_layers"] > raw["num_hidden_layers"]:
            raise PolicyConfigError(
                f"num_layers={values['num_layers']} exceeds the {raw['num_hidden_layers']} layers of {path}"
            )
        return cls(**values)


VLN_CONFIG = VLAConfig(
    image_width=64, image_height=48, vision_channels=(16, 32, 64, 128), vision_refine_stages=2,
    waypoints=False, hidden_size=256, num_layers=8, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=256, exit_interval=1, lstm_hidden_size=128, head_hidden_size=128,
    instruction_tokens=10, state_inputs="odometry", teacher_targets=4,
)
"""The language-vision policy (``policy:vln``): 64x48 RGB-D in 12 patch tokens, 10 MiniLM
instruction tokens, an odometry state token, an 8-layer Llama trunk of width 256 with an exit
after every layer."""
