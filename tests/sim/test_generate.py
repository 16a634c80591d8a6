"""Procedural scenes: reproducible, plausible (distinct rooms, vocabulary), connected, furniture
that does not overlap and is all reachable."""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.errors import FormatError
from embodied_stack.sim.furnish import boxes_overlap
from embodied_stack.sim.generate import generate_scene, load_vocabulary, unreachable_objects
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, load_scene, save_scene

HOME_ROOMS = {"kitchen", "living room", "bedroom", "bathroom"}
OFFICE_ROOMS = {"open office", "meeting room", "break room", "reception"}


@cache
def scene(seed: int, kind: str, rooms: int | None = None) -> Scene:
    return generate_scene(seed, kind, rooms)


CASES = [(3, "home", None), (5, "home", 10), (4, "office", None), (8, "office", 4)]


def test_vocabulary_covers_homes_and_offices() -> None:
    vocab = load_vocabulary()
    assert len(vocab.objects) >= 60
    assert HOME_ROOMS <= set(vocab.rooms["home"]) and OFFICE_ROOMS <= set(vocab.rooms["office"])
    placed = [c for c, spec in vocab.objects.items() if spec.placement != "companion"]
    for category in placed:
        spec = vocab.objects[category]
        assert spec.rooms, category
        assert all(0 < lo <= hi for lo, hi in spec.size), category
        assert all(0.0 <= v <= 1.0 for _name, rgb in spec.colors for v in rgb), category


def test_bad_vocabulary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    data = json.loads((Path(load_vocabulary.__code__.co_filename).parent / "data" / "vocabulary.json").read_text())
    data["objects"]["fridge"]["rooms"]["garage"] = 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="objects.fridge.rooms"):
        load_vocabulary(path)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    save_scene(generate_scene(3, "home"), tmp_path / "a.json")
    save_scene(generate_scene(3, "home"), tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert generate_scene(4, "home").to_dict() != scene(3, "home").to_dict()


@pytest.mark.parametrize(("seed", "kind", "rooms"), CASES)
def test_scene_is_plausible_and_loads_strictly(tmp_path: Path, seed: int, kind: str, rooms: int | None) -> None:
    s = scene(seed, kind, rooms)
    categories = [r.category for r in s.rooms]
    assert 4 <= len(categories) <= 10 and len(set(categories)) == len(categories)
    if rooms is not None:
        assert len(categories) == rooms
    assert (HOME_ROOMS if kind == "home" else OFFICE_ROOMS) <= set(categories)
    assert len(s.objects) >= 3 * len(s.rooms) and len(s.categories) >= 15
    for d in s.doors:
        assert 0.8 <= d.width <= 2.8
    save_scene(s, tmp_path / "s.json")
    assert load_scene(tmp_path / "s.json").to_dict() == s.to_dict()


@pytest.mark.parametrize(("seed", "kind", "rooms"), CASES)
def test_scene_is_connected_and_every_object_reachable(seed: int, kind: str, rooms: int | None) -> None:
    s = scene(seed, kind, rooms)
    nm = NavMap.from_scene(s)
    main = nm.grid_to_world(np.argwhere(nm.largest_component_mask()))
    for room in s.rooms:
        assert room.contains(main).sum() * nm.resolution_m**2 > 1.0, room.id
    assert unreachable_objects(s, nm, 1.0) == []


@pytest.mark.parametrize(("seed", "kind", "rooms"), CASES)
def test_objects_do_not_overlap_and_stay_in_their_room(seed: int, kind: str, rooms: int | None) -> None:
    s = scene(seed, kind, rooms)
    for obj in s.objects:
        assert s.room_by_id(obj.room).contains(obj.footprint()).all(), obj.id
        assert obj.center[2] + obj.size[2] / 2 <= s.room_by_id(obj.room).ceiling_z + 1e-6
    for a, b in itertools.combinations(s.objects, 2):
        za = (a.center[2] - a.size[2] / 2, a.center[2] + a.size[2] / 2)
        zb = (b.center[2] - b.size[2] / 2, b.center[2] + b.size[2] / 2)
        if za[1] <= zb[0] + 1e-6 or zb[1] <= za[0] + 1e-6:
            continue
        assert not boxes_overlap(a.footprint(), b.footprint(), -0.005), (a.id, b.id)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        generate_scene(0, "castle")
    with pytest.raises(ValueError, match="rooms"):
        generate_scene(0, "home", 3)
    with pytest.raises(ValueError, match="rooms"):
        generate_scene(0, "office", 11)
