"""Fusion of look-alike neighbours and of one object seen again: the trimmed box, duplicate
merging across pose drift, and the depth run that keeps a dilated mask's background out."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.perception import ObjectFusion, PerceptionConfig, Sighting
from embodied_stack.perception.fusion import trimmed_box
from embodied_stack.perception.geometry import depth_cluster, object_geometry
from embodied_stack.types import CameraIntrinsics


def _sighting(category: str, center, size, *, t: float = 0.0, score: float = 0.9) -> Sighting:
    c, s = np.asarray(center, dtype=float), np.asarray(size, dtype=float)
    return Sighting(category, score, c - s / 2, c + s / 2, t, n_points=100)


def test_two_identical_chairs_half_a_metre_apart_stay_two_tracks() -> None:
    rng = np.random.default_rng(3)
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    for k in range(40):
        drift = np.r_[rng.normal(0.0, 0.08, 2), 0.0]  # one pose error per frame, both chairs
        views = [_sighting("chair", np.array([x, 0.0, 0.45]) + drift + rng.normal(0, 0.02, 3), (0.45, 0.45, 0.9),
                           t=float(k)) for x in (0.0, 0.5)]
        if k % 5 == 4:  # now and then only one of them is detected
            views = views[k % 2:k % 2 + 1]
        fusion.update(views, float(k))
    fusion.flush()
    assert len(fusion.confirmed) == 2
    xs = sorted(float(t.center[0]) for t in fusion.confirmed)
    assert xs == pytest.approx([0.0, 0.5], abs=0.1)
    assert all(t.extent[0] < 0.8 for t in fusion.confirmed)  # neither box spans both chairs


def test_one_sofa_seen_from_opposite_sides_stays_one_track() -> None:
    # A 2 m x 0.9 m sofa: from the front the depth camera sees its front half, from behind its
    # back half (boxes 0.45 m deep, centres 0.45 m apart, touching), visited at different times.
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    rng = np.random.default_rng(5)
    t = 0.0
    for side in (-0.225, 0.225, -0.225, 0.225):
        for _ in range(6):
            center = np.array([0.0, side, 0.45]) + rng.normal(0, 0.03, 3)
            fusion.update([_sighting("sofa", center, (2.0, 0.45, 0.9), t=t)], t)
            t += 1.0
        t += 30.0
    fusion.flush()
    (track,) = fusion.confirmed
    assert track.count == 24
    assert track.extent[1] == pytest.approx(0.9, abs=0.12)


def test_one_glitched_view_does_not_stretch_a_well_seen_box() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    for k in range(20):
        fusion.update([_sighting("cabinet", (0.0, 0.0, 0.5), (0.6, 0.5, 1.0), t=float(k))], float(k))
    glitch = Sighting("cabinet", 0.9, np.array([-0.3, -0.25, 0.0]), np.array([1.2, 0.25, 1.0]), 20.0)
    fusion.update([glitch], 20.0)
    (track,) = fusion.tracks
    assert track.count == 21
    assert track.max_xyz[0] == pytest.approx(0.3)


def test_trimmed_box_is_the_union_for_few_views_and_drops_extremes_for_many() -> None:
    mins = np.array([[0.0, 0, 0], [-1.0, 0, 0]])
    maxs = np.array([[1.0, 1, 1], [0.5, 1, 1]])
    lo, hi = trimmed_box(mins, maxs)
    assert lo.tolist() == [-1.0, 0, 0] and hi.tolist() == [1.0, 1, 1]
    mins = np.zeros((21, 3))
    maxs = np.ones((21, 3))
    mins[3, 0], maxs[7, 1] = -5.0, 9.0
    lo, hi = trimmed_box(mins, maxs)
    assert lo.tolist() == [0.0, 0.0, 0.0] and hi.tolist() == [1.0, 1.0, 1.0]


def test_an_object_seen_again_after_the_pose_drifted_merges_into_its_track() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    for k in range(5):
        fusion.update([_sighting("trash can", (0.0, 0.0, 0.3), (0.35, 0.35, 0.6), t=float(k))], float(k))
    # A later visit: the pose estimate has drifted 0.4 m, the boxes barely overlap.
    for k in range(100, 105):
        fusion.update([_sighting("trash can", (0.4, 0.1, 0.3), (0.35, 0.35, 0.6), t=float(k))], float(k))
    fusion.flush()
    (track,) = fusion.confirmed
    assert track.count == 10 and track.track_id == f"{fusion.id_prefix}0"
    assert fusion.merged == {f"{fusion.id_prefix}1": f"{fusion.id_prefix}0"}


def test_two_close_look_alikes_detected_together_never_merge() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    for k in range(6):
        fusion.update([_sighting("trash can", (0.0, 0.0, 0.3), (0.35, 0.35, 0.6), t=float(k)),
                       _sighting("trash can", (0.4, 0.1, 0.3), (0.35, 0.35, 0.6), t=float(k))], float(k))
    for k in range(100, 104):  # seen apart later: still two
        fusion.update([_sighting("trash can", (0.4, 0.1, 0.3), (0.35, 0.35, 0.6), t=float(k))], float(k))
    fusion.flush()
    assert len(fusion.confirmed) == 2 and fusion.merged == {}


def test_different_labels_close_together_do_not_merge_by_distance() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    for k in range(4):
        fusion.update([_sighting("lamp", (0.0, 0.0, 0.5), (0.3, 0.3, 0.6), t=float(k))], float(k))
    for k in range(10, 14):
        fusion.update([_sighting("plant", (0.4, 0.0, 0.5), (0.3, 0.3, 0.6), t=float(k))], float(k))
    assert sorted(t.category for t in fusion.confirmed) == ["lamp", "plant"]


def test_depth_cluster_keeps_the_object_and_drops_the_background_behind_it() -> None:
    z = np.r_[np.linspace(1.9, 2.3, 300), np.linspace(3.5, 3.6, 60), [0.4]]
    keep = depth_cluster(z, 0.15)
    assert keep[:300].all() and not keep[300:].any()
    assert depth_cluster(np.array([2.0]), 0.15).tolist() == [True]


def test_a_dilated_mask_reaching_the_wall_gives_the_objects_box_only() -> None:
    h, w = 60, 80
    depth = np.full((h, w), 4.0)  # the wall 4 m away
    depth[20:40, 30:50] = 2.0  # the object, 2 m away
    rows, cols = np.mgrid[17:43, 27:53]  # its mask, dilated by 3 pixels
    pixels = (rows * w + cols).ravel()
    intr = CameraIntrinsics(fx=60.0, fy=60.0, cx=w / 2, cy=h / 2, width=w, height=h)
    kwargs = dict(max_points=5000, voxel_size_m=0.01, neighbors=0, std_ratio=2.0)
    geometry = object_geometry(pixels, depth, intr, np.eye(4), **kwargs)
    assert geometry is not None
    assert geometry.max_xyz[2] == pytest.approx(2.0)
    assert geometry.extent[0] < 0.7  # 20 px at 2 m / 60 px per m: 0.67 m, not the ring at 4 m
    plain = object_geometry(pixels, depth, intr, np.eye(4), depth_gap_m=None, **kwargs)
    assert plain is not None and plain.max_xyz[2] == pytest.approx(4.0)


def test_two_unsure_glimpses_do_not_confirm_a_track_a_third_does() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2))
    for k in range(2):
        fusion.update([_sighting("bottle", (1.0, 1.0, 0.8), (0.1, 0.1, 0.3), t=float(k), score=0.4),
                       _sighting("vase", (3.0, 1.0, 0.8), (0.2, 0.2, 0.4), t=float(k), score=0.8)], float(k))
    assert [t.category for t in fusion.confirmed] == ["vase"]
    due = fusion.update([_sighting("bottle", (1.0, 1.0, 0.8), (0.1, 0.1, 0.3), t=2.0, score=0.4)], 2.0)
    assert [t.category for t in due] == ["bottle"]
