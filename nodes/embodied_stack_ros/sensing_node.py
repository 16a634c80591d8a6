"""The sensing node: camera colour + depth + camera_info + tf -> object observations in ``map``.

Subscribes (sensor-data QoS) to ``camera/color/image_raw``, ``camera/depth/image_raw`` (depth
registered to the colour camera, 16UC1 mm or 32FC1 m) and ``camera/color/camera_info``; with
the ``semantic`` detector also to ``camera/instance/image_raw`` (32SC1) and the latched
``camera/instances`` table. At most ``max_rate_hz`` times a second it takes the newest complete
frame, looks up ``map_frame <- image frame`` in tf at the image stamp, runs the perception
pipeline (detection, back-projection, fusion) and publishes what changed on
``memory/observations`` (ObjectObservationArray, reliable).

Malformed images, a missing camera_info or instance table, and unknown frames are logged
(throttled) and the frame is skipped; the node keeps running.
"""

from __future__ import annotations

from typing import Any

from embodied_stack_interfaces.msg import InstanceInfoArray, ObjectObservationArray
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from tf2_ros import Buffer, TransformException, TransformListener

from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.perception import (
    PerceptionConfig,
    PerceptionError,
    PerceptionPipeline,
    SemanticSensorDetector,
)
from embodied_stack.sim.env import CameraIntrinsics
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node
from embodied_stack_ros.sensing import FrameAssembler, decode_frame, make_captioner, make_detector

THROTTLE_S = 5.0


class SensingNode(Node):
    """ROS face of :class:`embodied_stack.perception.PerceptionPipeline`."""

    def __init__(self) -> None:
        super().__init__("sensing")
        self.params = declare_parameters(self, node_param_specs("sensing"))
        p = self.params
        config: PerceptionConfig = config_from_params(PerceptionConfig, p, self.get_name())
        self._semantic = p["detector"] == "semantic"
        self.pipeline = PerceptionPipeline(config, make_detector(str(p["detector"]), list(p["vocabulary"])),
                                           make_captioner(str(p["captioner"])))
        self._frames = FrameAssembler(float(p["sync_tolerance_s"]), need_instance=self._semantic)
        self._intrinsics: CameraIntrinsics | None = None
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self, spin_thread=True)
        self._pub = self.create_publisher(ObjectObservationArray, "memory/observations", qos.events(50))

        self.create_subscription(Image, "camera/color/image_raw", lambda m: self._add("color", m), qos.SENSOR)
        self.create_subscription(Image, "camera/depth/image_raw", lambda m: self._add("depth", m), qos.SENSOR)
        self.create_subscription(CameraInfo, "camera/color/camera_info", self._on_info, qos.SENSOR)
        if self._semantic:
            self.create_subscription(Image, "camera/instance/image_raw", lambda m: self._add("instance", m),
                                     qos.SENSOR)
            self.create_subscription(InstanceInfoArray, "camera/instances", self._on_instances, qos.LATCHED)
        self.create_timer(1.0 / float(p["max_rate_hz"]), self._process)
        self.get_logger().info(f"sensing with detector {p['detector']!r} into {p['map_frame']!r}")

    def _add(self, kind: str, msg: Any) -> None:
        self._frames.add(kind, conversions.time_from_ros(msg.header.stamp), msg)

    def _on_info(self, msg: Any) -> None:
        try:
            self._intrinsics = conversions.camera_info_from_ros(msg)
        except ValueError as err:
            self.get_logger().error(f"ignored camera_info: {err}", throttle_duration_sec=THROTTLE_S)

    def _on_instances(self, msg: Any) -> None:
        table = conversions.instances_from_ros(msg)
        self.pipeline.detector = SemanticSensorDetector(instances=table)
        self.get_logger().info(f"instance table: {len(table)} objects")

    def _process(self) -> None:
        frame = self._frames.pop()
        if frame is None:
            return
        log = self.get_logger()
        if self._intrinsics is None:
            log.warning("no camera_info yet; skipping frames", throttle_duration_sec=THROTTLE_S)
            return
        if self.pipeline.detector is None:
            log.warning("no instance table on camera/instances yet; skipping frames", throttle_duration_sec=THROTTLE_S)
            return
        try:
            rgb, depth, instance = decode_frame(frame)
        except MalformedMessageError as err:
            log.error(f"skipped a malformed frame: {err}", throttle_duration_sec=THROTTLE_S)
            return
        camera_frame = str(frame.color.header.frame_id)
        try:
            msg = self._tf_buffer.lookup_transform(self.params["map_frame"], camera_frame,
                                                   Time.from_msg(frame.color.header.stamp),
                                                   timeout=Duration(seconds=float(self.params["tf_timeout_s"])))
            T_map_camera = conversions.transform_from_ros(msg.transform)
        except (TransformException, ValueError) as err:
            log.warning(f"no pose for camera frame {camera_frame!r} at t={frame.stamp_s:.3f}: {err}",
                        throttle_duration_sec=THROTTLE_S)
            return
        try:
            observations = self.pipeline.process(rgb, depth, self._intrinsics, T_map_camera, frame.stamp_s,
                                                 instance=instance)
        except PerceptionError as err:
            log.error(f"perception failed on a frame: {err}", throttle_duration_sec=THROTTLE_S)
            return
        if observations:
            self._pub.publish(conversions.observations_to_ros(observations, frame.stamp_s))
            log.debug(f"{len(observations)} observation(s); {self.pipeline.stats.to_dict()}")


def main(args: list[str] | None = None) -> None:
    """Run the sensing node until Ctrl-C."""
    run_node(SensingNode, "sensing", args)


if __name__ == "__main__":
    main()
