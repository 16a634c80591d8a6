"""The simulated detector (errors, presets, no identities) and fusion without identities:
neighbours stay apart, one object seen from opposite sides stays one, wrong merges split."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.perception import ObjectFusion, PerceptionConfig, Sighting
from embodied_stack.perception.errors import BadFrameError, ConfigError
from embodied_stack.perception.labels import FALSE_POSITIVE_LABELS, LabelSimilarity
from embodied_stack.perception.simulated import DetectorErrors, SimulatedDetector, _occluded_share
from embodied_stack.types import InstanceInfo


def _box(category: str, lo, hi, *, score: float = 0.9) -> Sighting:
    return Sighting(category, score, np.asarray(lo, float), np.asarray(hi, float), 0.0, n_points=100)


def _chair(x: float, rng: np.random.Generator, label: str = "chair") -> Sighting:
    c = np.array([x, 0.0, 0.45]) + rng.normal(0, 0.02, 3)
    half = np.array([0.22, 0.22, 0.45])
    return _box(label, c - half, c + half)


# ---------------------------------------------------------------- fusion without ids
def test_two_identical_chairs_half_a_metre_apart_stay_two_tracks() -> None:
    rng = np.random.default_rng(0)
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    for frame in range(30):
        seen = [_chair(0.0, rng), _chair(0.5, rng)] if frame % 3 == 0 else [_chair(0.5 * (frame % 2), rng)]
        fusion.update(seen, float(frame))
    fusion.flush()
    assert len(fusion.tracks) == 2
    xs = sorted(float(t.center[0]) for t in fusion.tracks)
    assert xs == pytest.approx([0.0, 0.5], abs=0.06)


def test_one_sofa_seen_from_opposite_sides_stays_one_track_despite_label_mixups() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    front = ([-1.0, -0.45, 0.0], [1.0, 0.3, 0.85])  # seat and the front and top of the backrest
    back = ([-1.0, 0.22, 0.3], [1.0, 0.45, 0.85])  # the back of the backrest and its top
    for frame in range(24):
        lo, hi = front if frame < 12 else back
        label = "armchair" if frame % 5 == 4 else "sofa"
        fusion.update([_box(label, lo, hi)], float(frame))
    (track,) = fusion.tracks
    assert track.category == "sofa" and track.count == 24
    assert set(track.labels) == {"sofa", "armchair"} and track.labels["sofa"] > 0.7
    assert track.extent == pytest.approx([2.0, 0.9, 0.85])


def test_unlike_labels_do_not_join_even_when_boxes_overlap() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    fusion.update([_box("tv", [0, 0, 0.5], [1, 0.2, 1.1])], 0.0)
    fusion.update([_box("cabinet", [0, 0, 0.0], [1, 0.5, 0.6])], 1.0)
    assert sorted(t.category for t in fusion.tracks) == ["cabinet", "tv"]


def test_a_wrong_merge_of_two_neighbours_is_split() -> None:
    rng = np.random.default_rng(1)
    # A loose association radius joins two chairs 1.2 m apart into one track ...
    fusion = ObjectFusion(PerceptionConfig(min_detections=2, association_distance_m=2.0))
    for frame in range(16):
        fusion.update([_chair(1.2 * (frame % 2), rng)], float(frame))
    fusion.flush()
    # ... and the split puts each back on its own.
    assert len(fusion.tracks) == 2 and fusion.split
    xs = sorted(float(t.mean_position[0]) for t in fusion.tracks)
    assert xs == pytest.approx([0.0, 1.2], abs=0.05)
    assert all(t.count == 8 for t in fusion.tracks)


def test_label_similarity_uses_the_confusion_table_and_embeddings() -> None:
    table_only = LabelSimilarity()
    assert table_only("sofa", "sofa") == 1.0
    assert table_only("sofa", "armchair") == pytest.approx(0.7)
    assert table_only("sofa", "fridge") == 0.0
    embed = LabelSimilarity(lambda texts: np.array([[1.0, 0.0] if "fridge" in t or "freezer" in t else [0.0, 1.0]
                                                    for t in texts]))
    assert embed("fridge", "freezer") == pytest.approx(1.0)
    assert embed("fridge", "sofa") == 0.0


# ---------------------------------------------------------------- the simulated detector
def _frame(depth_of_square: float = 2.0, size: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    instance = np.full((120, 160), -1, dtype=np.int32)
    instance[40:40 + size, 60:60 + size] = 7
    depth = np.full((120, 160), 4.0, dtype=np.float32)
    depth[instance == 7] = depth_of_square
    return np.zeros((120, 160, 3), dtype=np.uint8), depth, instance


TABLE = {7: InstanceInfo(7, "armchair_1", "armchair", "living_room_1")}


def test_clean_detector_finds_everything_with_true_labels_and_no_identities() -> None:
    rgb, depth, instance = _frame()
    (det,) = SimulatedDetector(TABLE, "clean").detect(rgb, depth, instance=instance)
    assert det.label == "armchair" and det.instance_key is None and det.room is None
    assert det.pixels is not None and det.pixels.size == 1600
    (keyed,) = SimulatedDetector(TABLE, "clean", keep_identities=True).detect(rgb, depth, instance=instance)
    assert keyed.instance_key == 7


def test_misses_grow_with_distance_and_runs_are_reproducible() -> None:
    near, far = _frame(1.5), _frame(6.0)
    rates = {}
    for name, (rgb, depth, instance) in (("near", near), ("far", far)):
        detector = SimulatedDetector(TABLE, "realistic", seed=3)
        rates[name] = np.mean([any(d.label in ("armchair", "sofa", "chair") and d.score > 0.55
                                   for d in detector.detect(rgb, depth, instance=instance)) for _ in range(150)])
    assert rates["near"] > rates["far"] + 0.2
    a = [d.label for d in SimulatedDetector(TABLE, "hard", seed=5).detect(*near[:2], instance=near[2])]
    b = [d.label for d in SimulatedDetector(TABLE, "hard", seed=5).detect(*near[:2], instance=near[2])]
    assert a == b


def test_occlusion_share_counts_outline_next_to_nearer_things() -> None:
    _, depth, instance = _frame(2.0)
    assert _occluded_share(instance, depth, 0.05)[7] == 0.0
    instance[40:80, 80:100] = 8  # a nearer object covers the right half
    depth[40:80, 80:100] = 1.0
    assert _occluded_share(instance, depth, 0.05)[7] > 0.2


def test_confusions_and_false_positives_follow_the_rates() -> None:
    rgb, depth, instance = _frame(1.0)
    confused = SimulatedDetector(TABLE, DetectorErrors(confusion_rate=1.0), seed=0)
    labels = {d.label for _ in range(30) for d in confused.detect(rgb, depth, instance=instance)}
    assert labels <= {"sofa", "chair"} and labels
    noisy = SimulatedDetector(TABLE, DetectorErrors(false_positives_per_frame=2.0), seed=0)
    extra = [len(noisy.detect(rgb, depth, instance=instance)) - 1 for _ in range(200)]
    assert 1.5 < np.mean(extra) < 2.5
    assert noisy.stats.to_dict()["false_positives_per_frame"] == pytest.approx(np.mean(extra), abs=0.01)


def test_bad_inputs_are_clear_errors() -> None:
    rgb, depth, _ = _frame()
    with pytest.raises(ConfigError, match="preset"):
        SimulatedDetector(TABLE, "perfect")
    with pytest.raises(BadFrameError, match="instance image"):
        SimulatedDetector(TABLE).detect(rgb, depth)
    assert "picture" in FALSE_POSITIVE_LABELS
