"""The commonsense table and its lookups."""

from __future__ import annotations

import json

import pytest

from embodied_stack.errors import FormatError
from embodied_stack.memory.knowledge import DEFAULT_PATH, Knowledge, default_knowledge


def test_table_is_broad() -> None:
    knowledge = default_knowledge()
    assert len(knowledge.categories) >= 150
    assert len(knowledge.rooms) >= 15
    assert all(info.uses and info.rooms for info in knowledge.categories.values())
    assert all(room in knowledge.rooms for info in knowledge.categories.values() for room in info.rooms)


def test_lookups() -> None:
    knowledge = default_knowledge()
    assert knowledge.canonical("Refrigerator") == "fridge"
    assert knowledge.canonical("red coffee mugs") == "mug"
    assert knowledge.canonical("flux capacitor") is None
    assert knowledge.canonical("lava table") is None  # only modifiers are dropped, not kinds
    assert knowledge.canonical_room("guest bedroom") == "bedroom"
    assert knowledge.canonical_room("office kitchen") == "break room"
    assert knowledge.find_categories("where is the TV stand near the refrigerators?") == ["tv stand", "fridge"]
    assert knowledge.find_categories("take a nap in the bathroom") == []
    assert knowledge.find_room_types("what is in the lounge?") == ["living room"]
    room, share = knowledge.vote_room({"fridge": 1, "stove": 1, "sink": 1})
    assert room == "kitchen" and share > 0.5
    assert knowledge.leaf_text("bed", "a double bed").startswith("a double bed. bed: sleep")


def test_malformed_file(tmp_path) -> None:
    path = tmp_path / "k.json"
    data = json.loads(DEFAULT_PATH.read_text())
    data["categories"]["bed"]["uses"] = "sleep"
    path.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="bed.uses"):
        Knowledge.load(path)
    path.write_text("{")
    with pytest.raises(FormatError, match="JSON"):
        Knowledge.load(path)
