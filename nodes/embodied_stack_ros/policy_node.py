"""The policy node: camera + subgoal + robot pose -> actions, with early exit.

Executes the latched ``planner/subgoal`` (an empty id means stop) at ``control_rate_hz``: a
NAVIGATE_TO subgoal runs the early-exit VLA (torch or onnxruntime) on the latest
``camera/color/image_raw`` (+ ``camera/depth/image_raw``) with the goal taken relative to the
robot pose; EXPLORE and SEARCH
subgoals turn in place. The robot pose is the latest ``odom`` (nav_msgs/Odometry) brought into
``map_frame`` through tf, or tf ``map_frame -> robot_frame`` when odometry is missing or stale.
Publishes the action on ``policy/action`` (DiscreteAction, for the
simulator) or ``cmd_vel`` (TwistStamped from the velocity head, for a real base running Jazzy's
diff_drive_controller; plain Twist with ``cmd_vel_stamped: false``), reports on
``policy/feedback`` (PROGRESS, then REACHED / FAILED / BLOCKED) and, per policy step,
``policy/exit_stats`` (exit taken, FLOPs, consistency scores).

Missing or stale images, an unknown robot pose and malformed subgoals are logged (throttled)
and the step is skipped with a zero velocity command (velocity output); the node keeps running.
On shutdown it sends a zero velocity command (or STOP) before it goes. tf is received on the
node's own executor (no listener thread).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from embodied_stack_interfaces.msg import DiscreteAction, ExitStats, Subgoal, SubgoalFeedback
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from tf2_ros import Buffer, TransformException, TransformListener

from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.errors import EmbodiedStackError
from embodied_stack.planning.types import FeedbackStatus
from embodied_stack.types import Action, AgentInput, CameraIntrinsics, Frame, Pose2D
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.agents import load_agent
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node
from embodied_stack_ros.subgoal_driver import DriverConfig, SubgoalDriver

THROTTLE_S = 5.0


class PolicyNode(Node):
    """ROS face of :class:`embodied_stack.policy.agent.PolicyAgent` and :class:`SubgoalDriver`."""

    def __init__(self) -> None:
        super().__init__("policy")
        self.params = declare_parameters(self, node_param_specs("policy"))
        p = self.params
        self.driver = SubgoalDriver(config_from_params(DriverConfig, p, self.get_name()), self._now)
        self.agent = load_agent(str(p["agent"]), str(p["budget"]), int(p["max_exit"]), str(p["embedder"]))
        self._velocity = p["output"] == "velocity"
        self._stamped = bool(p["cmd_vel_stamped"])
        self._map_frame = str(p["map_frame"])
        self._color: Any = None
        self._depth: Any = None
        self._intrinsics: CameraIntrinsics | None = None
        self._odom: tuple[Pose2D, str, float] | None = None
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self, spin_thread=False)

        if self._velocity:
            self._cmd_pub = self.create_publisher(TwistStamped if self._stamped else Twist, "cmd_vel", qos.events())
        else:
            self._action_pub = self.create_publisher(DiscreteAction, "policy/action", qos.events())
        self._feedback_pub = self.create_publisher(SubgoalFeedback, "policy/feedback", qos.events(50))
        self._stats_pub = self.create_publisher(ExitStats, "policy/exit_stats", qos.events())
        self.create_subscription(Image, "camera/color/image_raw", self._on_color, qos.SENSOR)
        self.create_subscription(Image, "camera/depth/image_raw", self._on_depth, qos.SENSOR)
        self.create_subscription(CameraInfo, "camera/color/camera_info", self._on_info, qos.SENSOR)
        self.create_subscription(Odometry, "odom", self._on_odom, qos.SENSOR)
        self.create_subscription(Subgoal, "planner/subgoal", self._on_subgoal, qos.LATCHED)
        self.create_timer(1.0 / float(p["control_rate_hz"]), self._step)
        thresholds = self.agent.thresholds
        self.get_logger().info(f"policy ready: {self.agent.model.num_exits} exits, cap {thresholds.max_exit}, "
                               f"output {p['output']}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_color(self, msg: Any) -> None:
        self._color = msg

    def _on_depth(self, msg: Any) -> None:
        self._depth = msg

    def _on_info(self, msg: Any) -> None:
        try:
            self._intrinsics = conversions.camera_info_from_ros(msg)
        except ValueError as err:
            self.get_logger().error(f"ignored camera_info: {err}", throttle_duration_sec=THROTTLE_S)

    def _on_odom(self, msg: Any) -> None:
        try:
            pose, _v, _w, frame, stamp = conversions.odometry_from_ros(msg)
        except ValueError as err:
            self.get_logger().error(f"ignored odom: {err}", throttle_duration_sec=THROTTLE_S)
            return
        self._odom = (pose, frame, stamp)

    def _on_subgoal(self, msg: Any) -> None:
        try:
            subgoal = conversions.subgoal_from_ros(msg)
        except ValueError as err:
            self.get_logger().error(f"ignored planner/subgoal {msg.id!r}: {err}")
            return
        if not self.driver.start(subgoal, self._robot_pose()):
            return
        if subgoal is None:
            self._publish_action(Action.STOP, "")
            return
        goal = self.driver.goal_xy
        if goal is not None:
            self.agent.reset(subgoal.label or subgoal.query, np.array(goal))
        self.get_logger().info(f"subgoal {subgoal.id} (attempt {subgoal.attempts}): {subgoal.type.name} "
                               f"'{subgoal.label}'")

    def _lookup(self, frame: str) -> Any:
        msg = self._tf_buffer.lookup_transform(self._map_frame, frame, Time())
        return conversions.transform_from_ros(msg.transform)

    def _robot_pose(self) -> Pose2D | None:
        """The robot in ``map_frame``: fresh odometry moved through tf, else tf of ``robot_frame``."""
        try:
            if self._odom is not None and self._now() - self._odom[2] <= float(self.params["sensor_timeout_s"]):
                pose, frame, _stamp = self._odom
                if frame == self._map_frame:
                    return pose
                return conversions.pose2d_from_matrix(self._lookup(frame) @ conversions.pose2d_to_matrix(pose))
            return conversions.pose2d_from_matrix(self._lookup(str(self.params["robot_frame"])))
        except (TransformException, ValueError) as err:
            self.get_logger().warning(f"robot pose unknown: {err}", throttle_duration_sec=THROTTLE_S)
            return None

    def _frame(self, pose: Pose2D) -> Frame | None:
        """The latest camera frame, or None (logged) when it is missing, stale or malformed."""
        log = self.get_logger()
        if self._color is None or self._intrinsics is None:
            log.warning("waiting for camera/color/image_raw and camera_info", throttle_duration_sec=THROTTLE_S)
            return None
        stamp = conversions.time_from_ros(self._color.header.stamp)
        if self._now() - stamp > float(self.params["sensor_timeout_s"]):
            log.warning(f"camera image is {self._now() - stamp:.2f} s old; not acting on it",
                        throttle_duration_sec=THROTTLE_S)
            return None
        try:
            rgb = conversions.rgb_from_ros(self._color)
            depth = conversions.depth_from_ros(self._depth) if self._depth is not None else None
            camera_pose = self._lookup(str(self._color.header.frame_id))
        except (MalformedMessageError, TransformException, ValueError) as err:
            log.error(f"cannot use the camera frame: {err}", throttle_duration_sec=THROTTLE_S)
            return None
        if depth is None or depth.shape != rgb.shape[:2]:
            depth = np.zeros(rgb.shape[:2], dtype=np.float32)
        return Frame(rgb, depth, self._intrinsics, camera_pose, pose, stamp)

    def _step(self) -> None:
        subgoal = self.driver.active
        if subgoal is None:
            return
        pose = self._robot_pose()
        if pose is None:
            self._hold()
            return
        action = None
        if self.driver.needs_policy:
            frame = self._frame(pose)
            if frame is None:
                self._hold()
                return
            goal = np.array(self.driver.goal_xy)
            started = time.perf_counter()
            try:
                action = self.agent.act(AgentInput(frame, pose, goal, subgoal.label))
            except (EmbodiedStackError, ValueError, RuntimeError) as err:
                self.get_logger().error(f"policy step failed: {err}", throttle_duration_sec=THROTTLE_S)
                self._hold()
                return
            policy_ms = 1000.0 * (time.perf_counter() - started)
            self._stats_pub.publish(conversions.exit_stats_to_ros(
                self.agent.last_step, self.agent.stats, self.agent.thresholds, self.agent.flops.full_trunk,
                policy_ms, self._now(), self._map_frame))
        chosen, feedback = self.driver.step(pose, action)
        if chosen is not None:
            self._publish_action(chosen, subgoal.id)
        if feedback is not None:
            self._feedback_pub.publish(conversions.subgoal_feedback_to_ros(feedback, self._map_frame))
            if feedback.status != FeedbackStatus.PROGRESS:
                self.get_logger().info(f"subgoal {subgoal.id}: {feedback.status.name} ({feedback.message})")

    def _hold(self) -> None:
        """A skipped step: a real base must not keep its last command, so send zero velocity."""
        if self._velocity:
            self._publish_velocity(0.0, 0.0)

    def on_shutdown(self) -> None:
        """Stop the robot before the node goes (called by :func:`run_node` while ROS still runs)."""
        subgoal_id = self.driver.active.id if self.driver.active is not None else ""
        self._publish_action(Action.STOP, subgoal_id)

    def _publish_velocity(self, v: float, w: float) -> None:
        if self._stamped:
            self._cmd_pub.publish(conversions.twist_stamped_to_ros(v, w, str(self.params["robot_frame"]), self._now()))
        else:
            self._cmd_pub.publish(conversions.twist_to_ros(v, w))

    def _publish_action(self, action: Action, subgoal_id: str) -> None:
        if not self._velocity:
            self._action_pub.publish(conversions.action_to_ros(action, subgoal_id, self._now(), self._map_frame))
            return
        max_v, max_w = float(self.params["max_linear_mps"]), float(self.params["max_angular_radps"])
        if action == Action.STOP:
            v, w = 0.0, 0.0
        elif self.driver.needs_policy:
            v, w = self.agent.velocity_command()
        else:
            v, w = 0.0, max_w if action == Action.TURN_LEFT else -max_w
        self._publish_velocity(min(max(v, -max_v), max_v), min(max(w, -max_w), max_w))


def main(args: list[str] | None = None) -> None:
    """Run the policy node until Ctrl-C."""
    run_node(PolicyNode, "policy", args)


if __name__ == "__main__":
    main()
