"""Test support for the ROS layer: import ``nodes/`` and get message classes two ways - the real
generated classes where a ROS 2 workspace is sourced, and classes built with ``rosbags`` from
our ``.msg``/``.srv``/``.action`` files and the standard ROS 2 Jazzy types everywhere rosbags is
installed. Nothing here skips at import time: a test that needs one kind skips on its own.

The message factories check field values the way rclpy's generated setters do (a float field
takes a Python ``float``, not an ``int`` or a numpy scalar; sequences take lists or
``array.array``; nested fields take the right message type; unknown keywords fail), so a
conversion that would raise under real ROS fails here too.
"""

from __future__ import annotations

import array
import importlib.util
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
NODES_DIR = REPO / "nodes"
INTERFACES_DIR = REPO / "ros_ws" / "src" / "embodied_stack_interfaces"
PACKAGE = "embodied_stack_interfaces"

if str(NODES_DIR) not in sys.path:
    sys.path.insert(0, str(NODES_DIR))

try:
    from rosbags import typesys as rosbags_typesys
    from rosbags.interfaces import Nodetype
except ImportError:  # a ROS 2 machine without rosbags: the real message classes are used there
    rosbags_typesys = None
    Nodetype = None

HAVE_ROSBAGS = rosbags_typesys is not None
HAVE_ROS = all(importlib.util.find_spec(m) is not None for m in ("rclpy", "embodied_stack_interfaces"))
"""Real rclpy and the built interface package are importable (ROS 2 and ros_ws sourced)."""

# vision_msgs 4.x (Humble, Jazzy) and nav2_msgs' NavigateToPose, which the rosbags Jazzy store
# lacks; written from their .msg/.action definitions (test-only: the nodes use the real classes).
EXTRA_TYPES = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y",
    "vision_msgs/msg/BoundingBox3D": "geometry_msgs/Pose center\ngeometry_msgs/Vector3 size",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score",
    "vision_msgs/msg/ObjectHypothesisWithPose": "vision_msgs/ObjectHypothesis hypothesis\n"
                                                "geometry_msgs/PoseWithCovariance pose",
    "vision_msgs/msg/Detection2D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                                   "vision_msgs/BoundingBox2D bbox\nstring id",
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections",
    "vision_msgs/msg/Detection3D": "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                                   "vision_msgs/BoundingBox3D bbox\nstring id",
    "vision_msgs/msg/Detection3DArray": "std_msgs/Header header\nvision_msgs/Detection3D[] detections",
    "std_srvs/msg/Trigger_Request": "",
    "std_srvs/msg/Trigger_Response": "bool success\nstring message",
    "nav2_msgs/msg/NavigateToPose_Goal": "geometry_msgs/PoseStamped pose\nstring behavior_tree",
    "nav2_msgs/msg/NavigateToPose_Result": "uint16 error_code\nstring error_msg",
    "nav2_msgs/msg/NavigateToPose_Feedback": "geometry_msgs/PoseStamped current_pose\n"
                                             "builtin_interfaces/Duration navigation_time\n"
                                             "builtin_interfaces/Duration estimated_time_remaining\n"
                                             "int16 number_of_recoveries\nfloat32 distance_remaining",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fake_rclpy: runs the nodes' own code on the rclpy stand-in of ros_fakes.py "
                                       "(not on real ROS; tests/ros does that)")

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1), "uint8": (0, 2**8 - 1), "byte": (0, 2**8 - 1), "char": (0, 2**8 - 1),
    "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1),
}
FLOAT_MAX = {"float32": 3.402823466e38, "float64": 1.7976931348623157e308}


SCENE_PATH = Path(__file__).resolve().parent / "data" / "tiny_kitchen.scene.json"
"""A 6 m x 5 m kitchen (scene/1) with a fridge, a table and a sofa; tests/ros uses it too."""


def interface_parts(path: Path) -> list[tuple[str, str]]:
    """``(type name, msg text)`` for each part of a .msg, .srv (Request, Response) or .action
    (Goal, Result, Feedback) file. Parts are named under ``msg/`` so that rosbags resolves
    same-package references (``MemoryHit``) as rosidl does."""
    text = path.read_text()
    kind = path.suffix[1:]
    lines = text.splitlines()
    chunks: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == "---":
            chunks.append([])
        else:
            chunks[-1].append(line)
    suffixes = {"msg": [""], "srv": ["_Request", "_Response"], "action": ["_Goal", "_Result", "_Feedback"]}[kind]
    if len(chunks) != len(suffixes):
        raise ValueError(f"{path}: {len(chunks)} part(s) separated by '---', expected {len(suffixes)} for a .{kind}")
    return [(f"{PACKAGE}/msg/{path.stem}{suffix}", "\n".join(chunk)) for suffix, chunk in zip(suffixes, chunks, strict=True)]


def interface_files() -> list[Path]:
    return sorted(p for sub in ("msg", "srv", "action") for p in (INTERFACES_DIR / sub).glob(f"*.{sub}"))


def build_typestore() -> Any:
    """The Jazzy typestore with every part of our interface files (and :data:`EXTRA_TYPES`) registered."""
    if not HAVE_ROSBAGS:
        pytest.skip("rosbags is needed to build message classes without ROS")
    store = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for name, text in EXTRA_TYPES.items():
        types.update(rosbags_typesys.get_types_from_msg(text, name))
    for path in interface_files():
        for name, text in interface_parts(path):
            types.update(rosbags_typesys.get_types_from_msg(text, name))
    store.register(types)
    return store


class StrictMessage:
    """A factory for one message type that validates values like rclpy's generated setters."""

    def __init__(self, messages: RosbagsMessages, name: str) -> None:
        self._messages = messages
        self._name = name
        self._cls = messages.store.types[name]
        consts, fields = messages.store.fielddefs[name]
        self._fields = dict(fields)
        for const_name, _type, value in consts:
            setattr(self, const_name, value)

    def __call__(self, **kwargs: Any) -> Any:
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(f"{self._name}: unknown field(s) {sorted(unknown)}")
        values = {}
        for field, spec in self._fields.items():
            if field in kwargs:
                self._messages.check(kwargs[field], spec, f"{self._name}.{field}")
                values[field] = kwargs[field]
            else:
                values[field] = self._messages.default(spec)
        return self._cls(**values)


class RosbagsMessages:
    """Resolver ``name -> StrictMessage`` for ``conversions.set_type_resolver``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._cache: dict[str, StrictMessage] = {}

    def __call__(self, name: str) -> StrictMessage:
        if name not in self._cache:
            if name not in self.store.types:
                raise KeyError(f"message type {name!r} is not registered")
            self._cache[name] = StrictMessage(self, name)
        return self._cache[name]

    def default(self, spec: Any) -> Any:
        nodetype, detail = spec
        if nodetype == Nodetype.BASE:
            base = detail[0]
            return False if base == "bool" else "" if base in ("string", "wstring") else 0.0 if base in FLOAT_MAX else 0
        if nodetype == Nodetype.NAME:
            return self(detail)()
        if nodetype == Nodetype.ARRAY:
            return [self.default(detail[0]) for _ in range(detail[1])]
        return []

    def check(self, value: Any, spec: Any, where: str) -> None:
        nodetype, detail = spec
        if nodetype == Nodetype.BASE:
            self._check_base(value, detail[0], where)
        elif nodetype == Nodetype.NAME:
            if getattr(value, "__msgtype__", None) != detail:
                raise TypeError(f"{where}: expected a {detail} message, got {type(value).__name__}")
        elif nodetype == Nodetype.ARRAY:
            sub, length = detail
            if isinstance(value, np.ndarray):
                if value.size != length:
                    raise TypeError(f"{where}: expected {length} values, got an array of {value.size}")
                return
            self._check_sequence(value, sub, where)
            if len(value) != length:
                raise TypeError(f"{where}: expected {length} values, got {len(value)}")
        else:
            self._check_sequence(value, detail[0], where)

    def _check_sequence(self, value: Any, sub: Any, where: str) -> None:
        if sub[0] == Nodetype.BASE and sub[1][0] in ("uint8", "byte") and isinstance(value, (bytes, bytearray)):
            return
        if isinstance(value, array.array):
            if sub[0] != Nodetype.BASE:
                raise TypeError(f"{where}: array.array for a sequence of messages")
            return
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: expected a list, got {type(value).__name__}")
        for index, item in enumerate(value):
            self.check(item, sub, f"{where}[{index}]")

    @staticmethod
    def _check_base(value: Any, base: str, where: str) -> None:
        if base == "bool":
            ok = isinstance(value, bool)
        elif base in INT_RANGES:
            low, high = INT_RANGES[base]
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        elif base in FLOAT_MAX:
            ok = isinstance(value, float) and (math.isnan(value) or math.isinf(value) or abs(value) <= FLOAT_MAX[base])
        else:
            ok = isinstance(value, str)
        if not ok:
            raise TypeError(f"{where}: {value!r} ({type(value).__name__}) is not a valid {base}")


@pytest.fixture(scope="session")
def typestore() -> Any:
    return build_typestore()


PART_SUFFIXES = {"_Request": "srv", "_Response": "srv", "_Goal": "action", "_Result": "action", "_Feedback": "action"}


def rclpy_types(name: str) -> Any:
    """Real generated classes; ``pkg/msg/Srv_Request`` names the ``pkg.srv.Srv.Request`` part."""
    import importlib

    package, kind, cls = name.split("/")
    for suffix, sub in PART_SUFFIXES.items():
        if cls.endswith(suffix):
            holder = getattr(importlib.import_module(f"{package}.{sub}"), cls[: -len(suffix)])
            return getattr(holder, suffix[1:])
    return getattr(importlib.import_module(f"{package}.{kind}"), cls)


@pytest.fixture(params=["rosbags", "rclpy"])
def ros_messages(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Make ``embodied_stack_ros.conversions`` build messages: rosbags classes checked strictly
    everywhere, and the real generated classes where a ROS 2 workspace is sourced."""

    from embodied_stack_ros import conversions

    if request.param == "rclpy":
        if not HAVE_ROS:
            pytest.skip("real message classes need ROS 2 and the built ros_ws sourced")
        resolver: Any = rclpy_types
    else:
        resolver = RosbagsMessages(request.getfixturevalue("typestore"))
    conversions.set_type_resolver(resolver)
    yield resolver
    conversions.set_type_resolver(None)


START_POSE = [2.0, 1.5, 0.71]
"""Where the robot starts in the tiny kitchen: x, y (m), yaw (rad) facing the fridge."""


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The rclpy stand-in (ros_fakes.py) installed and parameters for every node."""
    from ros_fakes import NODE_MODULES, Bus, install

    bus = Bus({
        "sim_bridge": {"scene": str(SCENE_PATH), "width": 160, "height": 120, "use_start_pose": True, "start_pose": START_POSE,
                       "start_time_s": 0.0},
        # no scene-file knowledge: the simulated detector (the default) and no true map; the robot's
        # own rooms (sim.launch.py's rooms_file / spatial rooms:) are tested in test_ros_robot_rooms.py
        "sensing": {"max_range_m": 8.0, "embedder": "hash"},
        "memory": {"embedder": "hash", "memory_root": str(tmp_path / "memory"), "store_dir": "default"},
        "planner": {"subgoal_timeout_s": 60.0},
        "policy": {"agent": "policy:unused.safetensors", "sensor_timeout_s": 5.0},
    })
    install(bus, monkeypatch)
    from embodied_stack_ros import conversions

    conversions.set_type_resolver(None)
    yield bus
    for name in [n for n in sys.modules if n.startswith("embodied_stack_ros.") and n.endswith(NODE_MODULES)]:
        del sys.modules[name]
