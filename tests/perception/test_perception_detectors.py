"""Semantic-sensor and external detection backends."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embodied_stack.perception import (
    BadFrameError,
    Detection,
    DetectionFormatError,
    ExternalDetector,
    SemanticSensorDetector,
    load_detections_json,
    parse_detections,
)
from embodied_stack.perception.external import decode_coco_rle
from embodied_stack.perception.semantic_sensor import group_pixels
from embodied_stack.types import InstanceInfo

RGB = np.zeros((6, 8, 3), dtype=np.uint8)
DEPTH = np.ones((6, 8), dtype=np.float32)


def _instance_image() -> np.ndarray:
    image = np.full((6, 8), -1, dtype=np.int32)
    image[0:2, 0:3] = 4
    image[3:6, 5:8] = 9
    image[5, 0] = 4
    image[2, 6] = 12
    return image


def test_group_pixels_matches_a_per_id_nonzero() -> None:
    image = _instance_image()
    ids, pixels = group_pixels(image)
    assert ids.tolist() == [4, 9, 12]
    for key, pix in zip(ids.tolist(), pixels, strict=True):
        assert np.array_equal(np.sort(pix), np.flatnonzero(image.ravel() == key))


def test_semantic_sensor_labels_from_the_instance_table() -> None:
    table = {
        4: InstanceInfo(4, "fridge_1", "fridge", "kitchen_1"),
        9: InstanceInfo(9, "chair_2", "chair", None),
    }
    detections = SemanticSensorDetector(table).detect(RGB, DEPTH, instance=_instance_image())
    by_key = {d.instance_key: d for d in detections}
    assert set(by_key) == {4, 9}  # 12 is not in the table and there is no semantic image
    assert by_key[4].label == "fridge" and by_key[4].room == "kitchen_1" and by_key[4].score == 1.0
    assert by_key[4].pixel_indices(6, 8).size == 7
    assert by_key[9].pixel_indices(6, 8).size == 9


def test_unknown_instance_takes_the_majority_semantic_class() -> None:
    instance = _instance_image()
    semantic = np.full((6, 8), -1, dtype=np.int32)
    semantic[instance == 9] = 1
    semantic[3, 5] = 0
    detections = SemanticSensorDetector({}, categories=["lamp", "table"]).detect(
        RGB, DEPTH, instance=instance, semantic=semantic
    )
    labels = {d.instance_key: d.label for d in detections}
    assert labels == {9: "table"}


def test_semantic_image_alone_splits_classes_into_components() -> None:
    semantic = np.full((6, 8), -1, dtype=np.int32)
    semantic[0:2, 0:2] = 0
    semantic[4:6, 6:8] = 0
    semantic[0:3, 5:7] = 1
    detections = SemanticSensorDetector(categories=["chair", "table"]).detect(RGB, DEPTH, semantic=semantic)
    assert sorted(d.label for d in detections) == ["chair", "chair", "table"]
    assert all(d.instance_key is None for d in detections)


def test_semantic_sensor_without_segmentation_is_a_bad_frame() -> None:
    with pytest.raises(BadFrameError) as info:
        SemanticSensorDetector({}).detect(RGB, DEPTH)
    assert info.value.reason == "segmentation_missing"


def test_coco_rle_decodes_column_major() -> None:
    mask = np.zeros((3, 4), dtype=bool)
    mask[1:3, 1] = True
    mask[0, 3] = True
    # Column-major: col 0 FFF, col 1 FTT, col 2 FFF, col 3 TFF -> runs 4 F, 2 T, 3 F, 1 T, 2 F.
    counts = [4, 2, 3, 1, 2]
    assert np.array_equal(decode_coco_rle({"size": [3, 4], "counts": counts}), mask)


def test_parse_plain_records_with_box_and_rle_mask() -> None:
    records = [
        {"label": "Chair", "score": 0.8, "box": [1, 2, 5, 6]},
        {"label": "cup", "score": 0.6, "mask": {"size": [2, 2], "counts": [1, 2, 1]}, "instance_key": 3},
    ]
    chair, cup = parse_detections(records)
    assert chair.category == "chair" and chair.box == (1.0, 2.0, 5.0, 6.0)
    assert cup.mask.tolist() == [[False, True], [True, False]] and cup.instance_key == 3


def test_parse_detection2darray_like_dicts_both_layouts() -> None:
    humble = {
        "header": {"frame_id": "camera"},
        "detections": [
            {
                "bbox": {"center": {"position": {"x": 50.0, "y": 40.0}, "theta": 0.0}, "size_x": 20.0, "size_y": 10.0},
                "results": [
                    {"hypothesis": {"class_id": "sofa", "score": 0.4}},
                    {"hypothesis": {"class_id": "bed", "score": 0.7}},
                ],
                "id": "17",
            },
            {"bbox": {"center": {"position": {"x": 1, "y": 1}}, "size_x": 2, "size_y": 2}, "results": []},
        ],
    }
    (det,) = parse_detections(humble)
    assert det.label == "bed" and det.score == pytest.approx(0.7)
    assert det.box == (40.0, 35.0, 60.0, 45.0) and det.instance_key == "17"
    old = {"detections": [{"bbox": {"center": {"x": 10, "y": 10}, "size_x": 4, "size_y": 4}, "results": [{"id": "tv", "score": 0.9}]}]}
    (tv,) = parse_detections(old)
    assert tv.label == "tv" and tv.box == (8.0, 8.0, 12.0, 12.0) and tv.instance_key is None


@pytest.mark.parametrize(
    ("records", "field"),
    [
        ([{"score": 0.5, "box": [0, 0, 1, 1]}], "label"),
        ([{"label": "a", "score": 1.5, "box": [0, 0, 1, 1]}], "score"),
        ([{"label": "a", "score": 0.5, "box": [3, 0, 1, 1]}], "box"),
        ([{"label": "a", "score": 0.5}], "mask"),
        ([{"label": "a", "mask": {"size": [2, 2], "counts": [1, 1]}}], "mask"),
        ([{"label": "a", "box": [0, 0, 1, 1], "colour": "red"}], "colour"),
    ],
)
def test_malformed_records_name_the_item_and_field(records: list, field: str) -> None:
    with pytest.raises(DetectionFormatError, match=rf"detections\[0\].*{field}"):
        parse_detections(records)


def test_load_json_file_and_external_detector_hands_out_once(tmp_path) -> None:
    path = tmp_path / "frame.json"
    path.write_text(json.dumps([{"label": "plant", "score": 0.9, "box": [0, 0, 4, 4]}]), encoding="utf-8")
    detections = load_detections_json(path)
    assert [d.label for d in detections] == ["plant"]
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(DetectionFormatError, match="broken.json"):
        load_detections_json(tmp_path / "broken.json")
    external = ExternalDetector()
    external.feed([Detection("plant", 0.9, box=(0, 0, 4, 4))])
    assert len(external.detect(RGB, DEPTH)) == 1
    assert external.detect(RGB, DEPTH) == []


def test_pixel_indices_out_of_the_image_are_rejected() -> None:
    det = Detection("cup", 0.9, pixels=np.array([0, 48]))
    with pytest.raises(DetectionFormatError, match="pixels"):
        det.pixel_indices(6, 8)
