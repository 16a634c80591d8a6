"""PerceptionPipeline end to end on ray-cast frames: fusion of views, filters, bad frames."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from perception_synth import Box, camera_pose, intrinsics, render

from embodied_stack.perception import (
    Detection,
    PerceptionConfig,
    PerceptionError,
    PerceptionPipeline,
    SemanticSensorDetector,
)
from embodied_stack.types import Frame, Pose2D
from embodied_stack.types.observations import read_observations_jsonl, write_observations_jsonl

pytest.importorskip("open3d")

BOXES = [
    Box(1, "fridge", (0.8, 0.6, 0.9), (0.7, 0.7, 1.8), (240, 240, 245), "kitchen_1"),
    Box(2, "sofa", (-0.8, -0.5, 0.4), (1.8, 0.9, 0.8), (170, 35, 35), "living_room_1"),
    Box(3, "chair", (1.0, -1.0, 0.45), (0.5, 0.5, 0.9), (40, 70, 190)),
]
TABLE = {b.instance_id: b.info for b in BOXES}
CAMERA = intrinsics(160, 120)


def _circle_frames(n: int, radius: float = 3.8) -> list[Frame]:
    frames = []
    for k in range(n):
        angle = 2 * math.pi * k / n
        x, y = radius * math.cos(angle), radius * math.sin(angle)
        pose = camera_pose(x, y, angle + math.pi)
        rgb, depth, instance = render(BOXES, pose, CAMERA)
        frames.append(Frame(rgb, depth, CAMERA, pose, Pose2D(x, y, angle + math.pi), float(k), instance))
    return frames


@pytest.fixture(scope="module")
def circle_frames() -> list[Frame]:
    return _circle_frames(12)


def test_views_around_a_scene_fuse_into_one_observation_stream_per_object(circle_frames) -> None:
    pipeline = PerceptionPipeline(PerceptionConfig(min_detections=2))
    emitted = []
    for frame in circle_frames:
        emitted += pipeline.process_frame(frame, TABLE)
    final = {o.object_id: o for o in emitted + pipeline.flush()}
    assert len(final) == 3
    assert pipeline.stats.detections >= 30  # every object was seen many times...
    assert pipeline.stats.observations_emitted < pipeline.stats.detections  # ...without flooding
    by_category = {o.category: o for o in final.values()}
    for box in BOXES:
        obs = by_category[box.category]
        assert obs.position == pytest.approx(box.center, abs=0.06)
        assert obs.extent == pytest.approx(box.size, abs=0.08)
        assert obs.frame_id == "map" and obs.confidence == 1.0
        assert obs.object_id.startswith("track_")
    assert by_category["fridge"].caption == "a white fridge, kitchen"
    assert by_category["fridge"].room == "kitchen_1"
    assert by_category["sofa"].caption == "a red sofa, living room"
    assert by_category["chair"].attributes["color"] == "blue"
    ids_per_category = {}
    for obs in emitted:
        ids_per_category.setdefault(obs.category, set()).add(obs.object_id)
    assert all(len(ids) == 1 for ids in ids_per_category.values())  # stable ids


def test_views_fuse_by_geometry_alone_without_instance_ids(circle_frames) -> None:
    pipeline = PerceptionPipeline(PerceptionConfig(min_detections=2))
    for frame in circle_frames:
        detections = [
            Detection(TABLE[key].category, 0.9, mask=frame.instance == key)
            for key in np.unique(frame.instance[frame.instance >= 0]).tolist()
        ]
        pipeline.process(frame.rgb, frame.depth, CAMERA, frame.camera_pose, frame.timestamp, detections=detections)
    pipeline.flush()
    tracks = sorted(pipeline.fusion.confirmed, key=lambda t: t.category)
    assert [t.category for t in tracks] == ["chair", "fridge", "sofa"]
    for track, box in zip(tracks, sorted(BOXES, key=lambda b: b.category), strict=True):
        assert track.center == pytest.approx(box.center, abs=0.06)
        assert track.confidence == pytest.approx(0.9)


def test_source_pose_is_the_camera_of_the_latest_view(circle_frames) -> None:
    pipeline = PerceptionPipeline(PerceptionConfig(min_detections=1, emit_mode="update"))
    observations = pipeline.process_frame(circle_frames[0], TABLE)
    assert observations
    pose = observations[0].source_pose
    assert pose[:3] == pytest.approx(tuple(circle_frames[0].camera_pose[:3, 3]))


def test_observations_are_what_the_memory_reads(circle_frames, tmp_path) -> None:
    pipeline = PerceptionPipeline(PerceptionConfig(min_detections=1))
    observations = [o for f in circle_frames[:3] for o in pipeline.process_frame(f, TABLE)]
    path = tmp_path / "obs.jsonl"
    assert write_observations_jsonl(path, observations) == len(observations) > 0
    assert list(read_observations_jsonl(path)) == observations


def test_raw_ros_style_input_uint16_depth_and_k_matrix_match_float_depth(circle_frames) -> None:
    frame = circle_frames[0]
    depth_mm = np.round(frame.depth * 1000.0).astype(np.uint16)
    config = PerceptionConfig(min_detections=1, emit_mode="update")
    a = PerceptionPipeline(config).process_frame(frame, TABLE)
    b = PerceptionPipeline(config).process(
        frame.rgb, depth_mm, CAMERA.matrix(), frame.camera_pose, frame.timestamp, frame.instance,
        detector=SemanticSensorDetector(TABLE),
    )
    assert [o.category for o in a] == [o.category for o in b]
    for oa, ob in zip(a, b, strict=True):
        assert ob.position == pytest.approx(oa.position, abs=0.01)


def test_filters_drop_far_tiny_unsure_and_structural_detections() -> None:
    boxes = [
        Box(1, "table", (2.0, 0.0, 0.4), (0.8, 0.8, 0.8)),
        Box(2, "cabinet", (8.0, 2.0, 0.5), (1.0, 1.0, 1.0)),
        Box(3, "cup", (2.0, -1.0, 0.05), (0.03, 0.03, 0.08)),
        Box(4, "wall", (2.0, 1.5, 1.0), (1.0, 0.1, 2.0)),
    ]
    pose = camera_pose(0.0, 0.0, 0.0)
    camera = intrinsics(160, 120)
    rgb, depth, instance = render(boxes, pose, camera)
    table = {b.instance_id: b.info for b in boxes}
    config = PerceptionConfig(min_detections=1, max_range_m=5.0, min_pixel_area=20, min_score=0.5)
    pipeline = PerceptionPipeline(config)
    kept = pipeline.process(rgb, depth, camera, pose, 0.0, instance, detector=SemanticSensorDetector(table))
    assert [o.category for o in kept] == ["table"]
    reasons = pipeline.stats.filtered_reasons
    assert reasons["too_far"] == 1 and reasons["small_area"] == 1 and reasons["ignored_category"] == 1
    unsure = Detection("table", 0.2, mask=instance == 1)
    assert pipeline.process(rgb, depth, camera, pose, 1.0, detections=[unsure]) == []
    assert pipeline.stats.filtered_reasons["low_score"] == 1
    few = PerceptionPipeline(PerceptionConfig(min_detections=1, min_points=10_000))
    assert few.process(rgb, depth, camera, pose, 0.0, detections=[Detection("table", 0.9, mask=instance == 1)]) == []
    assert few.stats.filtered_reasons["few_points"] == 1


def test_box_detections_find_the_object_not_the_floor_or_wall() -> None:
    boxes = [Box(1, "armchair", (2.5, 0.3, 0.45), (0.6, 0.6, 0.9)), Box(2, "wall", (4.0, 0.0, 1.2), (0.1, 6.0, 2.4))]
    pose = camera_pose(0.0, 0.0, 0.0)
    rgb, depth, instance = render(boxes, pose, CAMERA)
    rows, cols = np.nonzero(instance == 1)
    box = (cols.min() - 6.0, rows.min() - 6.0, cols.max() + 7.0, rows.max() + 7.0)  # loose box
    pipeline = PerceptionPipeline(PerceptionConfig(min_detections=1))
    (obs,) = pipeline.process(
        rgb, depth, CAMERA, pose, 0.0, detections=[{"label": "armchair", "score": 0.8, "box": list(box)}]
    )
    # Only the front face is visible: x is that face, y and z are the chair's.
    assert obs.position[1:] == pytest.approx((0.3, 0.45), abs=0.05)
    assert obs.position[0] == pytest.approx(2.2, abs=0.05)
    assert obs.extent[2] == pytest.approx(0.9, abs=0.1)  # floor clearance and coarse 160x120 edges
    assert obs.confidence == pytest.approx(0.8)


def test_bad_frames_are_skipped_logged_and_counted_never_raised(circle_frames, caplog) -> None:
    frame = circle_frames[0]
    pipeline = PerceptionPipeline(PerceptionConfig(min_detections=1))
    nan_pose = frame.camera_pose.copy()
    nan_pose[0, 0] = np.nan
    bad_inputs = [
        dict(depth=frame.depth[:-1]),
        dict(depth=np.full_like(frame.depth, np.nan)),
        dict(depth=frame.depth.astype(np.int32)),
        dict(T_map_camera=nan_pose),
        dict(T_map_camera=frame.camera_pose * 2.0),
        dict(instance=None),
    ]
    good = dict(
        rgb=frame.rgb, depth=frame.depth, intrinsics=CAMERA, T_map_camera=frame.camera_pose,
        timestamp=0.0, instance=frame.instance,
    )
    detector = SemanticSensorDetector(TABLE)
    with caplog.at_level(logging.WARNING, logger="embodied_stack.perception"):
        assert pipeline.process(**good, detector=detector)
        for bad in bad_inputs:
            assert pipeline.process(**{**good, **bad}, detector=detector) == []
        assert pipeline.process(**{**good, "timestamp": 1.0}, detector=detector) is not None
    stats = pipeline.stats
    assert stats.frames_processed == 2 and stats.frames_skipped == len(bad_inputs)
    assert stats.skipped_reasons == {
        "depth_size_mismatch": 1,
        "depth_all_invalid": 1,
        "depth_unknown_encoding": 1,
        "pose_not_finite": 1,
        "pose_not_rigid": 1,
        "segmentation_missing": 1,
    }
    assert "depth_size_mismatch" in caplog.text and "pose_not_rigid" in caplog.text
    assert stats.to_dict()["frames_skipped"] == len(bad_inputs)


def test_no_way_to_detect_is_a_usage_error(circle_frames) -> None:
    frame = circle_frames[0]
    with pytest.raises(PerceptionError, match="no detections"):
        PerceptionPipeline().process(frame.rgb, frame.depth, CAMERA, frame.camera_pose, 0.0)
