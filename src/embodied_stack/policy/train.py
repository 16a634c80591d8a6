"""Imitation training of the multi-exit policy: oracle demonstrations, then DAgger rounds.

Round 0 collects the expert's demonstrations with noise injection (see
:mod:`embodied_stack.policy.demos` for the experts); each later round rolls out the current
policy (executing the expert's action with probability ``beta``, halved every round) and adds
the expert's labels of the states it visited. Each round then trains on everything collected
so far.

The loss follows DeeR (Yue et al. 2024): cross-entropy on the discrete action plus a Huber loss
on the velocity command, summed with equal weights over (a) the shared head at every exit
0..E, (b) the shared head on a sequence whose steps each come from a randomly drawn exit (as
early exit mixes exits over time, feeding the LSTM), and (c) the per-exit auxiliary heads.
With ``VLAConfig.teacher_targets`` set, the auxiliary heads also learn privileged teacher values
recorded by the collector (the language-vision task's: is the named object in view, its bearing
and distance; :func:`_teacher_loss`): a training-only signal from the scene file that makes every
exit's features say where the named object is, which the inference model never sees.

Training is seeded and resumable: the work directory holds the model, the optimizer state
(safetensors), the demonstrations of each round (``.npz``) and ``state.json``; each iteration's
random draws derive from (seed, iteration), so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from embodied_stack.policy.batches import StepBatch, embed_instructions, make_batch
from embodied_stack.policy.checkpoint import load_policy, save_policy
from embodied_stack.policy.configuration_vla import VLAConfig
from embodied_stack.policy.dataset import DemoBuffer
from embodied_stack.policy.demos import EXPERTS, CollectConfig, DemoCollector
from embodied_stack.policy.errors import TrainingError
from embodied_stack.policy.modeling_vla import VLAModel, init_trunk_from_pretrained
from embodied_stack.sim.scene import Scene

logger = logging.getLogger(__name__)

STATE_FORMAT = "embodied-stack.vla-train/1"


@dataclass(frozen=True)
class TrainConfig:
    """Schedule and loss settings of :func:`train_policy` (see the module docstring)."""

    seed: int = 0
    rounds: int = 3
    episodes_per_scene: int = 8
    iterations_per_round: int = 300
    batch_windows: int = 8
    window_steps: int = 24
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_iterations: int = 100
    grad_clip: float = 1.0
    noise_prob: float = 0.1
    stop_noise_prob: float = 0.7
    dagger_beta: float = 0.5
    max_episode_steps: int = 250
    stop_radius_m: float = 0.75
    expert: str = "waypoints"
    velocity_weight: float = 1.0
    stop_weight: float = 5.0
    teacher_weight: float = 1.0
    save_every: int = 100

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes_per_scene", "iterations_per_round", "batch_windows", "window_steps",
                     "max_episode_steps", "save_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")
        if self.expert not in EXPERTS:
            raise ValueError(f"TrainConfig.expert must be one of {EXPERTS}, got {self.expert!r}")
        if self.learning_rate <= 0 or self.warmup_iterations < 0:
            raise ValueError(f"TrainConfig: bad learning rate {self.learning_rate} or warmup {self.warmup_iterations}")

    @property
    def total_iterations(self) -> int:
        return self.rounds * self.iterations_per_round

    def beta(self, round_index: int) -> float:
        """Probability of executing the oracle's action in a round (1 in round 0)."""
        return 1.0 if round_index == 0 else self.dagger_beta * 0.5 ** (round_index - 1)


def demo_loss(model: VLAModel, batch: StepBatch, config: TrainConfig, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """DeeR's multi-exit loss on a batch of windows; returns the loss and a few figures."""
    features, logits, velocity = model.sequence_outputs(*batch.inputs())
    exits, batch_size, steps, width = features.shape
    pick = torch.randint(1, exits, (batch_size, steps), generator=generator)
    mixed = features.gather(0, pick[None, :, :, None].expand(1, batch_size, steps, width))[0]
    mixed_logits, mixed_velocity, _, _ = model.head.forward_sequence(mixed, *model.initial_state(batch_size))
    use_teacher = model.config.teacher_targets > 0 and batch.teacher is not None
    if use_teacher:
        aux3 = [head.with_teacher(features[k + 1]) for k, head in enumerate(model.aux_heads)]
        aux = [(a[0], a[1]) for a in aux3]
    else:
        aux = [head(features[k + 1]) for k, head in enumerate(model.aux_heads)]
    all_logits = torch.cat([logits, mixed_logits[None], torch.stack([a[0] for a in aux])])
    all_velocity = torch.cat([velocity, mixed_velocity[None], torch.stack([a[1] for a in aux])])
    heads = all_logits.shape[0]
    weights = torch.ones(model.config.num_actions)
    weights[0] = config.stop_weight
    target = batch.action.expand(heads, -1, -1)
    ce = F.cross_entropy(all_logits.reshape(-1, all_logits.shape[-1]), target.reshape(-1), weight=weights,
                         reduction="none").reshape(heads, batch_size, steps)
    scale = model.head.velocity_scale
    huber = F.smooth_l1_loss(all_velocity / scale, (batch.velocity / scale).expand(heads, -1, -1, -1),
                             reduction="none").sum(-1)
    mask = batch.mask.float()
    per_head = ((ce + config.velocity_weight * huber) * mask).sum((1, 2)) / mask.sum()
    figures_teacher: dict[str, float] = {}
    if use_teacher:
        teacher_loss, figures_teacher = _teacher_loss(torch.stack([a[2] for a in aux3]), batch.teacher, batch.mask)
        per_head = torch.cat([per_head, (config.teacher_weight * teacher_loss)[None]])
    with torch.no_grad():
        correct = (all_logits.argmax(-1) == target).float()
        accuracy = (correct * mask).sum((1, 2)) / mask.sum()
    figures = {"loss": float(per_head.detach().mean()), "acc_exit1": float(accuracy[1]), "acc_last": float(accuracy[exits - 1]),
               **figures_teacher}
    return per_head.sum(), figures


def _teacher_loss(pred: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Privileged auxiliary loss over every exit's aux head: (E, B, S, 4) predictions against
    (B, S, 4) teacher values (in view, sin and cos of the bearing, distance in metres).

    Whether the named target is in view is a logistic loss on every recorded step; its bearing
    (squared error on sine and cosine) and distance (Huber on metres / 2) count only where it is
    in view. Steps without teacher values (NaN) or padded steps count nothing.
    """
    valid = mask & torch.isfinite(teacher).all(-1)
    if not bool(valid.any()):
        return pred.sum() * 0.0, {}
    target = torch.nan_to_num(teacher)
    in_view = target[..., 0]
    seen = valid & (in_view > 0.5)
    bce = F.binary_cross_entropy_with_logits(pred[..., 0], in_view.expand_as(pred[..., 0]), reduction="none")
    loss = (bce * valid).sum((1, 2)) / valid.sum()
    if bool(seen.any()):
        bearing = ((pred[..., 1:3] - target[..., 1:3]) ** 2).sum(-1)
        distance = F.smooth_l1_loss(pred[..., 3], (target[..., 3] / 2.0).expand_as(pred[..., 3]), reduction="none")
        loss = loss + ((bearing + distance) * seen).sum((1, 2)) / seen.sum()
    with torch.no_grad():
        view_acc = (((pred[..., 0] > 0) == (in_view > 0.5)).float() * valid).sum((1, 2)) / valid.sum()
    return loss.mean(), {"teacher": float(loss.detach().mean()), "view_acc_exit1": float(view_acc[0]),
                         "view_acc_last": float(view_acc[-1])}


def _lr_factor(iteration: int, config: TrainConfig) -> float:
    if iteration < config.warmup_iterations:
        return (iteration + 1) / config.warmup_iterations
    progress = (iteration - config.warmup_iterations) / max(1, config.total_iterations - config.warmup_iterations)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    from safetensors.torch import save_file

    state = optimizer.state_dict()
    tensors = {f"{pid}.{key}": value.contiguous() for pid, entry in state["state"].items()
               for key, value in entry.items() if isinstance(value, torch.Tensor)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"param_groups": json.dumps(state["param_groups"])})
    tmp.replace(path)


def _load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        groups = json.loads(handle.metadata()["param_groups"])
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key in handle.keys():
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = handle.get_tensor(key)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


class Trainer:
    """Runs (or resumes) :func:`train_policy`'s schedule in a work directory."""

    def __init__(
        self,
        scenes: Sequence[Scene],
        model_config: VLAConfig,
        train_config: TrainConfig,
        work_dir: Path,
        embed: Callable[[list[str]], np.ndarray],
        collector: Any | None = None,
    ) -> None:
        self.scenes = list(scenes)
        self.model_config = model_config
        self.config = train_config
        self.work_dir = Path(work_dir)
        self.embed = embed
        self.scene_names = [s.name for s in self.scenes]
        self.state: dict[str, Any] = {
            "format": STATE_FORMAT, "round": 0, "phase": "collect", "iteration": 0, "history": [],
            "model_config": model_config.to_dict(), "train_config": asdict(train_config), "scenes": self.scene_names,
            "elapsed_s": 0.0,
        }
        torch.manual_seed(train_config.seed)
        self.model = VLAModel(model_config)
        if model_config.pretrained_trunk_path:
            init_trunk_from_pretrained(self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=train_config.learning_rate,
                                           weight_decay=train_config.weight_decay)
        self.buffer = DemoBuffer()
        self._collector: Any | None = collector

    # -- persistence ----------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.work_dir / "state.json"

    def resume(self) -> bool:
        """Load the work directory's state if there is one; False when starting fresh."""
        if not self.state_path.exists():
            return False
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as err:
            raise TrainingError(f"{self.state_path}: cannot read training state ({err})") from err
        if state.get("format") != STATE_FORMAT:
            raise TrainingError(f"{self.state_path}: not a training state ({state.get('format')!r})")
        for key, mine in (("model_config", self.model_config.to_dict()), ("train_config", asdict(self.config)),
                          ("scenes", self.scene_names)):
            if state.get(key) != mine:
                raise TrainingError(
                    f"{self.state_path}: the run there used a different {key}; pass the same options to resume "
                    "or use a new work directory (or --restart)"
                )
        self.state = state
        self.model = load_policy(self.work_dir / "model.safetensors", config=self.model_config).model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.learning_rate,
                                           weight_decay=self.config.weight_decay)
        _load_optimizer(self.optimizer, self.work_dir / "optimizer.safetensors")
        last = state["round"] if state["phase"] == "train" else state["round"] - 1
        for r in range(last + 1):
            self.buffer.extend(DemoBuffer.load(self.work_dir / f"demos_round{r}.npz"))
        logger.info("resumed %s at round %d (%s), iteration %d", self.work_dir, state["round"], state["phase"],
                    state["iteration"])
        return True

    def save(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        save_policy(self.work_dir / "model.safetensors", self.model)
        _save_optimizer(self.optimizer, self.work_dir / "optimizer.safetensors")
        tmp = self.state_path.with_name("state.json.tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)

    # -- the schedule ---------------------------------------------------------------------

    @property
    def collector(self) -> Any:
        """The demonstration collector: the one given (e.g. the language-vision task's), else a
        :class:`DemoCollector` over the scenes."""
        if self._collector is None:
            self._collector = DemoCollector(self.scenes, self.model_config, embed=self.embed)
        return self._collector

    def collect_round(self) -> None:
        r = self.state["round"]
        cfg = self.config
        collect = CollectConfig(cfg.episodes_per_scene, cfg.beta(r), cfg.noise_prob, cfg.stop_noise_prob,
                                cfg.max_episode_steps, cfg.stop_radius_m, expert=cfg.expert)
        started = time.perf_counter()
        demos, stats = self.collector.collect(collect, np.random.default_rng([cfg.seed, r]),
                                              self.model if r > 0 else None, seed=cfg.seed * 100 + r)
        demos.save(self.work_dir / f"demos_round{r}.npz")
        self.buffer.extend(demos)
        stats.update(round=r, beta=collect.beta, collect_s=time.perf_counter() - started, buffer_steps=len(self.buffer))
        self.state["history"].append(stats)
        logger.info("round %d: %d episodes, %d steps (buffer %d), rollout success %.2f (beta %.2f) in %.0f s", r,
                    stats["episodes"], stats["steps"], len(self.buffer), stats["success"], collect.beta,
                    stats["collect_s"])
        self.state["phase"] = "train"

    def train_round(self, progress: Any | None) -> dict[str, float]:
        """Train up to the end of the current round; returns moving averages of the loss and accuracies."""
        cfg = self.config
        instructions = embed_instructions(self.buffer, self.embed)
        end = (self.state["round"] + 1) * cfg.iterations_per_round
        figures: dict[str, float] = {}
        self.model.train()
        while self.state["iteration"] < end:
            it = self.state["iteration"]
            rng = np.random.default_rng([cfg.seed, 1, it])
            generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
            index, mask = self.buffer.sample_windows(rng, cfg.batch_windows, cfg.window_steps)
            batch = make_batch(self.buffer, index, mask, instructions)
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.learning_rate * _lr_factor(it, cfg)
            loss, step_figures = demo_loss(self.model, batch, cfg, generator)
            if it == self.state["round"] * cfg.iterations_per_round:
                self.state["history"][-1]["first_loss"] = step_figures["loss"]
            figures = {k: v if k not in figures else 0.9 * figures[k] + 0.1 * v for k, v in step_figures.items()}
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.state["iteration"] = it + 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{figures['loss']:.3f}", acc1=f"{figures['acc_exit1']:.2f}",
                                     acc=f"{figures['acc_last']:.2f}")
            if (it + 1) % cfg.save_every == 0:
                self.save()
        self.model.eval()
        return figures

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Run the remaining rounds; returns the training notes stored in the final checkpoint."""
        from tqdm import tqdm

        bar = tqdm(total=self.config.total_iterations, initial=self.state["iteration"], desc="policy train",
                   disable=not progress, dynamic_ncols=True)
        figures: dict[str, float] = {}
        started = time.perf_counter() - self.state["elapsed_s"]
        with bar:
            while self.state["round"] < self.config.rounds:
                if self.state["phase"] == "collect":
                    self.collect_round()
                    self.state["elapsed_s"] = time.perf_counter() - started
                    self.save()
                figures = self.train_round(bar)
                self.state["history"][-1].update({f"final_{k}": v for k, v in figures.items()})
                self.state["round"] += 1
                self.state["phase"] = "collect"
                self.state["elapsed_s"] = time.perf_counter() - started
                self.save()
        return {
            "train_config": asdict(self.config),
            "scenes": self.scene_names,
            "iterations": self.state["iteration"],
            "demo_steps": len(self.buffer),
            "history": self.state["history"],
            "elapsed_s": round(self.state["elapsed_s"], 1),
        }


def train_policy(
    scenes: Sequence[Scene],
    out: str | Path,
    *,
    model_config: VLAConfig | None = None,
    train_config: TrainConfig | None = None,
    work_dir: str | Path | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    restart: bool = False,
    progress: bool = True,
    collector: Any | None = None,
) -> Path:
    """Train a policy on ``scenes`` and write the checkpoint ``out``.

    ``collector`` replaces the point-goal :class:`DemoCollector` (the language-vision task passes
    a :class:`~embodied_stack.policy.vln_demos.VLNCollector`; ``embed`` then returns token
    embeddings). ``work_dir`` (default ``<out>.work``) holds the resumable state: calling again with the same
    arguments continues where an interrupted run stopped; ``restart`` discards it.
    """
    if not scenes:
        raise TrainingError("no training scenes given")
    out = Path(out)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    if restart and work.exists():
        for child in (*work.glob("demos_round*.npz"), work / "state.json", work / "model.safetensors",
                      work / "optimizer.safetensors"):
            child.unlink(missing_ok=True)
    if embed is None:
        from embodied_stack.text.embedders import load_embedder

        embed = load_embedder("default").embed
    trainer = Trainer(scenes, model_config or VLAConfig(), train_config or TrainConfig(), work, embed, collector)
    trainer.resume()
    notes = trainer.run(progress=progress)
    save_policy(out, trainer.model, training=notes)
    logger.info("wrote %s after %d iterations (%.0f s)", out, notes["iterations"], notes["elapsed_s"])
    return out
