"""Policy subcommands: ``policy train``, ``policy calibrate`` and ``policy info``.

Scenes are given as scene/1 files, directories of ``*.scene.json`` files, or generated on the
fly with ``gen:KIND:FIRST-LAST`` (``gen:home:1000-1029``: ``sim generate`` seeds 1000..1029).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

SCENES_HELP = ("scene/1 files, directories of *.scene.json, or gen:KIND:FIRST-LAST to generate "
               "(e.g. gen:home:1000-1029 gen:office:2000-2009); repeatable")


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``policy train``, ``policy calibrate`` and ``policy info``."""
    p = groups["policy"].add_parser(
        "train",
        help="train the early-exit VLA policy by imitation (demonstrations + DAgger)",
        description="Collect demonstrations with noise injection on the scenes (labelled by the "
        "waypoint expert, which sees only the robot's own depth map), then DAgger rounds, training the "
        "multi-exit policy with DeeR's loss (all exits + random exits + auxiliary heads). Seeded and "
        "resumable: rerun the same command to continue an interrupted run (state in --work-dir, "
        "default CKPT.work). Runs on CPU.",
    )
    p.add_argument("--scenes", nargs="+", required=True, help=SCENES_HELP)
    p.add_argument("--out", type=Path, required=True, help="output checkpoint (.safetensors)")
    p.add_argument("--config", type=Path, default=None, help="VLAConfig YAML/JSON (default: the built-in config)")
    p.add_argument("--rounds", type=int, default=None, help="collection rounds: 1 of demonstrations, then DAgger (default: 3)")
    p.add_argument("--iterations", type=int, default=None, help="training iterations per round (default: 300)")
    p.add_argument("--episodes-per-scene", type=int, default=None, help="episodes per scene per round (default: 8)")
    p.add_argument("--expert", choices=("waypoints", "oracle"), default="waypoints",
                   help="who labels the steps: the waypoint follower on the robot's own map (default) or the "
                   "simulator's privileged shortest-path oracle")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--work-dir", type=Path, default=None, help="resumable state (default: CKPT.work)")
    p.add_argument("--restart", action="store_true", help="discard the state in --work-dir and start over")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_train)

    p = groups["policy"].add_parser(
        "train-vln",
        help="train the language-vision early-exit policy (policy:vln) on generated task scenes",
        description="Language-vision navigation (embodied_stack.sim.vln): the instruction names one of "
        "several look-alike objects; the policy sees RGB-D, the instruction's MiniLM token embeddings and "
        "its odometry, never the target's position. A privileged shortest-path expert labels "
        "demonstrations, then DAgger rounds; DeeR's multi-exit loss. Seeded and resumable.",
    )
    p.add_argument("--scenes", type=int, default=200, help="training scenes (train split seeds; default: 200)")
    p.add_argument("--out", type=Path, required=True, help="output checkpoint (.safetensors)")
    p.add_argument("--config", type=Path, default=None, help="VLAConfig YAML/JSON (default: VLN_CONFIG)")
    p.add_argument("--rounds", type=int, default=3, help="collection rounds (default: 3)")
    p.add_argument("--iterations", type=int, default=300, help="training iterations per round (default: 300)")
    p.add_argument("--episodes-per-scene", type=int, default=5, help="episodes per scene per round (default: 5)")
    p.add_argument("--batch-windows", type=int, default=16, help="windows per training batch (default: 16)")
    p.add_argument("--window-steps", type=int, default=16, help="steps per window (the LSTM's time axis; default: 16)")
    p.add_argument("--teacher-weight", type=float, default=1.0,
                   help="weight of the privileged auxiliary loss (target in view, bearing, distance; default: 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--work-dir", type=Path, default=None, help="resumable state (default: CKPT.work)")
    p.add_argument("--restart", action="store_true", help="discard the state in --work-dir and start over")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train_vln)

    p = groups["policy"].add_parser(
        "vln-data", help="write a split of language-vision task scenes and episodes",
        description="Write COUNT task scenes of a split (train/dev/test: disjoint seed ranges, so the "
        "split is by scene) with one episode per object, and an index split.json for `eval nav --suite`.",
    )
    p.add_argument("--split", choices=("train", "dev", "test"), required=True)
    p.add_argument("--count", type=int, required=True, help="number of scenes")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(func=_cmd_vln_data)

    p = groups["policy"].add_parser(
        "calibrate",
        help="set early-exit thresholds for an average-compute budget and a peak cap",
        description="Roll the policy out on validation episodes, record the consistency score at "
        "every exit, and set DeeR's thresholds: a target exit distribution p_k ~ ratio^k whose mean "
        "trunk FLOPs equal the budget, thresholds from the sorted scores, nothing past --max-exit. "
        "Writes the thresholds and the scores into the checkpoint (other budgets can then be set by "
        "`eval nav --agent policy:CKPT?budget=...` without re-running this).",
    )
    p.add_argument("--ckpt", type=Path, required=True, help="policy checkpoint to calibrate")
    p.add_argument("--scenes", nargs="+", default=None,
                   help=SCENES_HELP + "; use scenes not used for evaluation. Without --scenes, the validation "
                   "scores stored in the checkpoint by an earlier calibration are reused (no rollouts)")
    p.add_argument("--budget", required=True,
                   help="average trunk FLOPs per step: a fraction of the full trunk (0.2), a reduction (5x) "
                   "or a count (10M, 0.01GFLOPs)")
    p.add_argument("--max-exit", type=int, default=None, help="peak cap: the deepest exit (default: the last)")
    p.add_argument("--vln-split", type=Path, default=None,
                   help="language-vision policies: roll out on this split of task scenes (sim/vln/dev) instead of --scenes")
    p.add_argument("--episodes-per-scene", type=int, default=6, help="validation episodes per scene (default: 6)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the validation episodes (default: 12345)")
    p.add_argument("--out", type=Path, default=None, help="write here instead of updating --ckpt")
    p.add_argument("--half", action="store_true", help="store weights as float16 without the training-only "
                   "auxiliary heads (a small inference checkpoint)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_calibrate)

    p = groups["policy"].add_parser(
        "info", help="show a checkpoint's config, exits, FLOPs and thresholds",
        description="Print what a policy checkpoint holds: config, exit depths with trunk FLOPs, "
        "stored thresholds and training notes.",
    )
    p.add_argument("ckpt", type=Path, help="policy checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_info)


def resolve_scenes(specs: list[str]):  # noqa: ANN201 - list[Scene]
    """Scenes from files, directories and ``gen:KIND:FIRST-LAST`` specs, in the order given."""
    from embodied_stack.policy.errors import PolicyError
    from embodied_stack.sim.generate import generate_scene
    from embodied_stack.sim.scene import load_scene

    scenes = []
    for spec in specs:
        if spec.startswith("gen:"):
            parts = spec.split(":")
            try:
                kind, (first, last) = parts[1], (int(x) for x in parts[2].split("-"))
            except (IndexError, ValueError) as err:
                raise PolicyError(f"scene spec {spec!r}: expected gen:KIND:FIRST-LAST, e.g. gen:home:1000-1029") from err
            scenes += [generate_scene(seed, kind=kind) for seed in range(first, last + 1)]
            continue
        path = Path(spec)
        if path.is_dir():
            files = sorted(path.glob("*.scene.json"))
            if not files:
                raise PolicyError(f"{path}: no *.scene.json files in this directory")
            scenes += [load_scene(f) for f in files]
        else:
            scenes.append(load_scene(path))
    return scenes


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from embodied_stack.policy.configuration_vla import VLAConfig
    from embodied_stack.policy.train import TrainConfig, train_policy

    if args.threads:
        torch.set_num_threads(args.threads)
    model_config = VLAConfig.from_file(args.config) if args.config else VLAConfig()
    overrides = {k: v for k, v in (("rounds", args.rounds), ("iterations_per_round", args.iterations),
                                   ("episodes_per_scene", args.episodes_per_scene)) if v is not None}
    train_config = TrainConfig(seed=args.seed, expert=args.expert, **overrides)
    scenes = resolve_scenes(args.scenes)
    out = train_policy(scenes, args.out, model_config=model_config, train_config=train_config,
                       work_dir=args.work_dir, restart=args.restart, progress=not args.no_progress)
    if args.json:
        from embodied_stack.policy.checkpoint import load_policy

        training = load_policy(out).training
        print(json.dumps({"checkpoint": str(out), "scenes": len(scenes), "iterations": training["iterations"],
                          "demo_steps": training["demo_steps"], "elapsed_s": training["elapsed_s"],
                          "rounds": training["history"]}))
    return 0


def _cmd_train_vln(args: argparse.Namespace) -> int:
    import torch

    from embodied_stack.policy.configuration_vla import VLN_CONFIG, VLAConfig
    from embodied_stack.policy.text_tokens import TokenEmbedder
    from embodied_stack.policy.train import TrainConfig, train_policy
    from embodied_stack.policy.vln_demos import VLNCollector
    from embodied_stack.sim.vln import make_task, split_seeds

    if args.threads:
        torch.set_num_threads(args.threads)
    model_config = VLAConfig.from_file(args.config) if args.config else VLN_CONFIG
    train_config = TrainConfig(seed=args.seed, expert="oracle", rounds=args.rounds,
                               iterations_per_round=args.iterations, episodes_per_scene=args.episodes_per_scene,
                               batch_windows=args.batch_windows, window_steps=args.window_steps,
                               teacher_weight=args.teacher_weight, warmup_iterations=40, max_episode_steps=120,
                               stop_radius_m=0.7, stop_noise_prob=0.5)
    tasks = [make_task(seed) for seed in split_seeds("train", args.scenes)]
    embed = TokenEmbedder(model_config.instruction_tokens).embed
    collector = VLNCollector(tasks, model_config, embed)
    out = train_policy([scene for scene, _ in tasks], args.out, model_config=model_config, train_config=train_config,
                       work_dir=args.work_dir, embed=embed, restart=args.restart, progress=not args.no_progress,
                       collector=collector)
    print(json.dumps({"checkpoint": str(out), "scenes": len(tasks)}))
    return 0


def _cmd_vln_data(args: argparse.Namespace) -> int:
    from embodied_stack.sim.vln import write_split

    index = write_split(args.out, args.split, args.count)
    print(json.dumps({"index": str(index), "split": args.split, "scenes": args.count}))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from embodied_stack.policy.batches import buffer_exit_scores, embed_instructions
    from embodied_stack.policy.calibration import calibrate, parse_budget
    from embodied_stack.policy.checkpoint import load_policy, save_policy
    from embodied_stack.policy.demos import CollectConfig, DemoCollector
    from embodied_stack.policy.errors import CalibrationError
    from embodied_stack.policy.flops import StepFlops
    from embodied_stack.text.embedders import load_embedder

    loaded = load_policy(args.ckpt)
    if args.vln_split is not None:
        from embodied_stack.policy.text_tokens import shared_token_embedder
        from embodied_stack.policy.vln_demos import VLNCollector
        from embodied_stack.sim.vln import load_split, load_task

        tokens = shared_token_embedder(loaded.config.instruction_tokens).embed
        collector = VLNCollector([load_task(a, b) for a, b in load_split(args.vln_split)], loaded.config, tokens)
        rollouts = CollectConfig(args.episodes_per_scene, beta=0.0, noise_prob=0.0, stop_noise_prob=0.0, max_steps=80)
        demos, stats = collector.collect(rollouts, np.random.default_rng(args.seed), loaded.model, seed=args.seed)
        scores = buffer_exit_scores(loaded.model, demos, embed_instructions(demos, tokens))
        validation = {"validation_episodes": int(stats["episodes"]), "validation_rollout_success": stats["success"],
                      "validation_split": str(args.vln_split)}
    elif args.scenes:
        embed = load_embedder("default").embed
        collector = DemoCollector(resolve_scenes(args.scenes), loaded.config, embed=embed)
        rollouts = CollectConfig(args.episodes_per_scene, beta=0.0, noise_prob=0.0, stop_noise_prob=0.0)
        demos, stats = collector.collect(rollouts, np.random.default_rng(args.seed), loaded.model, seed=args.seed)
        scores = buffer_exit_scores(loaded.model, demos, embed_instructions(demos, embed))
        validation = {"validation_episodes": int(stats["episodes"]), "validation_rollout_success": stats["success"]}
    elif loaded.calibration_scores is not None:
        scores = loaded.calibration_scores
        validation = {"validation_episodes": None, "validation_rollout_success": None, "scores": "stored"}
    else:
        raise CalibrationError(f"{args.ckpt}: no validation scores stored in the checkpoint; pass --scenes to "
                               "roll the policy out on validation scenes")
    flops = StepFlops.from_config(loaded.config)
    max_exit = args.max_exit or loaded.config.num_exits
    result = calibrate(scores, np.asarray(flops.trunk_per_exit), parse_budget(args.budget, flops.full_trunk),
                       max_exit, loaded.config.exit_metric)
    out = args.out or args.ckpt
    half = args.half or not loaded.has_aux_heads  # an inference checkpoint stays one
    save_policy(out, loaded.model, result.thresholds, training=loaded.training,
                dtype=torch.float16 if half else torch.float32, include_aux_heads=not half,
                calibration_scores=scores)
    summary = {"checkpoint": str(out), "validation_steps": int(scores.shape[0]), **validation, **result.summary()}
    logger.info("wrote %s: budget %.3g trunk FLOPs (%.2fx less than the full %.3g), cap at exit %d (%.3g FLOPs)",
                out, result.budget_flops, result.full_flops / result.budget_flops, result.full_flops, max_exit,
                result.peak_flops)
    print(json.dumps(summary) if args.json else json.dumps(summary, indent=1))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from embodied_stack.policy.checkpoint import load_policy
    from embodied_stack.policy.flops import StepFlops

    loaded = load_policy(args.ckpt)
    flops = StepFlops.from_config(loaded.config)
    info = {
        "checkpoint": str(args.ckpt),
        "config": loaded.config.to_dict(),
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "exits": [{"exit": k + 1, "layers": layers, "trunk_flops": flops.trunk_per_exit[k]}
                  for k, layers in enumerate(loaded.config.exit_layers)],
        "vision_flops": flops.vision,
        "head_flops": flops.head,
        "thresholds": loaded.thresholds.to_dict() if loaded.thresholds else None,
        "calibration_steps": None if loaded.calibration_scores is None else int(loaded.calibration_scores.shape[0]),
        "training": {k: v for k, v in loaded.training.items() if k != "history"},
    }
    print(json.dumps(info) if args.json else json.dumps(info, indent=1))
    return 0
