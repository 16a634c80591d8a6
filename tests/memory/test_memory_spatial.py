"""Spatial contexts: a ROS map_server map (the AWS small house), room polygons, segmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from embodied_stack.memory.errors import SpatialContextError
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.spatial import (
    OccupancyMapContext,
    RoomPolygons,
    SpatialContext,
    rooms_from_scene,
)
from embodied_stack.memory.types import Observation


def test_small_house_map_and_rooms(small_house_dir) -> None:
    rooms = rooms_from_scene(small_house_dir / "aws_small_house.scene.json")
    context = OccupancyMapContext.from_map_yaml(small_house_dir / "map.yaml", rooms=rooms)
    assert isinstance(context, SpatialContext)
    scene = json.loads((small_house_dir / "aws_small_house.scene.json").read_text())
    centres = np.array([o["center"][:2] for o in scene["objects"]])
    assert context.room_of(centres) == [o["room"] for o in scene["objects"]]
    assert context.room_category("kitchen_1") == "kitchen"
    standing = context.nearest_navigable(centres)
    assert np.all(context.is_navigable(standing))
    assert np.median(np.linalg.norm(standing - centres, axis=1)) < 0.6
    fridge = centres[[o["id"] for o in scene["objects"]].index("fridge_1")]
    assert context.room_of(context.nearest_navigable(fridge[None]))[0] == "kitchen_1"


def test_target_pose_is_navigable_with_a_map(small_house_dir, hash_embedder) -> None:
    rooms = rooms_from_scene(small_house_dir / "aws_small_house.scene.json")
    context = OccupancyMapContext.from_map_yaml(small_house_dir / "map.yaml", rooms=rooms)
    memory = SemanticMemory(embedder=hash_embedder, spatial=context)
    memory.ingest([Observation("fridge", (8.703, -1.032, 0.9), extent=(1.0, 0.8, 1.9), caption="a fridge")])
    assert memory.vocab.room_types[int(memory.leaves.room[0])] == "kitchen"
    hit = memory.query("where is the fridge?").hits[0]
    stand = np.array([[hit.target_pose.x, hit.target_pose.y]])
    assert context.is_navigable(stand)[0]
    facing = np.arctan2(-1.032 - stand[0, 1], 8.703 - stand[0, 0])
    assert abs(np.remainder(hit.target_pose.yaw - facing + np.pi, 2 * np.pi) - np.pi) < 1e-6


def _two_room_map(tmp_path):
    """A 10 m x 5 m free area (0.1 m cells) split by a wall at x = 5 m with a 1.2 m door."""
    grid = np.full((50, 100), 254, dtype=np.uint8)
    grid[[0, -1], :] = 0
    grid[:, [0, -1]] = 0
    grid[:, 49:51] = 0
    grid[20:32, 49:51] = 254
    Image.fromarray(grid).save(tmp_path / "two.pgm")
    (tmp_path / "two.yaml").write_text("image: two.pgm\nresolution: 0.1\norigin: [0.0, 0.0, 0.0]\n"
                                       "negate: 0\noccupied_thresh: 0.65\nfree_thresh: 0.196\n")
    return tmp_path / "two.yaml"


def test_rooms_segmented_from_the_map(tmp_path) -> None:
    context = OccupancyMapContext.from_map_yaml(_two_room_map(tmp_path), door_width_m=1.5)
    left, right, far_left = context.room_of(np.array([[2.0, 2.5], [8.0, 2.5], [0.5, 0.5]]))
    assert left is not None and right is not None and left != right and far_left == left
    assert context.room_category(left) == ""


def test_malformed_maps(tmp_path) -> None:
    path = _two_room_map(tmp_path)
    path.write_text("image: two.pgm\nresolution: -1\norigin: [0, 0, 0]\n")
    with pytest.raises(SpatialContextError, match="resolution"):
        OccupancyMapContext.from_map_yaml(path)
    path.write_text("image: missing.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n")
    with pytest.raises(SpatialContextError, match="missing.pgm"):
        OccupancyMapContext.from_map_yaml(path)
    (tmp_path / "scene.json").write_text(json.dumps({"rooms": [{"id": "a", "polygon": [[0, 0], [1, 1]]}]}))
    with pytest.raises(SpatialContextError, match="polygon"):
        rooms_from_scene(tmp_path / "scene.json")


def test_room_polygons_have_no_navigability() -> None:
    context = RoomPolygons([])
    assert context.room_of(np.zeros((2, 2))) == [None, None]
    assert np.all(np.isnan(context.nearest_navigable(np.zeros((2, 2)))))
