"""``sim export-habitat``: the written .glb files parsed back (header, chunks, node names, vertex
counts, boxes) and the semantic descriptor, stage and dataset configs habitat-sim reads. Runs
without habitat-sim (it cannot be installed here); the ``habitat``-marked test loads the export
in a real habitat-sim."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.sim.embedded import EmbeddedSim
from embodied_stack.sim.habitat.config import HabitatConfig
from embodied_stack.sim.habitat.convert import map_from_habitat
from embodied_stack.sim.habitat.export import (
    SSD_HEADER,
    STRUCTURE_ID,
    export_habitat,
    semantic_colors,
    srgb_byte,
)
from embodied_stack.sim.habitat.glb import read_glb
from embodied_stack.sim.mesh import box_vertices
from embodied_stack.sim.scene import load_scene

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "sim" / "scenes" / "home_0001.scene.json"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return export_habitat(load_scene(SCENE), tmp_path_factory.mktemp("habitat"), gpu_device_id=-1)


def test_glb_container_follows_gltf_2(exported) -> None:  # noqa: ANN001
    for path in (exported.glb, exported.semantic_glb):
        data = path.read_bytes()
        magic, version, length = struct.unpack_from("<III", data, 0)
        assert (magic, version, length) == (0x46546C67, 2, len(data))
        json_len, json_type = struct.unpack_from("<II", data, 12)
        assert json_type == 0x4E4F534A and json_len % 4 == 0
        bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
        assert bin_type == 0x004E4942 and bin_len % 4 == 0 and 28 + json_len + bin_len == len(data)
        doc = json.loads(data[20:20 + json_len])
        assert doc["asset"]["version"] == "2.0" and doc["buffers"] == [{"byteLength": bin_len}]
        for acc in doc["accessors"]:
            view = doc["bufferViews"][acc["bufferView"]]
            assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= bin_len
            if acc["type"] == "VEC3" and acc["componentType"] == 5126:
                assert len(acc["min"]) == 3 and len(acc["max"]) == 3  # POSITION needs bounds


def test_one_node_per_object_with_its_box(exported) -> None:  # noqa: ANN001
    scene = load_scene(SCENE)
    _, meshes = read_glb(exported.glb)
    names = [m.name for m in meshes]
    assert names[:len(scene.objects)] == [o.id for o in scene.objects]
    assert set(names[len(scene.objects):]) == ({f"floor:{r.id}" for r in scene.rooms}
                                               | {f"ceiling:{r.id}" for r in scene.rooms} | {"walls"})
    for obj, mesh in zip(scene.objects, meshes, strict=False):
        assert len(mesh.positions) == 8 and len(mesh.triangles) == 12
        corners = box_vertices(np.array(obj.center), np.array(obj.size), obj.yaw)
        back = map_from_habitat(mesh.positions.astype(np.float64))  # the file is y up
        assert np.allclose(back.min(axis=0), corners.min(axis=0), atol=1e-5)
        assert np.allclose(back.max(axis=0), corners.max(axis=0), atol=1e-5)
        assert mesh.base_color == pytest.approx(tuple(obj.color))
    floors = {m.name: m for m in meshes if m.name.startswith("floor:")}
    for room in scene.rooms:
        heights = floors[f"floor:{room.id}"].positions[:, 1]  # y up: floor height is y
        assert np.allclose(heights, room.floor_z)
    _, semantic = read_glb(exported.semantic_glb)
    assert [m.name for m in semantic] == names
    assert sum(len(m.positions) for m in semantic) == sum(len(m.positions) for m in meshes)


def test_semantic_ids_and_descriptor_match_our_instance_ids(exported) -> None:  # noqa: ANN001
    scene = load_scene(SCENE)
    sim = EmbeddedSim(scene)
    _, meshes = read_glb(exported.semantic_glb)
    lines = exported.semantic_txt.read_text(encoding="utf-8").splitlines()
    assert lines[0] == SSD_HEADER and len(lines) == 1 + len(scene.objects)
    rooms = [r.id for r in scene.rooms]
    linear, srgb = semantic_colors(len(scene.objects))
    for mesh in meshes:
        ids = set(mesh.attributes["_OBJECT_ID"].tolist())
        assert len(ids) == 1 and mesh.colors is not None and len({tuple(c) for c in mesh.colors}) == 1
        (sid,) = ids
        if sid == STRUCTURE_ID:
            assert mesh.name not in {o.id for o in scene.objects}
            continue
        info = sim.instances[sid]  # the embedded simulator's instance id
        assert info.object_id == mesh.name
        sem_id, hex_color, category, region = lines[1 + sid].split(",")
        assert int(sem_id) == sid and category == f'"{info.category}"' and int(region) == rooms.index(info.room)
        stored = mesh.colors[0][:3]
        assert np.array_equal(stored, linear[sid])
        # habitat-sim turns the stored (linear) colour into sRGB bytes before matching the descriptor
        assert [math.floor(srgb_byte(int(c))) for c in stored] == [int(hex_color[i:i + 2], 16) for i in (0, 2, 4)]
        assert [round(srgb_byte(int(c))) for c in stored] == list(srgb[sid])
    sim.close()


def test_stage_dataset_and_adapter_configs(exported) -> None:  # noqa: ANN001
    stage = json.loads(exported.stage_config.read_text(encoding="utf-8"))
    assert stage["up"] == [0.0, 1.0, 0.0] and stage["front"] == [0.0, 0.0, -1.0]
    for key in ("render_asset", "semantic_asset", "semantic_descriptor_filename"):
        assert (exported.stage_config.parent / stage[key]).resolve().is_file(), key
    dataset = json.loads(exported.dataset_config.read_text(encoding="utf-8"))
    assert dataset["stages"]["paths"][".json"] == ["stages"]
    assert (exported.dataset_config.parent / "stages" / exported.stage_config.name).is_file()
    cfg = HabitatConfig.from_yaml(exported.config_yaml)
    assert cfg.scene == "home_0001" and cfg.gpu_device_id == -1 and cfg.semantic
    assert Path(cfg.scene_dataset_config) == exported.dataset_config.resolve()
    assert load_scene(cfg.source_scene).objects == load_scene(SCENE).objects


def test_colours_are_unambiguous_after_srgb() -> None:
    linear, srgb = semantic_colors(500)
    assert len({tuple(c) for c in srgb}) == 500 and len({tuple(c) for c in linear}) == 500
    for lin, s in zip(linear.ravel(), srgb.ravel(), strict=True):
        value = srgb_byte(int(lin))
        assert math.floor(value) == round(value) == int(s)  # truncating and rounding agree


@pytest.mark.habitat
def test_export_loads_in_habitat_sim(exported) -> None:  # noqa: ANN001
    pytest.importorskip("habitat_sim", reason="habitat-sim is not installed (conda or source build; see docs/habitat.md)")
    from embodied_stack.sim.habitat.env import HabitatEnv

    cfg = HabitatConfig.from_yaml(exported.config_yaml).replace(
        width=160, height=120, gpu_device_id=int(os.environ.get("EMBODIED_STACK_HABITAT_GPU", "-1")))
    env = HabitatEnv(cfg)
    try:
        scene = load_scene(SCENE)
        ids = sorted(o.semantic_id for o in env.simulator.semantic_scene.objects if o is not None)
        assert ids == list(range(len(scene.objects)))
        frame = env.reset()  # on the largest island: the floor, not a bed top
        assert env.instances[0].object_id == scene.objects[0].id
        seen = set(np.unique(frame.instance[frame.instance >= 0]).tolist())
        assert seen <= set(range(len(scene.objects)))
        assert frame.camera_pose[2, 3] == pytest.approx(0.88, abs=0.01)
    finally:
        env.close()
