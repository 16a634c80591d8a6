"""The simulator bridge: runs the embedded simulator (or Habitat) and speaks ROS for it.

Every tick (``rate_hz`` in simulated time, paced by ``real_time_factor`` in wall time) it
applies the oldest queued discrete action from ``policy/action`` or, failing that, the latest
``cmd_vel`` (zero after ``cmd_vel_timeout_s``), renders, and publishes, all stamped with the
simulated time: ``/clock``, tf ``map -> odom -> base_link`` (and the static camera mount),
``odom``, ``camera/color/image_raw`` + ``camera/color/camera_info``,
``camera/depth/image_raw`` (registered to colour), ``camera/instance/image_raw`` (32SC1) and,
latched, ``camera/instances`` (what each instance id is). ``sim/reset`` (std_srvs/Trigger)
puts the robot back at its start. ``cmd_vel`` is TwistStamped (``cmd_vel_stamped``, the default)
or Twist. Sensor streams are published reliable (REP-2003); subscribers use best effort.

With ``explore`` the frontier explorer (:mod:`embodied_stack_ros.sim_explore`) drives the robot
whenever no policy action or velocity command arrived for ``explore_idle_s``, so the memory
fills on its own; a task takes over at once and exploration resumes after it.

The bridge keeps its own clock: it never uses sim time itself (its timer runs on the steady
clock), so ``use_sim_time`` is ignored here; the other nodes should set it.
"""

from __future__ import annotations

import collections
import math
import time
from typing import Any

from embodied_stack_interfaces.msg import DiscreteAction, InstanceInfoArray
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger
from tf2_ros import StaticTransformBroadcaster, TransformBroadcaster

from embodied_stack.errors import EmbodiedStackError
from embodied_stack.sim.embedded import SimConfig
from embodied_stack.sim.envs import make_env
from embodied_stack.types import Action, Frame, Pose2D
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.errors import ParameterError
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node
from embodied_stack_ros.sim_explore import BackgroundExplorer
from embodied_stack_ros.sim_frames import camera_mount, planar_velocity

MAX_QUEUED_ACTIONS = 10


class SimBridgeNode(Node):
    """ROS face of :class:`embodied_stack.sim.embedded.EmbeddedSim`."""

    def __init__(self) -> None:
        super().__init__("sim_bridge")
        self.params = declare_parameters(self, node_param_specs("sim_bridge"))
        p = self.params
        config: SimConfig = config_from_params(SimConfig, p, self.get_name())
        if not p["scene"]:
            raise ParameterError("sim_bridge: parameter 'scene' is empty; give a scene/1 JSON file "
                                 "(or habitat:CONFIG.yaml)")
        if len(p["start_pose"]) != 3:
            raise ParameterError(f"sim_bridge: parameter 'start_pose' is {p['start_pose']}; expected [x, y, yaw]")
        try:
            self.env = make_env(str(p["scene"]), config=config)
        except (EmbodiedStackError, OSError, ValueError) as err:
            raise ParameterError(f"sim_bridge: cannot load scene {p['scene']!r}: {err}") from err
        self._start = Pose2D(*p["start_pose"]) if p["use_start_pose"] else None
        self._dt = 1.0 / float(p["rate_hz"])
        self._t = float(p["start_time_s"]) if float(p["start_time_s"]) >= 0.0 else time.time()
        self._actions: collections.deque[Action] = collections.deque(maxlen=MAX_QUEUED_ACTIONS)
        self._cmd = (0.0, 0.0)
        self._cmd_wall = -math.inf
        self._commanded_wall = -math.inf
        self._explorer: BackgroundExplorer | None = None

        self._clock_pub = self.create_publisher(ClockMsg, "/clock", qos.CLOCK) if p["publish_clock"] else None
        self._color_pub = self.create_publisher(Image, "camera/color/image_raw", qos.SENSOR_PUB)
        self._info_pub = self.create_publisher(CameraInfo, "camera/color/camera_info", qos.SENSOR_PUB)
        self._depth_pub = self.create_publisher(Image, "camera/depth/image_raw", qos.SENSOR_PUB)
        self._instance_pub = self.create_publisher(Image, "camera/instance/image_raw", qos.SENSOR_PUB)
        self._table_pub = self.create_publisher(InstanceInfoArray, "camera/instances", qos.LATCHED)
        self._odom_pub = self.create_publisher(Odometry, "odom", qos.SENSOR_PUB)
        self._tf = TransformBroadcaster(self)
        self._tf_static = StaticTransformBroadcaster(self)
        self.create_subscription(TwistStamped if p["cmd_vel_stamped"] else Twist, "cmd_vel", self._on_cmd_vel,
                                 qos.events())
        self.create_subscription(DiscreteAction, "policy/action", self._on_action, qos.events())
        self.create_service(Trigger, "sim/reset", self._on_reset)

        try:
            self._frame = self._reset()
        except (EmbodiedStackError, ValueError) as err:
            raise ParameterError(f"sim_bridge: cannot place the robot (start_pose {p['start_pose']}): {err}") from err
        if p["explore"]:
            self._explorer = BackgroundExplorer(self.env, lambda: self._frame, self.get_logger().info)
            self._explorer.start()
        period = self._dt / float(p["real_time_factor"])
        self.create_timer(period, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f"simulating {p['scene']} at {p['rate_hz']:g} Hz ({config.width}x{config.height}), "
            f"robot at ({self.env.agent_pose.x:.2f}, {self.env.agent_pose.y:.2f})"
        )

    def _reset(self) -> Frame:
        frame = self.env.reset(self._start)
        base_link, link_optical = camera_mount(frame.camera_pose, frame.agent_pose)
        p = self.params
        self._tf_static.sendTransform([
            conversions.transform_stamped_to_ros(conversions.pose2d_to_matrix(Pose2D(0.0, 0.0)),
                                                 p["map_frame"], p["odom_frame"], self._t),
            conversions.transform_stamped_to_ros(base_link, p["base_frame"], p["camera_frame"], self._t),
            conversions.transform_stamped_to_ros(link_optical, p["camera_frame"], p["optical_frame"], self._t),
        ])
        self._table_pub.publish(conversions.instances_to_ros(self.env.instances, self._t, p["map_frame"]))
        self._actions.clear()
        self._publish(frame, (0.0, 0.0))
        return frame

    def _on_cmd_vel(self, msg: Any) -> None:
        try:
            self._cmd = conversions.velocity_from_ros(msg)
            self._cmd_wall = time.monotonic()
            if self._cmd != (0.0, 0.0):
                self._commanded_wall = self._cmd_wall
        except ValueError as err:
            self.get_logger().error(f"ignored cmd_vel: {err}")

    def _on_action(self, msg: Any) -> None:
        try:
            action, _subgoal = conversions.action_from_ros(msg)
        except ValueError as err:
            self.get_logger().error(f"ignored policy/action: {err}")
            return
        self._commanded_wall = time.monotonic()
        if len(self._actions) == self._actions.maxlen:
            self.get_logger().warning("policy/action queue full; dropping the oldest action")
        self._actions.append(action)

    def _on_reset(self, _request: Any, response: Any) -> Any:
        try:
            self._frame = self._reset()
        except (EmbodiedStackError, ValueError) as err:
            response.success, response.message = False, f"reset failed: {err}"
            return response
        pose = self.env.agent_pose
        response.success, response.message = True, f"robot at ({pose.x:.2f}, {pose.y:.2f}, yaw {pose.yaw:.2f})"
        return response

    def _tick(self) -> None:
        self._t += self._dt
        before = self.env.agent_pose
        if self._actions:
            result = self.env.step(self._actions.popleft())
        elif time.monotonic() - self._cmd_wall <= float(self.params["cmd_vel_timeout_s"]) and self._cmd != (0.0, 0.0):
            result = self.env.step_velocity(self._cmd[0], self._cmd[1], self._dt)
        elif self._explorer is not None and self._exploring():
            result = self._explorer.step(self.env)
        else:
            result = None
        if result is not None:
            self._frame = result.frame
            if result.collided:
                self.get_logger().debug("collision")
        self._publish(self._frame, planar_velocity(before, self.env.agent_pose, self._dt))

    def _exploring(self) -> bool:
        return time.monotonic() - self._commanded_wall > float(self.params["explore_idle_s"])

    def on_shutdown(self) -> None:
        """Stop the explorer's thread (called by :func:`run_node` before the node is destroyed)."""
        if self._explorer is not None:
            self._explorer.stop()

    def _publish(self, frame: Frame, twist: tuple[float, float]) -> None:
        p, t = self.params, self._t
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=conversions.time_to_ros(t)))
        pose = self.env.agent_pose
        odom_base = conversions.pose2d_to_matrix(pose)
        self._tf.sendTransform(conversions.transform_stamped_to_ros(odom_base, p["odom_frame"], p["base_frame"], t))
        self._odom_pub.publish(conversions.odometry_to_ros(pose, twist[0], twist[1], p["odom_frame"],
                                                           p["base_frame"], t))
        optical = p["optical_frame"]
        self._color_pub.publish(conversions.image_to_ros(frame.rgb, optical, t))
        self._info_pub.publish(conversions.camera_info_to_ros(frame.intrinsics, optical, t))
        self._depth_pub.publish(conversions.image_to_ros(frame.depth, optical, t, p["depth_encoding"]))
        if frame.instance is not None:
            self._instance_pub.publish(conversions.image_to_ros(frame.instance.astype("int32"), optical, t))


def main(args: list[str] | None = None) -> None:
    """Run the simulator bridge until Ctrl-C."""
    run_node(SimBridgeNode, "sim_bridge", args)


if __name__ == "__main__":
    main()
