"""The core library never imports ROS: it must run wherever pip runs (ARCHITECTURE.md).

Every module under src/embodied_stack is parsed (not imported) and each ``import``,
``from ... import`` and ``importlib.import_module("...")`` / ``__import__("...")`` with a
literal name is checked against the ROS 2 Python packages (rclpy, launch, tf2, message
packages, our own interfaces and nodes). Message *type names* in strings (rosbags) are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "embodied_stack"

ROS_MODULES = frozenset({
    "rclpy", "rcl_interfaces", "rosidl_runtime_py", "rosidl_parser", "rosidl_adapter", "rosidl_generator_py",
    "launch", "launch_ros", "launch_testing", "launch_testing_ros", "ament_index_python", "tf2_ros", "tf2_py",
    "tf2_msgs", "tf2_geometry_msgs", "message_filters", "cv_bridge", "image_transport", "rosbag2_py",
    "builtin_interfaces", "std_msgs", "std_srvs", "geometry_msgs", "sensor_msgs", "nav_msgs",
    "visualization_msgs", "rosgraph_msgs", "action_msgs", "unique_identifier_msgs", "diagnostic_msgs",
    "embodied_stack_interfaces", "embodied_stack_ros",
})


def ros_imports(source: str, filename: str = "<src>") -> list[str]:
    """``"line: module"`` for every ROS module the source imports."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[0] in ROS_MODULES]
    return found


def test_the_checker_sees_every_kind_of_import() -> None:
    source = "\n".join([
        "import rclpy", "from sensor_msgs.msg import Image", "import importlib",
        "x = importlib.import_module('tf2_ros')", "y = __import__('launch_ros.actions')",
        "import numpy", "z = 'sensor_msgs/msg/Image'", "from . import rclpy_like",
    ])
    assert ros_imports(source) == ["1: rclpy", "2: sensor_msgs.msg", "4: tf2_ros", "5: launch_ros.actions"]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_core_module_imports_no_ros(path: Path) -> None:
    assert ros_imports(path.read_text(encoding="utf-8"), str(path)) == []
