"""``sim export-habitat``: a scene/1 file -> a habitat-sim scene whose semantic sensor returns our
instance ids.

Files written to the output folder (``NAME`` = the scene's name):

- ``NAME.glb``: the render mesh, one node per object (named by its object id, its box with the
  object's colour) plus one node per room floor and ceiling (``floor:ROOM``, ``ceiling:ROOM``) and
  one for all walls (``walls``). Coordinates are Habitat's (y up, ``(x, z, -y)`` of ``map``); the
  ground plane our renderer keeps under everything is left out (it would be a navmesh island).
- ``NAME.semantic.glb``: the same geometry as habitat's semantic mesh: every vertex has a
  ``COLOR_0`` (habitat-sim requires vertex colours on semantic meshes and maps them to ids
  through the descriptor below) and an ``_OBJECT_ID`` (Magnum's glTF importer reads it as the
  mesh's object ids, which habitat-sim then uses directly); objects carry their instance id
  (their index in the scene, as the embedded simulator numbers them), structure carries
  :data:`STRUCTURE_ID`.
- ``NAME.semantic.txt``: the semantic scene descriptor in HM3D's format (header ``HM3D Semantic
  Annotations``, then ``id,RRGGBB,"category",region`` per object; region = the room's index), so
  ``sim.semantic_scene.objects`` lists our objects with ``semantic_id`` = instance id. habitat-sim
  converts a glb's vertex colours to sRGB before matching them (``convertToSRGB`` for non-.ply
  semantic assets), so the file lists the sRGB bytes of the linear colours stored in the mesh;
  colours are chosen so that rounding and truncation agree.
- ``stages/NAME.stage_config.json``: ``render_asset``, ``semantic_asset``,
  ``semantic_descriptor_filename``, ``up`` [0, 1, 0] and ``front`` [0, 0, -1] (and the same for
  the semantic mesh), so the y-up glb is not turned on its side as a bare glb would be.
- ``NAME.scene_dataset_config.json``: registers the stage; with it, ``scene_id: NAME`` names the
  stage and habitat-sim builds the scene from it (its navmesh recomputed from the render mesh).
- ``NAME.scene.json``: a copy of the source scene (goals, floor heights), and ``NAME.habitat.yaml``:
  the adapter's configuration for all of the above (``habitat:NAME.habitat.yaml``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embodied_stack.sim.errors import HabitatExportError
from embodied_stack.sim.habitat.convert import habitat_from_map
from embodied_stack.sim.habitat.glb import GlbMesh, write_glb
from embodied_stack.sim.mesh import (
    KIND_CEILING,
    KIND_FLOOR,
    KIND_GROUND,
    KIND_OBJECT,
    KIND_WALL,
    build_scene_mesh,
)
from embodied_stack.sim.scene import Scene, save_scene

STRUCTURE_ID = 65535
"""Semantic id of walls, floors and ceilings (habitat-sim's largest; no object has it)."""

SSD_HEADER = "HM3D Semantic Annotations"


@dataclass(frozen=True)
class HabitatExport:
    """Paths of an export (see the module docstring)."""

    glb: Path
    semantic_glb: Path
    semantic_txt: Path
    stage_config: Path
    dataset_config: Path
    scene_json: Path
    config_yaml: Path
    scene_id: str


def srgb_byte(linear_byte: int) -> float:
    """The sRGB value (0..255, unrounded) of a linear 8-bit channel, as Magnum's ``toSrgb``."""
    x = linear_byte / 255.0
    return 255.0 * (12.92 * x if x <= 0.0031308 else 1.055 * x ** (1.0 / 2.4) - 0.055)


def _channel_table() -> list[tuple[int, int]]:
    """(linear byte, sRGB byte) pairs whose sRGB value is an unambiguous integer (fraction in
    [0.1, 0.4]: rounding and truncation agree) and distinct."""
    out, seen = [], set()
    for linear in range(1, 256):
        value = srgb_byte(linear)
        frac = value - math.floor(value)
        if 0.1 <= frac <= 0.4 and math.floor(value) not in seen:
            seen.add(math.floor(value))
            out.append((linear, int(math.floor(value))))
    return out


_CHANNELS = _channel_table()


def semantic_colors(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct colours: the linear bytes stored in the mesh (n, 3) and the sRGB bytes
    habitat-sim reads from them (n, 3), which the descriptor lists."""
    k = len(_CHANNELS)
    if n > k ** 3:
        raise HabitatExportError(f"{n} objects exceed the {k ** 3} distinct semantic colours")
    linear, srgb = np.zeros((n, 3), dtype=np.uint8), np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        j = (i * 7919 + 1) % k ** 3  # 7919 is prime and not 83: i -> j is one-to-one
        digits = (j // k ** 2, j // k % k, j % k)
        linear[i] = [_CHANNELS[d][0] for d in digits]
        srgb[i] = [_CHANNELS[d][1] for d in digits]
    if len({tuple(c) for c in srgb}) != n:
        raise HabitatExportError("semantic colours collide; report this")
    return linear, srgb


def export_habitat(scene: Scene, out_dir: str | Path, *, gpu_device_id: int = 0) -> HabitatExport:
    """Write the habitat-sim files of ``scene`` into ``out_dir`` (see the module docstring)."""
    if not scene.objects and not scene.rooms:
        raise HabitatExportError(f"scene {scene.name!r} has nothing to export")
    name = scene.name
    if not name or any(c in name for c in '/\\,"'):
        raise HabitatExportError(f"scene name {name!r} cannot name habitat files (no / \\ , or \")")
    for o in scene.objects:
        if "," in o.category or '"' in o.category:
            raise HabitatExportError(f"object {o.id!r}: category {o.category!r} has a comma or quote, which the "
                                     "HM3D descriptor format cannot hold")
    out = Path(out_dir)
    (out / "stages").mkdir(parents=True, exist_ok=True)
    render, semantic = _meshes(scene)
    paths = HabitatExport(glb=out / f"{name}.glb", semantic_glb=out / f"{name}.semantic.glb",
                          semantic_txt=out / f"{name}.semantic.txt",
                          stage_config=out / "stages" / f"{name}.stage_config.json",
                          dataset_config=out / f"{name}.scene_dataset_config.json",
                          scene_json=out / f"{name}.scene.json", config_yaml=out / f"{name}.habitat.yaml",
                          scene_id=name)
    write_glb(paths.glb, render)
    write_glb(paths.semantic_glb, semantic)
    _, srgb = semantic_colors(len(scene.objects))
    rooms = {r.id: i for i, r in enumerate(scene.rooms)}
    lines = [SSD_HEADER] + [f'{i},{"".join(f"{int(c):02X}" for c in srgb[i])},"{o.category}",{rooms[o.room]}'
                            for i, o in enumerate(scene.objects)]
    paths.semantic_txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stage = {"render_asset": f"../{paths.glb.name}", "semantic_asset": f"../{paths.semantic_glb.name}",
             "semantic_descriptor_filename": f"../{paths.semantic_txt.name}",
             "up": [0.0, 1.0, 0.0], "front": [0.0, 0.0, -1.0],
             "semantic_up": [0.0, 1.0, 0.0], "semantic_front": [0.0, 0.0, -1.0],
             "origin": [0.0, 0.0, 0.0], "units_to_meters": 1.0}
    paths.stage_config.write_text(json.dumps(stage, indent=2) + "\n", encoding="utf-8")
    dataset = {"stages": {"paths": {".json": ["stages"]}}}
    paths.dataset_config.write_text(json.dumps(dataset, indent=2) + "\n", encoding="utf-8")
    save_scene(scene, paths.scene_json)
    paths.config_yaml.write_text(
        "# embodied-stack Habitat adapter settings for an exported scene (sim export-habitat).\n"
        "# Use as habitat:" + paths.config_yaml.name + " wherever a scene is taken.\n"
        f"scene: {name}\n"
        f"scene_dataset_config: {paths.dataset_config.name}\n"
        f"source_scene: {paths.scene_json.name}\n"
        f"gpu_device_id: {gpu_device_id}   # -1 = Mesa's CPU EGL renderer (no GPU)\n"
        "semantic: true\n", encoding="utf-8")
    return paths


def _meshes(scene: Scene) -> tuple[list[GlbMesh], list[GlbMesh]]:
    """The render meshes (per object, per room floor/ceiling, walls) and the semantic meshes
    (the same parts with vertex colours and object ids), in Habitat coordinates."""
    mesh = build_scene_mesh(scene)
    linear, _ = semantic_colors(len(scene.objects))
    parts: list[tuple[str, np.ndarray, int, tuple[float, float, float]]] = []
    for i, obj in enumerate(scene.objects):
        parts.append((obj.id, (mesh.kinds == KIND_OBJECT) & (mesh.instance_ids == i), i, _rgb(obj.color)))
    floors = np.flatnonzero(mesh.kinds == KIND_FLOOR)
    ceilings = np.flatnonzero(mesh.kinds == KIND_CEILING)
    for kind, tris_of_kind, label in ((KIND_FLOOR, floors, "floor"), (KIND_CEILING, ceilings, "ceiling")):
        # one face per room polygon, in room order (build_scene_mesh adds floor then ceiling per room)
        faces = np.unique(mesh.face_ids[tris_of_kind])
        for room, face in zip(scene.rooms, faces, strict=True):
            select = (mesh.kinds == kind) & (mesh.face_ids == face)
            parts.append((f"{label}:{room.id}", select, STRUCTURE_ID, _rgb(mesh.colors[select][0])))
    walls = mesh.kinds == KIND_WALL
    if walls.any():
        parts.append(("walls", walls, STRUCTURE_ID, _rgb(mesh.colors[walls][0])))
    assert not np.any(mesh.kinds[np.logical_or.reduce([p[1] for p in parts])] == KIND_GROUND)
    render, semantic = [], []
    for name, select, sid, color in parts:
        tris = mesh.triangles[select].astype(np.int64)
        used, local = np.unique(tris, return_inverse=True)
        positions = habitat_from_map(mesh.vertices[used].astype(np.float64)).astype(np.float32)
        local = local.reshape(-1, 3)
        render.append(GlbMesh(name, positions, local, base_color=(float(color[0]), float(color[1]), float(color[2]))))
        rgb = linear[sid] if sid != STRUCTURE_ID else np.zeros(3, dtype=np.uint8)
        colors = np.tile(np.append(rgb, 255).astype(np.uint8), (len(positions), 1))
        semantic.append(GlbMesh(name, positions, local, colors=colors,
                                attributes={"_OBJECT_ID": np.full(len(positions), sid, dtype=np.uint32)}))
    return render, semantic


def _rgb(color: object) -> tuple[float, float, float]:
    r, g, b = (float(c) for c in np.asarray(color, dtype=np.float64).reshape(3))
    return (r, g, b)
