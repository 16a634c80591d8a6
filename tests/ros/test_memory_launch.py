"""launch_testing: memory.launch.py on ROS 2 - ingest, query, and requests that must be refused.

Runs only where rclpy and the built workspace are available (skipped with a reason elsewhere):
    source /opt/ros/jazzy/setup.bash && source ros_ws/install/setup.bash
    python3 -m pytest tests/ros -q
"""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from typing import Any

import pytest
from ros_support import (
    SHARE,
    PythonLaunchDescriptionSource,
    call,
    launch,
    launch_testing,
    rclpy,
    spin_until,
)

pytestmark = pytest.mark.ros
MEMORY_ROOT = Path(tempfile.mkdtemp(prefix="embodied_stack_memory_"))


@pytest.mark.launch_test
def generate_test_description() -> tuple[launch.LaunchDescription, dict[str, Any]]:
    include = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(SHARE / "launch" / "memory.launch.py")),
        launch_arguments={"memory_root": str(MEMORY_ROOT), "store_dir": "live"}.items(),
    )
    return launch.LaunchDescription([include, launch_testing.actions.ReadyToTest()]), {}


class TestMemoryNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()

    @classmethod
    def tearDownClass(cls) -> None:
        rclpy.shutdown()

    def setUp(self) -> None:
        from embodied_stack_interfaces.msg import MemoryStats, ObjectObservationArray
        from embodied_stack_interfaces.srv import LoadMemory, QueryMemory, SaveMemory
        from embodied_stack_ros import qos

        self.node = rclpy.create_node("memory_launch_test")
        self.stats: list[Any] = []
        self.node.create_subscription(MemoryStats, "memory/stats", self.stats.append, qos.LATCHED)
        self.observations = self.node.create_publisher(ObjectObservationArray, "memory/observations", qos.events())
        self.query = self.node.create_client(QueryMemory, "memory/query")
        self.save = self.node.create_client(SaveMemory, "memory/save")
        self.load = self.node.create_client(LoadMemory, "memory/load")
        self.types = (QueryMemory, SaveMemory, LoadMemory)

    def tearDown(self) -> None:
        self.node.destroy_node()

    def _ingest(self) -> None:
        from embodied_stack_ros import conversions

        from embodied_stack.types.observations import Observation

        observations = [
            Observation("fridge", (5.4, 4.4, 0.9), (0.7, 0.7, 1.8), "a white fridge, kitchen", 0.9, 1.0),
            Observation("sofa", (1.0, 4.4, 0.4), (1.8, 0.8, 0.8), "a blue sofa", 0.9, 2.0),
            Observation("table", (3.0, 2.5, 0.4), (1.2, 0.8, 0.75), "a brown table", 0.9, 3.0),
        ]
        assert spin_until(self.node, lambda: self.observations.get_subscription_count() > 0, 30.0)
        self.observations.publish(conversions.observations_to_ros(observations, 3.0))
        assert spin_until(self.node, lambda: bool(self.stats) and self.stats[-1].leaves >= 3, 60.0), self.stats

    def test_query_after_ingest(self) -> None:
        query_type = self.types[0]
        self._ingest()
        response = call(self.node, self.query, query_type.Request(query="where is the fridge?"), 60.0)
        self.assertTrue(response.success, response.error_message)
        self.assertEqual(response.hits[0].name, "fridge")
        self.assertEqual(response.hits[0].target_pose.header.frame_id, "map")
        self.assertGreater(len(response.answer), 0)

    def test_bad_requests_are_refused_and_the_node_survives(self) -> None:
        query_type, save_type, load_type = self.types
        for request, expected in ((query_type.Request(query=""), "empty"),
                                  (query_type.Request(query="fridge", k=5000), "out of range"),
                                  (query_type.Request(query="fridge", kind=42), "unknown query kind")):
            response = call(self.node, self.query, request)
            self.assertFalse(response.success)
            self.assertIn(expected, response.error_message)
        response = call(self.node, self.save, save_type.Request(path="../../outside"))
        self.assertFalse(response.success)
        self.assertIn("outside the memory root", response.error_message)
        response = call(self.node, self.load, load_type.Request(path="/etc"))
        self.assertFalse(response.success)
        saved = call(self.node, self.save, save_type.Request(path="snapshots/a"))
        self.assertTrue(saved.success, saved.error_message)
        self.assertTrue(Path(saved.path).is_relative_to(MEMORY_ROOT.resolve()))
        loaded = call(self.node, self.load, load_type.Request(path="snapshots/a"))
        self.assertTrue(loaded.success, loaded.error_message)


@launch_testing.post_shutdown_test()
class TestMemoryShutdown(unittest.TestCase):
    def test_clean_exit(self, proc_info: Any) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
