"""The memory node: the semantic forest, fed by observations and asked through services.

Subscribes to ``memory/observations`` (ObjectObservationArray) and ingests every valid element
(each bad one is logged with its reason and counted). Serves ``memory/query`` (QueryMemory),
``memory/save`` and ``memory/load`` (paths inside the ``memory_root`` parameter only), and
publishes, latched and at most every ``markers_period_s``, ``memory/markers`` (MarkerArray of
the forest for RViz) and ``memory/stats`` (MemoryStats) after a change.

Runs single-threaded: the memory's SQLite store belongs to the thread that opened it, and a
query never waits on another callback. tf (for a robot pose given in another frame than
``map_frame``) is received on the listener's own thread.
"""

from __future__ import annotations

from typing import Any

from embodied_stack_interfaces.msg import MemoryStats, ObjectObservationArray
from embodied_stack_interfaces.srv import LoadMemory, QueryMemory, SaveMemory
from rclpy.node import Node
from rclpy.time import Time
from tf2_ros import Buffer, TransformException, TransformListener
from visualization_msgs.msg import MarkerArray

from embodied_stack.memory.config import MemoryConfig
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.errors import ParameterError
from embodied_stack_ros.markers import forest_markers
from embodied_stack.memory.service import FAILURES, MemoryService, load_spatial
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node


class MemoryNode(Node):
    """ROS face of :class:`embodied_stack.memory.SemanticMemory` (through :class:`MemoryService`)."""

    def __init__(self) -> None:
        super().__init__("memory")
        self.params = declare_parameters(self, node_param_specs("memory"))
        p = self.params
        config: MemoryConfig = config_from_params(MemoryConfig, p, self.get_name())
        try:
            spatial = load_spatial(str(p["spatial"]), str(p["rooms_file"]), float(p["robot_radius_m"]))
            self.service = MemoryService(config, str(p["store_dir"]), int(p["default_k"]), int(p["max_k"]), spatial)
        except FAILURES as err:
            raise ParameterError(f"memory: cannot start with store {p['store_dir']!r} under {p['memory_root']!r} and "
                                 f"spatial {p['spatial']!r}: {err}") from err
        self._map_frame = str(p["map_frame"])
        self._dirty = True
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self, spin_thread=True)
        self._markers_pub = self.create_publisher(MarkerArray, "memory/markers", qos.LATCHED)
        self._stats_pub = self.create_publisher(MemoryStats, "memory/stats", qos.LATCHED)
        self.create_subscription(ObjectObservationArray, "memory/observations", self._on_observations, qos.events(50))
        self.create_service(QueryMemory, "memory/query", self._on_query)
        self.create_service(SaveMemory, "memory/save", self._on_save)
        self.create_service(LoadMemory, "memory/load", self._on_load)
        self.create_timer(float(p["markers_period_s"]), self._publish_state)
        self._publish_state()
        stats = self.service.stats()
        self.get_logger().info(f"memory ready: {stats.leaves} objects, {stats.nodes} clusters, root {self.service.root}")

    def destroy_node(self) -> None:
        self.service.close()
        super().destroy_node()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_observations(self, msg: Any) -> None:
        observations, refused = conversions.observations_from_ros(msg)
        for reason in refused:
            self.get_logger().error(f"refused observation: {reason}")
        if not observations:
            self.service.rejected += len(refused)
            return
        outcome = self.service.ingest(observations, rejected_before=len(refused))
        if not outcome.success:
            self.get_logger().error(outcome.error)
            return
        for rejected in outcome.value.rejected:
            self.get_logger().error(f"memory refused observation {rejected.index}: {rejected.reason}")
        self._dirty = True

    def _robot_pose(self, request: Any) -> Any:
        """The request's robot pose in ``map_frame``; ValueError when it cannot be used."""
        if not request.has_robot_pose:
            return None
        pose, frame, _stamp = conversions.pose_stamped_from_ros(request.robot_pose)
        if frame in ("", self._map_frame):
            return pose
        try:
            tf = self._tf_buffer.lookup_transform(self._map_frame, frame, Time())
        except TransformException as err:
            raise ValueError(f"robot_pose frame {frame!r} cannot be transformed to {self._map_frame!r}: {err}") from err
        T_map_pose = conversions.transform_from_ros(tf.transform) @ conversions.pose2d_to_matrix(pose)
        return conversions.pose2d_from_matrix(T_map_pose)

    def _on_query(self, request: Any, response: Any) -> Any:
        try:
            robot_pose = self._robot_pose(request)
            kind = conversions.query_kind_from_ros(int(request.kind))
        except ValueError as err:
            response.success, response.error_message = False, str(err)
            return response
        outcome = self.service.query(str(request.query), kind, int(request.k), str(request.mode),
                                     robot_pose)
        response.success, response.error_message = outcome.success, outcome.error
        if not outcome.success:
            self.get_logger().warning(f"query {request.query[:80]!r}: {outcome.error}")
            return response
        result, stamp = outcome.value, self._now()
        response.answer = result.answer
        response.kind = conversions.query_kind_to_ros(result.kind)
        response.hits = [conversions.memory_hit_to_ros(hit, stamp) for hit in result.hits]
        return response

    def _on_save(self, request: Any, response: Any) -> Any:
        outcome = self.service.save(str(request.path))
        return self._store_response(response, outcome)

    def _on_load(self, request: Any, response: Any) -> Any:
        outcome = self.service.load(str(request.path))
        if outcome.success:
            self._dirty = True
        return self._store_response(response, outcome)

    def _store_response(self, response: Any, outcome: Any) -> Any:
        response.success, response.error_message = outcome.success, outcome.error
        if outcome.success:
            response.path = str(outcome.value)
            self.get_logger().info(f"memory store: {response.path}")
        else:
            self.get_logger().error(outcome.error)
        response.stats = conversions.memory_stats_to_ros(self.service.stats(), self._now(), self.service.rejected)
        return response

    def _publish_state(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        stamp = self._now()
        self._stats_pub.publish(conversions.memory_stats_to_ros(self.service.stats(), stamp, self.service.rejected))
        header = conversions.header_to_ros(self._map_frame, stamp)
        views = self.service.nodes(int(self.params["max_marker_leaves"]))
        self._markers_pub.publish(forest_markers(views, header))


def main(args: list[str] | None = None) -> None:
    """Run the memory node until Ctrl-C."""
    run_node(MemoryNode, "memory", args)


if __name__ == "__main__":
    main()
