"""``sim export-habitat``: write a scene/1 file as a habitat-sim scene (see :mod:`.export`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``sim export-habitat`` to the ``sim`` group."""
    p = groups["sim"].add_parser(
        "export-habitat",
        help="write a scene/1 file as a habitat-sim scene (.glb, semantic annotation, dataset config)",
        description="Export a scene/1 file for habitat-sim: a .glb with one node per object, the semantic "
        "mesh and descriptor that make the semantic sensor return our instance ids, a stage and scene "
        "dataset config (y up), a copy of the scene and NAME.habitat.yaml, usable as habitat:DIR/NAME.habitat.yaml "
        "wherever a scene is taken. Needs no habitat-sim to run.",
    )
    p.add_argument("scene", type=Path, help="scene/1 JSON file")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--gpu-device-id", type=int, default=0,
                   help="gpu_device_id written to the YAML: -1 renders on the CPU (Mesa EGL) (default: 0)")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from embodied_stack.sim.habitat.export import export_habitat
    from embodied_stack.sim.scene import load_scene

    scene = load_scene(args.scene)
    result = export_habitat(scene, args.out, gpu_device_id=args.gpu_device_id)
    logger.info("wrote %s (%d objects) and its habitat configs; use habitat:%s", result.glb, len(scene.objects),
                result.config_yaml)
    print(result.config_yaml)
    return 0
