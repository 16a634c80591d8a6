"""The ROS sim path uses no scene-file knowledge: the simulated detector (no instance ids) is the
sensing default, sensing builds the robot's own map from depth at its tf pose and writes its
rooms, the memory adopts them (``spatial: rooms:FILE``), and sim.launch.py passes no true map."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from ros_fakes import Bus
from test_ros_nodes import call, nodes, spin

from embodied_stack.memory.rooms import RoomMap
from embodied_stack.memory.service import RoomsFile
from embodied_stack.perception import SimulatedDetector

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.fake_rclpy
def test_sensing_writes_the_robots_rooms_and_the_memory_adopts_them(world: Bus, monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    rooms_file = tmp_path / "memory" / "robot_rooms.npz"
    world.overrides["sensing"]["rooms_file"] = str(rooms_file)
    world.overrides["memory"]["spatial"] = f"rooms:{rooms_file}"
    built = nodes(world, monkeypatch, "sim_bridge", "sensing", "memory")
    spin(world, ("sim_bridge", "sensing"), 1)
    detector = built["sensing"].pipeline.detector
    assert isinstance(detector, SimulatedDetector) and not detector.keep_identities
    assert built["memory"].service.spatial is None  # no rooms file yet: no spatial context, no error
    spin(world, ("sim_bridge", "sensing", "memory"), 4)
    assert rooms_file.is_file(), world.logs["sensing"]
    spatial = built["memory"].service.spatial
    assert isinstance(spatial, RoomMap) and spatial.room_ids
    assert built["sensing"].robot_map.mapper.frames >= 4  # every processed frame fed the map
    answer = call(world, "/memory/query", query="where is the fridge?")
    assert answer.success and answer.hits[0].name == "fridge", answer.error_message
    memory = built["memory"].service.memory
    assert (memory.leaves.room[: memory.leaves.n] >= 0).any()  # leaves re-roomed from the robot's own map


def test_rooms_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "rooms.npz"
    watch = RoomsFile(path)
    assert watch.poll() is None  # not written yet
    space = np.zeros((60, 80), dtype=bool)
    space[5:55, 5:75] = True
    room_map = RoomMap(space, ~space, space, 0.05, (0.0, 0.0))
    room_map.set_types({"room_1": ("kitchen", 0.8)})
    room_map.save(path)
    first = watch.poll()
    assert isinstance(first, RoomMap) and first.room_category("room_1") == "kitchen"
    assert watch.poll() is None  # unchanged
    room_map.set_types({"room_1": ("bedroom", 0.9)})
    room_map.save(path)
    assert watch.poll().room_category("room_1") == "bedroom"
    with pytest.raises(ValueError):
        RoomsFile("")


def test_sim_launch_passes_no_scene_knowledge_to_the_memory() -> None:
    launch = (REPO / "launch" / "sim.launch.py").read_text()
    assert not re.search(r'"spatial":\s*ParameterValue\(\["scene:"', launch)
    assert '"rooms:"' in launch and '"rooms_file"' in launch
    params = (REPO / "launch" / "params" / "embodied_stack.yaml").read_text()
    assert re.search(r"^\s+detector: sim:realistic$", params, re.MULTILINE)


def test_simulator_detector_specs_need_the_instance_table() -> None:
    from embodied_stack_ros.sensing import make_detector, needs_instances

    from embodied_stack.perception import SemanticSensorDetector, simulator_detector
    from embodied_stack.perception.errors import ConfigError

    assert needs_instances("sim:realistic") and needs_instances("semantic") and not needs_instances("vision_msgs")
    assert make_detector("sim:hard", []) is None  # built once camera/instances arrives
    assert simulator_detector("sim:hard", {}, seed=3).errors.miss_base > simulator_detector("sim", {}).errors.miss_base
    assert isinstance(simulator_detector("semantic", {}), SemanticSensorDetector)
    with pytest.raises(ConfigError, match="unknown"):
        simulator_detector("sim:easy", {})
    with pytest.raises(ConfigError, match="expected 'sim'"):
        simulator_detector("yolo", {})
