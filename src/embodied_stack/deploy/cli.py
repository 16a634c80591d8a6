"""Deploy subcommands: ``export onnx``, ``export embedder``, ``export check`` and ``bench onnx``.

Heavy imports (torch exporter, onnxruntime) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_OPSET_HELP = "ONNX opset of the graphs (default: 18; the exporter needs >= 18, TensorRT 8.6/10 read 18)"


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add the deploy subcommands to the top-level CLI groups."""
    from embodied_stack.deploy.manifest import DEFAULT_OPSET

    p = groups["export"].add_parser(
        "onnx",
        help="export a policy checkpoint as one ONNX graph per stage (+ int8, + embedder)",
        description="Export the early-exit policy to DIR: vision.onnx, segment_1..E.onnx (the trunk "
        "between exits), head.onnx (LSTM state as explicit inputs/outputs), all with a dynamic batch "
        "axis, and manifest.json (graphs, exits, thresholds, FLOPs per exit, input/output names). "
        "Each graph is checked against torch (|diff| <= 1e-4). The exit controller stays on the host, "
        "so early exit survives export. Run it with `eval nav --agent onnx:DIR`.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="policy checkpoint (.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="export directory (created)")
    _add_int8_args(p, ("none", "dynamic", "static"))
    p.add_argument("--embedder", action="store_true",
                   help="also export the text embedder to OUT/embedder (the ONNX agent then uses it)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=_OPSET_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_export_onnx)

    p = groups["export"].add_parser(
        "embedder",
        help="export the memory's text embedder (all-MiniLM-L6-v2) to ONNX with its tokenizer",
        description="Export the text embedder to DIR (model.onnx with mean pooling and L2 "
        "normalisation inside the graph, tokenizer.json, manifest.json); use it with "
        "`--embedder onnx:DIR` wherever the memory takes an embedder.",
    )
    p.add_argument("--out", type=Path, required=True, help="export directory (created)")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="a local sentence-transformers model (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--int8", choices=("none", "dynamic"), default="none",
                   help="also write a dynamically quantised int8 graph (default: none)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=_OPSET_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_export_embedder)

    p = groups["export"].add_parser(
        "check",
        help="validate an export directory and run it once with the chosen execution providers",
        description="Check manifest.json and every file's SHA-256, open every graph with the given "
        "execution providers (e.g. tensorrt,cuda,cpu on a Jetson) and run one input through it.",
    )
    p.add_argument("export_dir", type=Path, help="directory written by `export onnx` or `export embedder`")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="graphs to run (default: fp32)")
    p.add_argument("--providers", default="cpu", help="execution providers in order (default: cpu)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_export_check)

    p = groups["bench"].add_parser(
        "onnx",
        help="per-step policy latency and embedder throughput: torch eager vs onnxruntime fp32/int8",
        description="Export the policy (a checkpoint, or a randomly initialised model of the default "
        "config) and the embedder to a temporary directory, quantise them, and time at batch 1 on "
        "recorded simulator frames: one early-exit step stopping at each exit depth and at calibrated "
        "budgets, for torch eager fp32, onnxruntime fp32 and int8 (dynamic and static); embedder "
        "sentences per second, torch vs onnxruntime; sizes on disk. Backends alternate in rounds so "
        "that load from other processes hits them alike.",
    )
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="policy checkpoint (default: a randomly initialised default-config model)")
    p.add_argument("--export", type=Path, default=None,
                   help="time this fp32 export of --checkpoint instead of exporting it again")
    p.add_argument("--steps", type=int, default=60, help="timed steps per backend and depth (default: 60)")
    p.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (default: 3)")
    p.add_argument("--scene", type=Path, default=None, help="scene/1 file to record frames in (default: generated)")
    p.add_argument("--sentences", type=int, default=256, help="texts for the embedder timing (default: 256)")
    p.add_argument("--no-embedder", action="store_true", help="skip the embedder part")
    p.add_argument("--keep", type=Path, default=None, help="keep the exports in this directory")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_bench_onnx)


def _add_int8_args(p: argparse.ArgumentParser, modes: tuple[str, ...]) -> None:
    p.add_argument("--int8", choices=modes, default="none",
                   help="also write int8 graphs: dynamic (no data) or static (calibrated on simulator "
                   "frames; also writes TensorRT calibration caches) (default: none)")
    p.add_argument("--calibration-scene", type=Path, default=None,
                   help="scene/1 file for static calibration frames (default: a generated home)")
    p.add_argument("--calibration-episodes", type=int, default=8, help="random-walk episodes (default: 8)")
    p.add_argument("--calibration-steps", type=int, default=16, help="steps per episode (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration walk and scene (default: 0)")


def _emit(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from embodied_stack.deploy.embedder import export_embedder
    from embodied_stack.deploy.policy_export import export_checkpoint
    from embodied_stack.deploy.quantize import quantize_export
    from embodied_stack.deploy.runtime import EMBEDDER_SUBDIR
    from embodied_stack.deploy.sim_inputs import record_sim_episodes

    export = export_checkpoint(args.checkpoint, args.out, opset=args.opset)
    if args.int8 != "none":
        recorded = None
        if args.int8 == "static":
            recorded = record_sim_episodes(export.config, scene=args.calibration_scene,
                                           episodes=args.calibration_episodes, steps=args.calibration_steps,
                                           seed=args.seed)
        quantize_export(args.out, args.int8, recorded=recorded)
    result: dict[str, Any] = _describe(args.out)
    if args.embedder:
        export_embedder(args.out / EMBEDDER_SUBDIR, opset=args.opset)
        if args.int8 != "none":
            quantize_export(args.out / EMBEDDER_SUBDIR, "dynamic")
        result["embedder"] = _describe(args.out / EMBEDDER_SUBDIR)
    _emit(args, result)
    return 0


def _cmd_export_embedder(args: argparse.Namespace) -> int:
    from embodied_stack.deploy.embedder import export_embedder
    from embodied_stack.deploy.quantize import quantize_export

    export_embedder(args.out, model_dir=args.model_dir, opset=args.opset)
    if args.int8 != "none":
        quantize_export(args.out, args.int8)
    _emit(args, _describe(args.out))
    return 0


def _describe(export_dir: Path) -> dict[str, Any]:
    """Summary of an export directory for the command's output."""
    from embodied_stack.deploy.manifest import read_manifest

    manifest = read_manifest(export_dir)
    result: dict[str, Any] = {
        "out": str(export_dir),
        "format": manifest.format,
        "opset": manifest.opset,
        "graphs": [g.name for g in manifest.graphs],
        "fp32_bytes": manifest.total_bytes("fp32"),
        "parity_max_abs_diff": max((g.parity_max_abs_diff or 0.0) for g in manifest.graphs),
    }
    if manifest.int8 is not None:
        result["int8_mode"] = manifest.int8["mode"]
        result["int8_bytes"] = manifest.total_bytes("int8")
    exits = manifest.sections.get("exits")
    if isinstance(exits, dict):
        result["exits"] = exits["count"]
        result["thresholds"] = exits.get("thresholds")
    return result


def _cmd_export_check(args: argparse.Namespace) -> int:
    from embodied_stack.deploy.check import check_export

    _emit(args, check_export(args.export_dir, precision=args.precision, providers=args.providers))
    return 0


def _cmd_bench_onnx(args: argparse.Namespace) -> int:
    from embodied_stack.deploy.bench import BenchSettings, run_bench

    settings = BenchSettings(checkpoint=args.checkpoint, steps=args.steps, rounds=args.rounds, scene=args.scene,
                             sentences=args.sentences, embedder=not args.no_embedder, keep=args.keep,
                             export_dir=args.export)
    _emit(args, run_bench(settings))
    return 0
