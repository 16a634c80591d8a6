"""The instance table of a simulator bag: the JSON String of `sim record` and the ROS bridge's
InstanceInfoArray (a bag recorded from sim.launch.py), found on either topic by default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from embodied_stack.bags.build import read_instance_table
from embodied_stack.bags.errors import MissingTopicError
from embodied_stack.bags.messages import INSTANCE_INFO_ARRAY, INTERFACE_DEFINITIONS
from embodied_stack.bags.reader import BagMessage, BagReader
from embodied_stack.bags.record import instance_table_json
from embodied_stack.types import InstanceInfo

TABLE = {3: InstanceInfo(3, "fridge_1", "fridge", "kitchen_1"), 7: InstanceInfo(7, "sofa_1", "sofa", None)}


class FakeBag(BagReader):
    """A BagReader over in-memory messages (topic -> (type, messages))."""

    def __init__(self, content: dict[str, tuple[str, list[Any]]]) -> None:
        self.path = Path("fake.mcap")
        self._content = content

    @property
    def topics(self) -> dict[str, str]:
        return {topic: kind for topic, (kind, _msgs) in self._content.items()}

    def messages(self, topics: Any, *, record_skips: bool = True) -> Iterator[BagMessage]:
        for topic in topics:
            kind, msgs = self._content[topic]
            for index, msg in enumerate(msgs):
                yield BagMessage(topic, kind, index, msg)


def _array() -> Any:
    items = [SimpleNamespace(instance_id=i.instance_id, object_id=i.object_id, category=i.category, room=i.room or "")
             for i in TABLE.values()]
    return SimpleNamespace(instances=items)


def test_the_bridge_table_on_camera_instances_is_found_and_read() -> None:
    bag = FakeBag({"/camera/instances": (INSTANCE_INFO_ARRAY, [_array()])})
    instances, categories = read_instance_table(bag)
    assert instances == TABLE and categories == ["fridge", "sofa"]


def test_the_json_table_of_sim_record_still_reads() -> None:
    text = instance_table_json(TABLE, ["fridge", "sofa"])
    bag = FakeBag({"/sim/instances": ("std_msgs/msg/String", [SimpleNamespace(data=text)])})
    instances, categories = read_instance_table(bag)
    assert instances == TABLE and categories == ["fridge", "sofa"]


def test_no_table_names_the_topic() -> None:
    with pytest.raises(MissingTopicError, match="/sim/instances"):
        read_instance_table(FakeBag({}))


def test_the_interface_definitions_parse() -> None:
    typesys = pytest.importorskip("rosbags.typesys")
    store = typesys.get_typestore(typesys.Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for name, text in INTERFACE_DEFINITIONS.items():
        types.update(typesys.get_types_from_msg(text, name))
    store.register(types)
    assert INSTANCE_INFO_ARRAY in store.types
