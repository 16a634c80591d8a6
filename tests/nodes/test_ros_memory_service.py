"""The memory node's request handling on a real SemanticMemory (hash embedder: fast, no model)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SCENE_PATH
from embodied_stack_ros import conversions as cv
from embodied_stack_ros.markers import (
    DELETEALL,
    LINE_LIST,
    SPHERE_LIST,
    TEXT_VIEW_FACING,
    forest_markers,
)

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.results import MemoryHit, QueryKind
from embodied_stack.memory.service import MemoryService, load_spatial
from embodied_stack.types import Pose2D
from embodied_stack.types.observations import Observation

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
OBJECTS = [
    ("fridge", (3.6, 3.1, 0.9), "kitchen_1"), ("sink", (2.0, 3.3, 0.9), "kitchen_1"),
    ("stove", (1.0, 3.3, 0.9), "kitchen_1"), ("sofa", (8.0, 1.0, 0.4), "living_room_1"),
    ("tv", (9.5, 1.0, 0.8), "living_room_1"), ("bed", (8.0, 7.0, 0.3), "bedroom_1"),
]


def observations(t0: float = 10.0) -> list[Observation]:
    return [Observation(category=c, position=p, extent=(0.6, 0.6, 0.8), caption=f"a {c}", timestamp=t0 + i,
                        room=room, object_id=f"track_{i}") for i, (c, p, room) in enumerate(OBJECTS)]


@pytest.fixture()
def service(tmp_path: Path) -> MemoryService:
    config = MemoryConfig(embedder="hash", memory_root=str(tmp_path / "root"))
    svc = MemoryService(config, store_dir="default", default_k=3, max_k=50)
    assert svc.ingest(observations()).success
    yield svc
    svc.close()


@pytest.mark.parametrize(
    ("text", "kind", "k", "mode", "match"),
    [
        ("", None, 0, "", "empty"), ("   ", None, 0, "", "empty"), ("x" * 1001, None, 0, "", "1001 characters"),
        ("fridge", None, 51, "", "k = 51 is out of range"), ("fridge", None, 10**6, "", "out of range"),
        ("fridge", "sideways", 0, "", "sideways"), ("fridge", None, 0, "deep", "mode 'deep'"),
    ],
)
def test_bad_requests_get_an_error_message(service: MemoryService, text: str, kind: str | None, k: int, mode: str,
                                           match: str) -> None:
    outcome = service.query(text, kind, k, mode, None)
    assert not outcome.success and match in outcome.error


def test_query_uses_the_default_k_and_answers(service: MemoryService) -> None:
    outcome = service.query("where is the fridge?", "explicit", 0, "", Pose2D(0.0, 0.0))
    assert outcome.success, outcome.error
    result = outcome.value
    assert 1 <= len(result.hits) <= 3 and result.kind == QueryKind.EXPLICIT
    assert result.hits[0].name == "fridge"
    flat = service.query("fridge", None, 5, "flat", None)
    assert flat.success and flat.value.hits[0].level == 0


def test_save_and_load_stay_inside_the_root(service: MemoryService, tmp_path: Path) -> None:
    saved = service.save("snapshots/one")
    assert saved.success, saved.error
    assert saved.value == (tmp_path / "root" / "snapshots" / "one").resolve()
    for escape in ("../outside", str(tmp_path / "elsewhere"), ""):
        outcome = service.save(escape)
        assert not outcome.success and ("outside the memory root" in outcome.error or "empty" in outcome.error)
    os.symlink(tmp_path, tmp_path / "root" / "sneaky")
    outcome = service.load("sneaky/elsewhere")
    assert not outcome.success and "outside the memory root" in outcome.error
    leaves = service.stats().leaves
    loaded = service.load("snapshots/one")
    assert loaded.success, loaded.error
    assert service.stats().leaves == leaves and service.query("fridge", None, 1, "", None).success


def test_failed_load_keeps_the_current_memory(service: MemoryService) -> None:
    before = service.stats().leaves
    outcome = service.load("no/such/store")
    assert not outcome.success and "not a memory store" in outcome.error
    assert service.stats().leaves == before == len(OBJECTS)


def test_ingest_counts_what_the_memory_refuses(service: MemoryService) -> None:
    good = Observation("chair", (1.0, 1.0, 0.4))
    outcome = service.ingest([good], rejected_before=2)
    assert outcome.success and service.rejected == 2 + len(outcome.value.rejected)


def test_markers_of_the_forest(service: MemoryService, ros_messages: Any) -> None:
    views = service.nodes(max_leaves=4)
    leaves = [v for v in views if v.level == 0]
    assert len(leaves) == 4 and leaves[0].name == "bed"  # the most recently seen first
    msg = forest_markers(views, cv.header_to_ros("map", 5.0))
    markers = msg.markers
    assert markers[0].action == DELETEALL
    by_ns: dict[str, list[Any]] = {}
    for marker in markers[1:]:
        by_ns.setdefault(marker.ns, []).append(marker)
        assert marker.header.frame_id == "map" and marker.color.a > 0 and marker.pose.orientation.w == 1.0
    assert by_ns["leaves"][0].type == SPHERE_LIST and len(by_ns["leaves"][0].points) == 4
    assert sorted(m.text for m in by_ns["leaf_labels"]) == sorted(v.name for v in leaves)
    clusters = [v for v in views if v.level > 0]
    if clusters:
        regions = [m for ns, ms in by_ns.items() if ns.endswith("_regions") for m in ms]
        assert len(regions) == len(clusters) and all(m.type == LINE_LIST for m in regions)
        assert all(m.type == TEXT_VIEW_FACING for ns, ms in by_ns.items() if ns.endswith("_labels") for m in ms)


def test_memory_hit_and_stats_round_trip(service: MemoryService, ros_messages: Any) -> None:
    hit = service.query("where is the sofa?", None, 2, "", None).value.hits[0]
    back = cv.memory_hit_from_ros(cv.memory_hit_to_ros(hit, 1.0))
    assert back.node_id == hit.node_id and back.ancestors == hit.ancestors and back.text == hit.text
    assert back.target_pose.x == hit.target_pose.x and back.target_pose.yaw == pytest.approx(hit.target_pose.yaw)
    assert back.first_seen == pytest.approx(hit.first_seen) and back.score == pytest.approx(hit.score)
    cluster = MemoryHit("N3", "kitchen area", "sink, stove", 2, 0.5, (1.0, 2.0, 0.0), Pose2D(1.0, 1.0, 0.0))
    back = cv.memory_hit_from_ros(cv.memory_hit_to_ros(cluster, 1.0))
    assert back == cluster
    stats = service.stats()
    msg = cv.memory_stats_to_ros(stats, 2.0, rejected=4)
    back_stats, rejected = cv.memory_stats_from_ros(msg)
    assert rejected == 4 and back_stats.leaves == stats.leaves and back_stats.store == stats.store
    assert {k: v for k, v in back_stats.nodes_per_level.items() if v} == stats.nodes_per_level


@pytest.mark.parametrize("kind", [None, *QueryKind])
def test_query_kind(kind: QueryKind | None, ros_messages: Any) -> None:
    assert cv.query_kind_from_ros(cv.query_kind_to_ros(kind)) == kind
    if kind is not None:
        assert cv.query_kind_to_ros(kind.value) == cv.query_kind_to_ros(kind)


def test_spatial_context_from_a_scene_or_a_map() -> None:
    navmap = load_spatial(f"scene:{SCENE_PATH}")
    assert navmap.room_of(np.array([[3.0, 1.0]])) == ["kitchen_1"]
    assert load_spatial("") is None and load_spatial("scene:habitat:x.yaml") is None
    with pytest.raises(ValueError, match="expected"):
        load_spatial("grid:map.yaml")
    map_yaml = SHARED / "scene_aws_small_house" / "map.yaml"
    if not map_yaml.is_file():
        pytest.skip(f"{map_yaml} is absent")
    context = load_spatial(f"map:{map_yaml}")
    assert np.isfinite(context.nearest_navigable(np.array([[0.0, 0.0]]))).all()


def test_standoff_target_poses_are_navigable_with_a_spatial_context(tmp_path: Path) -> None:
    navmap = load_spatial(f"scene:{SCENE_PATH}")
    svc = MemoryService(MemoryConfig(embedder="hash", memory_root=str(tmp_path / "root")), spatial=navmap)
    svc.ingest([Observation("fridge", (5.4, 4.4, 0.9), (0.7, 0.7, 1.8), "a white fridge", 0.9, 1.0)])
    pose = svc.query("where is the fridge?", 0, 1, "", None).value.hits[0].target_pose
    assert navmap.is_navigable(np.array([[pose.x, pose.y]]))[0]
    svc.close()
