"""ObjectFusion: association, stable ids, box union, confirmation, emission policy."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.perception import ObjectFusion, PerceptionConfig, Sighting


def _sighting(category: str, center, size, *, t: float = 0.0, score: float = 0.9, key=None, color=None) -> Sighting:
    c, s = np.asarray(center, dtype=float), np.asarray(size, dtype=float)
    return Sighting(category, score, c - s / 2, c + s / 2, t, n_points=100, color=color, instance_key=key)


def test_repeated_noisy_views_of_one_object_become_one_track_with_a_stable_id() -> None:
    rng = np.random.default_rng(1)
    fusion = ObjectFusion(PerceptionConfig(min_detections=3))
    ids = set()
    emitted = []
    for k in range(20):
        center = np.array([2.0, 1.0, 0.5]) + rng.normal(0, 0.03, 3)
        due = fusion.update([_sighting("chair", center, (0.5, 0.5, 1.0), t=float(k))], float(k))
        emitted += [t.count for t in due]
        ids |= {t.track_id for t in fusion.tracks}
    assert len(fusion.tracks) == 1 and len(ids) == 1
    track = fusion.tracks[0]
    assert track.count == 20
    assert track.mean_position == pytest.approx([2.0, 1.0, 0.5], abs=0.03)
    assert emitted and emitted[0] == 3  # first emitted when confirmed
    assert len(emitted) < 20  # not flooded: only meaningful changes re-emit


def test_different_places_or_categories_make_different_tracks() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    fusion.update(
        [
            _sighting("chair", (0, 0, 0.5), (0.5, 0.5, 1.0)),
            _sighting("chair", (3, 0, 0.5), (0.5, 0.5, 1.0)),
            _sighting("table", (0.05, 0, 0.5), (0.5, 0.5, 1.0)),
        ],
        0.0,
    )
    assert sorted(t.category for t in fusion.tracks) == ["chair", "chair", "table"]
    assert len({t.track_id for t in fusion.tracks}) == 3


def test_partial_views_grow_the_box_to_the_whole_object() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    for t, x in enumerate([-0.6, -0.3, 0.0, 0.3, 0.6]):
        fusion.update([_sighting("sofa", (x, 0, 0.4), (0.8, 0.9, 0.8))], float(t))
    (track,) = fusion.tracks
    assert track.center == pytest.approx([0.0, 0.0, 0.4])
    assert track.extent == pytest.approx([2.0, 0.9, 0.8])


def test_two_tracks_of_one_object_merge_when_a_view_bridges_them() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1, association_distance_m=0.3))
    # A 2 m sofa seen as its left half, then its right half: they touch without overlapping
    # and their centres are 1 m apart, so they start as two tracks.
    fusion.update([_sighting("sofa", (-0.5, 0, 0.4), (1.0, 0.9, 0.8))], 0.0)
    fusion.update([_sighting("sofa", (0.5, 0, 0.4), (1.0, 0.9, 0.8))], 1.0)
    assert [t.track_id for t in fusion.tracks] == [f"{fusion.id_prefix}0", f"{fusion.id_prefix}1"]
    # A middle view joins the left track; its grown box now covers most of the right one.
    emitted = fusion.update([_sighting("sofa", (0.0, 0, 0.4), (1.2, 0.9, 0.8))], 2.0)
    (track,) = fusion.tracks
    assert track.track_id == f"{fusion.id_prefix}0" and track.count == 3
    assert track.extent == pytest.approx([2.0, 0.9, 0.8])
    assert fusion.merged == {f"{fusion.id_prefix}1": f"{fusion.id_prefix}0"}
    assert [t.track_id for t in emitted] == [f"{fusion.id_prefix}0"]


def test_keyed_tracks_of_different_objects_never_merge() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    fusion.update([_sighting("chair", (0.0, 0, 0.45), (0.5, 0.5, 0.9), key=1)], 0.0)
    fusion.update([_sighting("chair", (0.5, 0, 0.45), (0.5, 0.5, 0.9), key=2)], 0.0)
    fusion.update([_sighting("chair", (0.1, 0, 0.45), (0.8, 0.5, 0.9), key=1, t=1.0)], 1.0)
    assert sorted(t.instance_key for t in fusion.tracks) == [1, 2]
    assert fusion.merged == {}


def test_a_confirmed_track_grows_at_most_the_configured_step_per_view() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1, max_extent_growth_m=0.2))
    fusion.update([_sighting("shelf", (0, 0, 1), (1, 0.4, 2))], 0.0)
    glitch = Sighting("shelf", 0.9, np.array([-0.5, -0.2, 0.0]), np.array([3.0, 0.2, 2.0]), 1.0)
    fusion.update([glitch], 1.0)
    (track,) = fusion.tracks
    assert track.max_xyz[0] == pytest.approx(0.7)
    assert track.min_xyz[0] == pytest.approx(-0.5)


def test_instance_keys_keep_adjacent_same_category_objects_apart() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    for t in range(3):
        fusion.update(
            [
                _sighting("chair", (0.0, 0, 0.45), (0.5, 0.5, 0.9), key=1, t=float(t)),
                _sighting("chair", (0.3, 0, 0.45), (0.5, 0.5, 0.9), key=2, t=float(t)),
            ],
            float(t),
        )
    assert len(fusion.tracks) == 2
    assert sorted(t.instance_key for t in fusion.tracks) == [1, 2]
    assert all(t.count == 3 for t in fusion.tracks)
    # The same keyed object seen moved far away stays the same track (the key is a strong hint).
    fusion.update([_sighting("chair", (5.0, 0, 0.45), (0.5, 0.5, 0.9), key=1, t=4.0)], 4.0)
    assert len(fusion.tracks) == 2


def test_unconfirmed_tracks_expire_and_confirmed_ones_stay() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2, tentative_ttl_s=5.0))
    fusion.update([_sighting("ghost", (9, 9, 1), (0.2, 0.2, 0.2)), _sighting("lamp", (0, 0, 1), (0.3, 0.3, 1))], 0.0)
    fusion.update([_sighting("lamp", (0, 0, 1), (0.3, 0.3, 1), t=1.0)], 1.0)
    fusion.update([], 10.0)
    assert [t.category for t in fusion.tracks] == ["lamp"]
    fusion.update([_sighting("lamp", (0, 0, 1), (0.3, 0.3, 1), t=11.0)], 11.0)
    assert fusion.tracks[0].track_id == f"{fusion.id_prefix}1"


def test_change_mode_reemits_on_movement_update_mode_on_every_sighting() -> None:
    change = ObjectFusion(PerceptionConfig(min_detections=1, emit_min_move_m=0.2))
    update = ObjectFusion(PerceptionConfig(min_detections=1, emit_mode="update"))
    counts = {"change": 0, "update": 0}
    for t, x in enumerate([0.0, 0.01, 0.02, 0.5]):
        s = _sighting("bin", (x, 0, 0.3), (0.3, 0.3, 0.6), t=float(t))
        counts["change"] += len(change.update([s], float(t)))
        counts["update"] += len(update.update([s], float(t)))
    assert counts == {"change": 2, "update": 4}


def test_flush_emits_only_confirmed_tracks_updated_since_their_last_emission() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=2, emit_min_move_m=1.0))
    fusion.update([_sighting("tv", (0, 0, 1), (1, 0.1, 0.6)), _sighting("cup", (3, 0, 1), (0.1, 0.1, 0.1))], 0.0)
    emitted = fusion.update([_sighting("tv", (0.02, 0, 1), (1, 0.1, 0.6), t=1.0)], 1.0)
    assert [t.category for t in emitted] == ["tv"]
    assert fusion.flush() == []  # the tv's state was just emitted; the cup is unconfirmed
    fusion.update([_sighting("tv", (0.05, 0, 1), (1, 0.1, 0.6), t=2.0)], 2.0)  # small move: not due
    (final,) = fusion.flush()
    assert final.count == 3 and final.last_seen == 2.0
    assert fusion.flush() == []


def test_colour_votes_pick_the_majority() -> None:
    fusion = ObjectFusion(PerceptionConfig(min_detections=1))
    for t, color in enumerate(["white", "grey", "white"]):
        fusion.update([_sighting("fridge", (0, 0, 0.9), (0.7, 0.7, 1.8), color=color, t=float(t))], float(t))
    assert fusion.tracks[0].color == "white"


def test_track_ids_never_repeat_across_pipelines() -> None:
    """A second pipeline (a search after the survey, a restarted sensing node) must not reuse the
    first one's track ids: the memory joins sightings by track id."""
    first, second = ObjectFusion(), ObjectFusion()
    assert first.id_prefix != second.id_prefix
    assert ObjectFusion(id_prefix="cam0_").id_prefix == "cam0_"
