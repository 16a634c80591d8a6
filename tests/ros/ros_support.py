"""Shared by the launch tests: skip without ROS, the tiny kitchen scene (tests/nodes/data), rclpy helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs ROS 2 (rclpy): source /opt/ros/<distro> and ros_ws/install")
pytest.importorskip("launch_testing", reason="needs ROS 2 launch_testing")
ament_index = pytest.importorskip("ament_index_python.packages")
try:
    SHARE = Path(ament_index.get_package_share_directory("embodied_stack_ros"))
except ament_index.PackageNotFoundError:
    pytest.skip("embodied_stack_ros is not built: colcon build in ros_ws and source install/setup.bash",
                allow_module_level=True)

import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

import launch  # noqa: E402 (imported once the skips above have passed)

__all__ = ["SCENE_PATH", "SHARE", "PythonLaunchDescriptionSource", "call", "launch", "launch_testing", "rclpy",
           "spin_until"]

SCENE_PATH = Path(__file__).resolve().parents[1] / "nodes" / "data" / "tiny_kitchen.scene.json"


def spin_until(node: Any, done: Callable[[], bool], timeout_s: float) -> bool:
    """Spin ``node`` until ``done()`` or the timeout; returns ``done()``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done():
        rclpy.spin_once(node, timeout_sec=0.1)
    return done()


def call(node: Any, client: Any, request: Any, timeout_s: float = 30.0) -> Any:
    """Call a service and wait for the response (fails the test on a timeout)."""
    assert client.wait_for_service(timeout_sec=timeout_s), f"{client.srv_name} is not available"
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
    assert future.done(), f"{client.srv_name} did not answer within {timeout_s} s"
    return future.result()
