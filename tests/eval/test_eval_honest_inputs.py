"""Oracle flags, strict scoring, sensor noise and the quality reports of ``eval memory``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from simb_scenes import two_rooms

from embodied_stack.eval.noise import NoiseModel, NoisySensor
from embodied_stack.eval.oracles import Oracles
from embodied_stack.eval.quality import association_quality
from embodied_stack.eval.scoring import proximity_only, strict_distance_m
from embodied_stack.perception.tracks import Track
from embodied_stack.sim.queries import Query
from embodied_stack.types import CameraIntrinsics, Frame, Pose2D


def test_oracles_are_off_by_default_and_parsed_strictly() -> None:
    assert not Oracles().any and Oracles.parse("").to_dict() == dict.fromkeys(Oracles().to_dict(), False)
    assert Oracles.parse("rooms, map") == Oracles(rooms=True, map=True)
    assert all(Oracles.parse("all").to_dict().values())
    with pytest.raises(ValueError, match="unknown name"):
        Oracles.parse("rooms,walls")


def test_strict_scoring_measures_to_the_box_and_flags_proximity_only_answers() -> None:
    scene = two_rooms()  # table 1.2 x 0.8 at (2, 1); fridge at (0.4, 3.5)
    table = Query("t", "where can I eat?", "implicit", target_categories=("table",))
    assert strict_distance_m(scene, table, (2.0, 1.0, 0.5)) == 0.0
    assert strict_distance_m(scene, table, (3.5, 1.0, 0.5)) == pytest.approx(0.9)  # 0.9 m from the box edge
    assert math.isinf(strict_distance_m(scene, table, (math.nan, 0.0, 0.0)))
    fridge = Query("f", "fridge?", "explicit", target_categories=("fridge",))
    # 0.6 m from the fridge's box but on nothing else: a right answer
    assert not proximity_only(scene, fridge, (1.3, 3.5, 0.0))
    # 0.985 m from the table's box (right by the strict rule), but nearer the fridge's (0.949 m)
    assert strict_distance_m(scene, table, (1.0, 2.3, 0.0)) == pytest.approx(0.985, abs=1e-3)
    assert proximity_only(scene, table, (1.0, 2.3, 0.0))
    assert not proximity_only(scene, table, (2.0, 1.0, 0.0))  # on the table itself
    room = Query("r", "cook?", "global", target_rooms=("kitchen_1",))
    assert strict_distance_m(scene, room, (1.0, 1.0, 0.0)) == 0.0 and not proximity_only(scene, room, (1, 1, 0))


def _frame(pose: Pose2D, t: float) -> Frame:
    k = CameraIntrinsics(32, 24, 20.0, 20.0, 16.0, 12.0)
    cam = np.eye(4)
    cam[:3, 3] = (pose.x, pose.y, 0.88)
    return Frame(np.zeros((24, 32, 3), np.uint8), np.full((24, 32), 2.0, np.float32), k, cam, pose, t)


def test_noise_none_is_exact_and_realistic_drift_stays_bounded() -> None:
    exact = NoisySensor(NoiseModel.preset("none"))
    f = _frame(Pose2D(1.0, 2.0, 0.3), 0.0)
    out = exact(f)
    assert out.agent_pose == f.agent_pose and np.array_equal(out.depth, f.depth)
    noisy = NoisySensor(NoiseModel.preset("realistic"), seed=4)
    for i in range(400):  # 100 m back and forth
        out = noisy(_frame(Pose2D(0.25 * (i % 40), 0.0, 0.0), float(i)))
    summary = noisy.summary()
    assert 0.0 < summary["pose_error_mean_m"] < 0.5 and summary["pose_error_max_m"] < 1.0
    assert not np.array_equal(out.depth, _frame(Pose2D(0, 0, 0), 0).depth)
    assert not NoiseModel.preset("hard").without_pose_noise().has_pose_noise
    with pytest.raises(ValueError, match="unknown"):
        NoiseModel.preset("extreme")


def _track(tid: str, category: str, lo, hi) -> Track:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return Track(tid, category, lo, hi, (lo + hi) / 2, 0.0, 0.0, count=2)


def test_association_quality_counts_found_duplicates_wrong_merges_and_spurious() -> None:
    scene = two_rooms()
    tracks = [
        _track("a", "table", [1.4, 0.6, 0.0], [2.6, 1.4, 0.75]),  # the table
        _track("b", "table", [1.5, 0.7, 0.0], [2.0, 1.2, 0.7]),  # a duplicate of it
        _track("c", "bed", [6.2, 2.0, 0.0], [7.8, 4.0, 0.6]),  # the bed
        _track("d", "chair", [5.0, 0.5, 0.0], [5.4, 0.9, 0.9]),  # nothing there
    ]
    q = association_quality(scene, tracks)
    assert q["objects"] == 4 and q["objects_found"] == 2 and q["duplicates"] == 1
    assert q["spurious_tracks"] == 1 and q["wrong_merges"] == 0 and q["label_accuracy"] == 1.0
