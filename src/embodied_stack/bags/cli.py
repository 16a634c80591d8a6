"""Bag subcommands: ``memory build --bag`` (a recording -> a memory) and ``sim record``.

Heavy imports (rosbags, perception, the memory, the simulator) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embodied_stack.memory import cli as memory_cli

logger = logging.getLogger(__name__)


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``memory build`` and ``sim record`` to the top-level CLI groups."""
    p = groups["memory"].add_parser(
        "build",
        help="build a memory from a robot's recording (rosbag2 MCAP/sqlite3 or ROS 1 bag)",
        description="Read synchronised colour + depth + CameraInfo from a bag (Image or "
        "CompressedImage; depth 16UC1 millimetres or 32FC1 metres), look up the camera pose from "
        "/tf + /tf_static (interpolated at each image stamp) or from an odometry topic, run "
        "perception with the chosen detector backend and write the observations into a memory "
        "store. Malformed messages are skipped and counted with their reason.",
    )
    p.add_argument("--bag", type=Path, required=True,
                   help="rosbag2 directory (metadata.yaml), .mcap, .db3 or ROS 1 .bag file")
    p.add_argument("--rgb", required=True, help="colour topic (sensor_msgs/Image or CompressedImage)")
    p.add_argument("--depth", required=True,
                   help="depth topic registered to the colour camera (Image 16UC1/32FC1 or compressedDepth)")
    p.add_argument("--info", required=True, help="sensor_msgs/CameraInfo topic of the colour camera")
    p.add_argument("--backend", default="semantic",
                   help="detector: 'semantic' (recorded simulator runs) or 'owlv2:DIR' (default: semantic)")
    p.add_argument("--vocabulary", type=Path, default=None,
                   help="categories for open-vocabulary detectors: JSON list or one per line "
                   "(default: the memory's commonsense categories)")
    p.add_argument("--frame", default=None,
                   help="world frame of the camera poses (default: map; with --odom: odom)")
    p.add_argument("--odom", default=None,
                   help="take the robot pose from this nav_msgs/Odometry topic instead of /tf")
    p.add_argument("--camera-frame", default=None,
                   help="camera optical frame to look up (default: the colour image's header.frame_id)")
    p.add_argument("--tf", default="/tf", help="dynamic transform topic (default: /tf)")
    p.add_argument("--tf-static", default="/tf_static", help="static transform topic (default: /tf_static)")
    p.add_argument("--instance-topic", default=None,
                   help="32SC1 instance-id image topic for --backend semantic "
                   "(default: /camera/instance/image_raw)")
    p.add_argument("--instance-table-topic", default=None,
                   help="instance table for --backend semantic: std_msgs/String JSON (sim record) or "
                   "embodied_stack_interfaces/InstanceInfoArray (sim.launch.py) (default: /sim/instances, "
                   "else /camera/instances)")
    p.add_argument("--sync-tolerance", type=float, default=0.05,
                   help="max colour/depth stamp difference in seconds (default: 0.05)")
    p.add_argument("--tf-tolerance", type=float, default=0.1,
                   help="how far past the first/last transform a pose may be held, seconds (default: 0.1)")
    p.add_argument("--every", type=float, default=0.0,
                   help="use at most one frame per this many seconds of bag time (default: every frame)")
    p.add_argument("--perception-config", type=Path, default=None,
                   help="perception settings YAML (PerceptionConfig fields, optionally under 'perception:')")
    p.add_argument("--map", type=Path, help="ROS map_server map.yaml: walls, rooms and reachable poses")
    p.add_argument("--scene", type=Path, help="scene JSON (embodied-stack.scene/1) whose room polygons to use")
    memory_cli._common(p)  # --store, --root, --embedder, --config, --json as every memory command
    p.set_defaults(func=_cmd_memory_build)

    p = groups["sim"].add_parser(
        "record",
        help="record simulator episodes as a ROS 2 bag (MCAP) for ros2 bag play and Foxglove",
        description="Run episodes in the embedded simulator with an agent and write every frame as "
        "real ROS 2 messages: sensor_msgs/Image (rgb8 colour, registered depth, 32SC1 instance ids), "
        "CameraInfo, tf2_msgs/TFMessage (map -> odom -> base_link -> camera_link -> optical), "
        "nav_msgs/Odometry, /clock and, with --memory or --live-memory, the memory as a "
        "visualization_msgs/MarkerArray. OUT ending in .mcap is one MCAP file; any other name is a "
        "rosbag2 directory with metadata.yaml.",
    )
    p.add_argument("--scene", required=True, help="scene/1 JSON file (or habitat:CONFIG.yaml)")
    p.add_argument("--episodes", type=Path, required=True, help="episodes/1 JSON file")
    p.add_argument("--out", type=Path, required=True, help="output: run.mcap, run.db3 or a new directory")
    p.add_argument("--agent", default="oracle", help="agent spec, as for 'eval nav' (default: oracle)")
    p.add_argument("--max-episodes", type=int, default=None, help="record only the first N episodes")
    p.add_argument("--max-steps", type=int, default=500, help="steps per episode at most (default: 500)")
    p.add_argument("--width", type=int, default=None, help="render width in pixels (default: the simulator's)")
    p.add_argument("--height", type=int, default=None, help="render height in pixels (default: the simulator's)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                   help="storage of a directory output (default: mcap)")
    p.add_argument("--depth-encoding", choices=("32FC1", "16UC1"), default="32FC1",
                   help="depth image encoding: metres or millimetres (default: 32FC1)")
    p.add_argument("--no-instance", action="store_true", help="do not record instance-id images")
    p.add_argument("--step-period", type=float, default=None,
                   help="simulated seconds per step (default: the simulator's action duration)")
    markers = p.add_mutually_exclusive_group()
    markers.add_argument("--memory", type=Path, default=None,
                         help="draw this existing memory store as markers (written once, latched)")
    markers.add_argument("--live-memory", action="store_true",
                         help="perceive every frame, grow a memory while recording and draw it")
    p.add_argument("--markers-every", type=float, default=2.0,
                   help="with --live-memory: redraw the markers every N simulated seconds (default: 2)")
    p.add_argument("--embedder", default=None,
                   help="memory text-embedder spec for --memory/--live-memory (default: all-MiniLM-L6-v2)")
    p.add_argument("--root", type=Path, default=None,
                   help="memory root that --memory must lie in (default: the memory's memory_root, '.')")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.set_defaults(func=_cmd_sim_record)


def _bag_progress(total_s: float) -> tuple[Callable[[float], None], Any]:
    """A tqdm bar on stderr over the bag's time, and the callback that advances it."""
    from tqdm import tqdm

    bar = tqdm(total=round(total_s, 1), unit="s", desc="bag time", file=sys.stderr,
               bar_format="{desc}: {n:.1f}/{total:.1f} s |{bar}| {elapsed}<{remaining}")

    def advance(t_s: float) -> None:
        step = min(t_s, bar.total) - bar.n
        if step > 0:
            bar.update(step)

    return advance, bar


def _cmd_memory_build(args: argparse.Namespace) -> int:
    from embodied_stack.bags.build import build_from_bag, load_vocabulary, make_detector
    from embodied_stack.bags.reader import BagReader
    from embodied_stack.bags.rgbd import RgbdConfig, require_rgbd_topics
    from embodied_stack.perception import PerceptionConfig, PerceptionPipeline

    semantic = args.backend == "semantic"
    config = RgbdConfig(
        rgb_topic=args.rgb,
        depth_topic=args.depth,
        info_topic=args.info,
        instance_topic=(args.instance_topic or "/camera/instance/image_raw") if semantic else args.instance_topic,
        frame=args.frame or ("odom" if args.odom else "map"),
        odom_topic=args.odom,
        camera_frame=args.camera_frame,
        tf_topic=args.tf,
        tf_static_topic=args.tf_static,
        sync_tolerance_s=args.sync_tolerance,
        tf_tolerance_s=args.tf_tolerance,
        min_interval_s=args.every,
    )
    perception_config = (
        PerceptionConfig.from_yaml(args.perception_config, section="perception")
        if args.perception_config else PerceptionConfig()
    )
    vocabulary = load_vocabulary(args.vocabulary) if args.vocabulary else None
    with BagReader(args.bag) as bag:
        require_rgbd_topics(bag, dataclasses.replace(config, instance_topic=None))
        detector = make_detector(args.backend, bag, instance_table_topic=args.instance_table_topic,
                                 vocabulary=vocabulary)
        require_rgbd_topics(bag, config)
        pipeline = PerceptionPipeline(perception_config, detector)
        spatial = memory_cli._spatial(args.map, args.scene)
        with memory_cli._open(args, create=True, spatial=spatial) as memory:
            notes = {k: str(v.resolve()) for k, v in (("map", args.map), ("scene", args.scene)) if v}
            if notes:
                memory.set_notes(**notes)
            advance, bar = _bag_progress(bag.duration_s)
            try:
                result = build_from_bag(bag, config, pipeline, memory.ingest, progress=advance)
            finally:
                bar.close()
            stats = memory.stats()
    report = {"bag": str(args.bag), "store": str(args.store), "backend": args.backend, **result.to_dict(),
              "stats": stats.to_dict()}
    print(f"{result.rgbd.samples} frames -> {result.observations} observations -> {stats.leaves} leaves, "
          f"{stats.nodes} parent nodes in {args.store}")
    for category, entry in result.skipped.items():
        print(f"skipped {entry['count']} ({category}), e.g. {entry['example']}")
    if args.json:
        print(json.dumps(report))
    return 0


def _cmd_sim_record(args: argparse.Namespace) -> int:
    from embodied_stack.bags.record import RecordConfig, SimRecorder
    from embodied_stack.bags.sim_runs import episode_runs, make_agent, marker_hook
    from embodied_stack.bags.writer import BagWriter
    from embodied_stack.sim.envs import make_env

    env = make_env(args.scene, width=args.width, height=args.height)
    runs = episode_runs(env, args.episodes, max_episodes=args.max_episodes)
    agent = make_agent(args.agent, env)
    step_period = args.step_period or float(getattr(getattr(env, "config", None), "action_duration_s", 0.25))
    config = RecordConfig(depth_encoding=args.depth_encoding, step_period_s=step_period, max_steps=args.max_steps)
    if args.no_instance:
        config = dataclasses.replace(config, instance_topic=None)
    hook, memory = marker_hook(env, memory_store=args.memory, live=args.live_memory,
                               every_s=args.markers_every, embedder=args.embedder, root=args.root)
    from tqdm import tqdm

    try:
        with BagWriter(args.out, storage=args.storage, latched_topics=(config.markers_topic,)) as writer:
            recorder = SimRecorder(writer, env, config, on_frame=hook)
            for run in tqdm(runs, desc="episodes", unit="ep", file=sys.stderr):
                recorder.record_episode(run, agent)
    finally:
        if memory is not None:
            memory.close()
        env.close()
    report = {"out": str(args.out), "scene": str(args.scene), "agent": args.agent,
              "messages": writer.message_count, **recorder.stats.to_dict()}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"wrote {args.out}: {report['episodes']} episodes, {report['frames']} frames, "
              f"{report['messages']} messages, {report['duration_s']:.1f} s of simulated time")
    return 0
