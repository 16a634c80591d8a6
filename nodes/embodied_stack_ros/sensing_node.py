"""The sensing node: camera colour + depth + camera_info + tf -> object observations in ``map_frame``.

Subscribes (best-effort sensor QoS) to ``camera/color/image_raw``, ``camera/depth/image_raw``
(depth registered to the colour camera, 16UC1 mm or 32FC1 m) and ``camera/color/camera_info``;
with a simulator detector (``sim:PRESET``, the simulated detector with realistic errors and no
instance ids, the default; or ``semantic``, the ground-truth oracle) also to
``camera/instance/image_raw`` (32SC1) and the latched ``camera/instances`` table; with the ``vision_msgs`` detector to ``detections_2d``
(vision_msgs/Detection2DArray of the robot's own detector, paired with the images by stamp).
At most ``max_rate_hz`` times a second it takes the newest complete frame, looks up
``map_frame <- image frame`` in tf at the image stamp (never blocking: a frame whose pose is not
there yet waits for a later tick, up to ``tf_timeout_s``), runs the perception pipeline
(detection, back-projection, fusion) and publishes what changed on ``memory/observations``
(ObjectObservationArray). With ``rooms_file`` set it also builds the robot's own floor plan from
every processed depth frame at its tf pose (:class:`~embodied_stack_ros.sensing.RobotMap`), and
every ``rooms_period_s`` segments it into rooms typed from the confirmed tracks and writes them
there for the memory node (``spatial: rooms:FILE``). Every ``republish_period_s`` it publishes the whole confirmed track
state again, so a memory that starts later still learns what the robot sees while it stands
still. With ``detections_3d`` it also forwards ``detections_3d`` (vision_msgs/Detection3DArray)
as observations moved into ``map_frame``.

Malformed images, a missing camera_info or instance table, and unknown frames are logged
(throttled) and the frame is skipped; the node keeps running. tf is received on the node's own
executor (no listener thread).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from embodied_stack_interfaces.msg import InstanceInfoArray, ObjectObservationArray
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from tf2_ros import Buffer, TransformException, TransformListener
from vision_msgs.msg import Detection2DArray, Detection3DArray

from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.perception import (
    PerceptionConfig,
    PerceptionError,
    PerceptionPipeline,
    simulator_detector,
)
from embodied_stack.perception.errors import ConfigError
from embodied_stack.perception.labels import LabelSimilarity
from embodied_stack.types import CameraIntrinsics
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.errors import ParameterError
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node
from embodied_stack_ros.sensing import (
    FrameAssembler,
    FrameMessages,
    RobotMap,
    decode_frame,
    make_captioner,
    make_detector,
    needs_instances,
)

THROTTLE_S = 5.0


class SensingNode(Node):
    """ROS face of :class:`embodied_stack.perception.PerceptionPipeline`."""

    def __init__(self) -> None:
        super().__init__("sensing")
        self.params = declare_parameters(self, node_param_specs("sensing"))
        p = self.params
        config: PerceptionConfig = config_from_params(PerceptionConfig, p, self.get_name())
        self._map_frame = str(p["map_frame"])
        self._semantic = needs_instances(str(p["detector"]))
        self._external = p["detector"] == "vision_msgs"
        embed = self._embedder(str(p["embedder"]))
        self.pipeline = PerceptionPipeline(config, make_detector(str(p["detector"]), list(p["vocabulary"])),
                                           make_captioner(str(p["captioner"])), similarity=LabelSimilarity(embed))
        self._rooms_file = str(p["rooms_file"])
        self.robot_map = RobotMap(float(p["camera_height_m"]), float(p["robot_radius_m"]), embed) \
            if self._rooms_file else None
        self._frames = FrameAssembler(float(p["sync_tolerance_s"]), need_instance=self._semantic,
                                      need_detections=self._external)
        self._waiting: FrameMessages | None = None
        self._intrinsics: CameraIntrinsics | None = None
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self, spin_thread=False)
        self._pub = self.create_publisher(ObjectObservationArray, "memory/observations", qos.OBSERVATIONS)

        self.create_subscription(Image, "camera/color/image_raw", lambda m: self._add("color", m), qos.SENSOR)
        self.create_subscription(Image, "camera/depth/image_raw", lambda m: self._add("depth", m), qos.SENSOR)
        self.create_subscription(CameraInfo, "camera/color/camera_info", self._on_info, qos.SENSOR)
        if self._semantic:
            self.create_subscription(Image, "camera/instance/image_raw", lambda m: self._add("instance", m),
                                     qos.SENSOR)
            self.create_subscription(InstanceInfoArray, "camera/instances", self._on_instances, qos.LATCHED)
        if self._external:
            self.create_subscription(Detection2DArray, "detections_2d", lambda m: self._add("detections", m),
                                     qos.SENSOR)
        if p["detections_3d"]:
            self.create_subscription(Detection3DArray, "detections_3d", self._on_detections_3d, qos.SENSOR)
        self.create_timer(1.0 / float(p["max_rate_hz"]), self._process)
        if float(p["republish_period_s"]) > 0.0:
            self.create_timer(float(p["republish_period_s"]), self._republish)
        if self.robot_map is not None:
            self.create_timer(float(p["rooms_period_s"]), self._write_rooms)
        self.get_logger().info(f"sensing with detector {p['detector']!r} into {self._map_frame!r}")

    def _embedder(self, spec: str) -> Any:
        """The text embedder's ``embed`` (label similarity in fusion, room types), loaded offline."""
        from embodied_stack.errors import EmbodiedStackError
        from embodied_stack.text.embedders import load_embedder

        try:
            return load_embedder(spec).embed
        except (EmbodiedStackError, OSError, ValueError, ImportError) as err:
            raise ParameterError(f"sensing: parameter 'embedder' is {spec!r}: {err}") from err

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _add(self, kind: str, msg: Any) -> None:
        self._frames.add(kind, conversions.time_from_ros(msg.header.stamp), msg)

    def _on_info(self, msg: Any) -> None:
        try:
            self._intrinsics = conversions.camera_info_from_ros(msg)
        except ValueError as err:
            self.get_logger().error(f"ignored camera_info: {err}", throttle_duration_sec=THROTTLE_S)

    def _on_instances(self, msg: Any) -> None:
        table = conversions.instances_from_ros(msg)
        try:
            self.pipeline.detector = simulator_detector(str(self.params["detector"]), table,
                                                        seed=int(self.params["detector_seed"]))
        except ConfigError as err:
            self.get_logger().error(f"no detector: {err}", throttle_duration_sec=THROTTLE_S)
            return
        self.get_logger().info(f"instance table: {len(table)} objects")

    def _to_map(self, frame: str, stamp_s: float) -> np.ndarray:
        """``T_map_frame`` at ``stamp_s`` if tf has it now; ValueError otherwise (never waits)."""
        try:
            msg = self._tf_buffer.lookup_transform(self._map_frame, frame, Time(nanoseconds=int(stamp_s * 1e9)))
        except TransformException as err:
            raise ValueError(str(err)) from err
        return conversions.transform_from_ros(msg.transform)

    def _publish(self, observations: list[Any], stamp_s: float) -> None:
        if observations:
            self._pub.publish(conversions.observations_to_ros(observations, stamp_s, self._map_frame))

    def _write_rooms(self) -> None:
        """Segment the robot's map into rooms typed from the confirmed tracks; write them."""
        try:
            info = self.robot_map.write_rooms(list(self.pipeline.fusion.confirmed), self._rooms_file)
        except OSError as err:
            self.get_logger().error(f"cannot write the rooms to {self._rooms_file!r}: {err}",
                                    throttle_duration_sec=THROTTLE_S)
            return
        if info is not None:
            names = ", ".join(r["name"] or r["id"] for r in info["rooms"])
            self.get_logger().debug(f"rooms: {names}")

    def _republish(self) -> None:
        observations = self.pipeline.current_observations()
        self._publish(observations, self._now())

    def _on_detections_3d(self, msg: Any) -> None:
        observations, refused = conversions.detections_3d_from_ros(msg, self._map_frame, self._to_map)
        for reason in refused:
            self.get_logger().warning(f"refused 3D detection: {reason}", throttle_duration_sec=THROTTLE_S)
        self._publish(observations, conversions.time_from_ros(msg.header.stamp))

    def _next_frame(self) -> FrameMessages | None:
        """The frame waiting for its tf if it is still young enough, else the newest complete one."""
        newest = self._frames.pop()
        if newest is not None:
            self._waiting = newest
        return self._waiting

    def _process(self) -> None:
        frame = self._next_frame()
        if frame is None:
            return
        log = self.get_logger()
        if self._intrinsics is None:
            log.warning("no camera_info yet; skipping frames", throttle_duration_sec=THROTTLE_S)
            return
        if self._semantic and self.pipeline.detector is None:
            log.warning("no instance table on camera/instances yet; skipping frames", throttle_duration_sec=THROTTLE_S)
            return
        camera_frame = str(frame.color.header.frame_id)
        try:
            T_map_camera = self._to_map(camera_frame, frame.stamp_s)
        except ValueError as err:
            if self._now() - frame.stamp_s > float(self.params["tf_timeout_s"]):
                self._waiting = None
                log.warning(f"no pose for camera frame {camera_frame!r} at t={frame.stamp_s:.3f}: {err}",
                            throttle_duration_sec=THROTTLE_S)
            return
        self._waiting = None
        self._perceive(frame, T_map_camera)

    def _perceive(self, frame: FrameMessages, T_map_camera: np.ndarray) -> None:
        log = self.get_logger()
        detections = None
        try:
            rgb, depth, instance = decode_frame(frame)
            if frame.detections is not None:
                detections, refused = conversions.detections_2d_from_ros(frame.detections)
                for reason in refused:
                    log.warning(f"refused 2D detection: {reason}", throttle_duration_sec=THROTTLE_S)
        except MalformedMessageError as err:
            log.error(f"skipped a malformed frame: {err}", throttle_duration_sec=THROTTLE_S)
            return
        try:
            observations = self.pipeline.process(rgb, depth, self._intrinsics, T_map_camera, frame.stamp_s,
                                                 instance=instance, detections=detections)
        except PerceptionError as err:
            log.error(f"perception failed on a frame: {err}", throttle_duration_sec=THROTTLE_S)
            return
        if self.robot_map is not None:
            self.robot_map.integrate(depth, self._intrinsics, T_map_camera)
        self._publish(observations, frame.stamp_s)
        if observations:
            log.debug(f"{len(observations)} observation(s); {self.pipeline.stats.to_dict()}")


def main(args: list[str] | None = None) -> None:
    """Run the sensing node until Ctrl-C."""
    run_node(SensingNode, "sensing", args)


if __name__ == "__main__":
    main()
