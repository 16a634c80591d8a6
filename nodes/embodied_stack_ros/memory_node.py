"""The memory node: the semantic forest, fed by observations and asked through services.

Subscribes to ``memory/observations`` (ObjectObservationArray) and ingests every valid element
(each bad one is logged with its reason and counted); an observation in another frame than
``map_frame`` is moved into it through tf at its stamp. Serves ``memory/query`` (QueryMemory),
``memory/save`` and ``memory/load`` (paths inside the ``memory_root`` parameter only), and
publishes, latched and at most every ``markers_period_s``, ``memory/markers`` (MarkerArray of
the forest for RViz) and ``memory/stats`` (MemoryStats) after a change. With
``spatial: rooms:FILE`` (the robot's own rooms, written by the sensing node) it checks the file
every ``spatial_reload_s`` and adopts a newer version (leaves re-roomed, forest rebuilt).

Threads: a MultiThreadedExecutor with three callback groups - ingestion (the observations and
the markers timer), requests (query, save, load) and tf (the listener's own reentrant group) -
so a query is answered while observations arrive. One lock serialises the calls into the
memory: a query waits at most for the batch being ingested, never for the backlog.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from embodied_stack_interfaces.msg import MemoryStats, ObjectObservationArray
from embodied_stack_interfaces.srv import LoadMemory, QueryMemory, SaveMemory
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time
from tf2_ros import Buffer, TransformException, TransformListener
from visualization_msgs.msg import MarkerArray

from embodied_stack.memory.config import MemoryConfig
from embodied_stack.memory.service import FAILURES, MemoryService, RoomsFile, load_spatial
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.errors import ParameterError
from embodied_stack_ros.markers import forest_markers
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node

TF_WAIT_S = 0.2
"""How long an observation in another frame waits for its transform (tf is served in parallel)."""


class MemoryNode(Node):
    """ROS face of :class:`embodied_stack.memory.SemanticMemory` (through :class:`MemoryService`)."""

    def __init__(self) -> None:
        super().__init__("memory")
        self.params = declare_parameters(self, node_param_specs("memory"))
        p = self.params
        config: MemoryConfig = config_from_params(MemoryConfig, p, self.get_name())
        spec = str(p["spatial"])
        try:
            self._rooms = RoomsFile(spec.partition(":")[2]) if spec.startswith("rooms:") else None
            spatial = self._rooms.poll() if self._rooms is not None else \
                load_spatial(spec, str(p["rooms_file"]), float(p["robot_radius_m"]))
            self.service = MemoryService(config, str(p["store_dir"]), int(p["default_k"]), int(p["max_k"]), spatial)
        except FAILURES as err:
            raise ParameterError(f"memory: cannot start with store {p['store_dir']!r} under {p['memory_root']!r} and "
                                 f"spatial {p['spatial']!r}: {err}") from err
        self._lock = threading.Lock()
        self._map_frame = str(p["map_frame"])
        self._dirty = True
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self, spin_thread=False)
        ingest_group, request_group = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
        self._markers_pub = self.create_publisher(MarkerArray, "memory/markers", qos.LATCHED)
        self._stats_pub = self.create_publisher(MemoryStats, "memory/stats", qos.LATCHED)
        self.create_subscription(ObjectObservationArray, "memory/observations", self._on_observations,
                                 qos.OBSERVATIONS, callback_group=ingest_group)
        self.create_service(QueryMemory, "memory/query", self._on_query, callback_group=request_group)
        self.create_service(SaveMemory, "memory/save", self._on_save, callback_group=request_group)
        self.create_service(LoadMemory, "memory/load", self._on_load, callback_group=request_group)
        self.create_timer(float(p["markers_period_s"]), self._publish_state, callback_group=ingest_group)
        if self._rooms is not None:
            self.create_timer(float(p["spatial_reload_s"]), self._reload_rooms, callback_group=ingest_group)
        self._publish_state()
        stats = self.service.stats()
        self.get_logger().info(f"memory ready: {stats.leaves} objects, {stats.nodes} clusters, "
                               f"root {self.service.root}, frame {self._map_frame!r}")

    def destroy_node(self) -> None:
        with self._lock:
            self.service.close()
        super().destroy_node()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _to_map(self, frame: str, stamp_s: float) -> np.ndarray:
        """``T_map_frame`` at ``stamp_s`` (latest when 0); ValueError when tf cannot say."""
        try:
            msg = self._tf_buffer.lookup_transform(self._map_frame, frame, Time(nanoseconds=int(stamp_s * 1e9)),
                                                   timeout=Duration(seconds=TF_WAIT_S))
        except TransformException as err:
            raise ValueError(str(err)) from err
        return conversions.transform_from_ros(msg.transform)

    def _on_observations(self, msg: Any) -> None:
        observations, refused = conversions.observations_from_ros(msg, self._map_frame, self._to_map)
        for reason in refused:
            self.get_logger().error(f"refused observation: {reason}")
        with self._lock:
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

    def _reload_rooms(self) -> None:
        """Adopt the robot's rooms file when the sensing node has written a newer one."""
        try:
            room_map = self._rooms.poll()
        except FAILURES as err:
            self.get_logger().error(f"cannot read the rooms file: {err}", throttle_duration_sec=5.0)
            return
        if room_map is None:
            return
        with self._lock:
            outcome = self.service.set_spatial(room_map)
        if not outcome.success:
            self.get_logger().error(outcome.error)
            return
        self._dirty = True
        self.get_logger().info(f"rooms from the robot's map: {len(room_map.room_ids)}")

    def _robot_pose(self, request: Any) -> Any:
        """The request's robot pose in ``map_frame``; ValueError when it cannot be used."""
        if not request.has_robot_pose:
            return None
        pose, frame, _stamp = conversions.pose_stamped_from_ros(request.robot_pose)
        if frame in ("", self._map_frame):
            return pose
        try:
            T_map_frame = self._to_map(frame, 0.0)
        except ValueError as err:
            raise ValueError(f"robot_pose frame {frame!r} cannot be transformed to {self._map_frame!r}: {err}") from err
        return conversions.pose2d_from_matrix(T_map_frame @ conversions.pose2d_to_matrix(pose))

    def _on_query(self, request: Any, response: Any) -> Any:
        try:
            robot_pose = self._robot_pose(request)
            kind = conversions.query_kind_from_ros(int(request.kind))
        except ValueError as err:
            response.success, response.error_message = False, str(err)
            return response
        with self._lock:
            outcome = self.service.query(str(request.query), kind, int(request.k), str(request.mode), robot_pose)
        response.success, response.error_message = outcome.success, outcome.error
        if not outcome.success:
            self.get_logger().warning(f"query {request.query[:80]!r}: {outcome.error}")
            return response
        result, stamp = outcome.value, self._now()
        response.answer = result.answer
        response.kind = conversions.query_kind_to_ros(result.kind)
        response.hits = [conversions.memory_hit_to_ros(hit, stamp, self._map_frame) for hit in result.hits]
        return response

    def _on_save(self, request: Any, response: Any) -> Any:
        with self._lock:
            outcome = self.service.save(str(request.path))
        return self._store_response(response, outcome)

    def _on_load(self, request: Any, response: Any) -> Any:
        with self._lock:
            outcome = self.service.load(str(request.path))
        if outcome.success:
            self._dirty = True
        return self._store_response(response, outcome)

    def _stats_msg(self) -> Any:
        with self._lock:
            stats, rejected = self.service.stats(), self.service.rejected
        return conversions.memory_stats_to_ros(stats, self._now(), rejected, self._map_frame)

    def _store_response(self, response: Any, outcome: Any) -> Any:
        response.success, response.error_message = outcome.success, outcome.error
        if outcome.success:
            response.path = str(outcome.value)
            self.get_logger().info(f"memory store: {response.path}")
        else:
            self.get_logger().error(outcome.error)
        response.stats = self._stats_msg()
        return response

    def _publish_state(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._stats_pub.publish(self._stats_msg())
        header = conversions.header_to_ros(self._map_frame, self._now())
        with self._lock:
            views = self.service.nodes(int(self.params["max_marker_leaves"]))
        self._markers_pub.publish(forest_markers(views, header))


def main(args: list[str] | None = None) -> None:
    """Run the memory node until Ctrl-C."""
    run_node(MemoryNode, "memory", args, multithreaded=True)


if __name__ == "__main__":
    main()
