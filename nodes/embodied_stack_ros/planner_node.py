"""The planner node: the ExecuteTask action server, a client of the memory, the policy's boss.

Serves ``planner/execute`` (ExecuteTask): the instruction is split into subgoals grounded in
the memory (``memory/query``), each subgoal is published latched on ``planner/subgoal`` for the
policy, whose reports arrive on ``policy/feedback``; ``planner/plan`` and ``planner/status``
(latched) follow every change, and ``planner/target_pose`` (PoseStamped, latched) shows where
the active subgoal leads (for RViz). One goal runs at a time (others are rejected); cancel stops
the policy with an empty subgoal. The robot pose for ranking comes from tf
(``map_frame`` -> ``robot_frame``).

Threads: a MultiThreadedExecutor; the action runs in its own reentrant group and blocks on
the memory client and the feedback subscription, which live in other groups, so the
responses are delivered while it waits.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from embodied_stack_interfaces.action import ExecuteTask
from embodied_stack_interfaces.msg import Plan as PlanMsg
from embodied_stack_interfaces.msg import PlannerStatus as PlannerStatusMsg
from embodied_stack_interfaces.msg import Subgoal as SubgoalMsg
from embodied_stack_interfaces.msg import SubgoalFeedback as SubgoalFeedbackMsg
from embodied_stack_interfaces.srv import QueryMemory
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.time import Time
from tf2_ros import Buffer, TransformException, TransformListener

from embodied_stack.planning.planner import Planner, PlannerConfig
from embodied_stack.planning.types import PlannerState, PlannerStatus, Subgoal, SubgoalFeedback
from embodied_stack.sim.env import Pose2D
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.errors import ServiceCallError
from embodied_stack_ros.execution import ExecutionHooks, ServiceMemory, TaskExecution
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node


class PlannerNode(Node):
    """ExecuteTask action server around :class:`embodied_stack.planning.planner.Planner`."""

    def __init__(self) -> None:
        super().__init__("planner")
        self.params = declare_parameters(self, node_param_specs("planner"))
        self.config: PlannerConfig = config_from_params(PlannerConfig, self.params, self.get_name())
        self._feedback: queue.Queue[SubgoalFeedback] = queue.Queue()
        self._busy = threading.Lock()

        self._plan_pub = self.create_publisher(PlanMsg, "planner/plan", qos.LATCHED)
        self._subgoal_pub = self.create_publisher(SubgoalMsg, "planner/subgoal", qos.LATCHED)
        self._status_pub = self.create_publisher(PlannerStatusMsg, "planner/status", qos.LATCHED)
        self._target_pub = self.create_publisher(PoseStamped, "planner/target_pose", qos.LATCHED)
        self.create_subscription(SubgoalFeedbackMsg, "policy/feedback", self._on_feedback, qos.events(50),
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self._query = self.create_client(QueryMemory, "memory/query", callback_group=MutuallyExclusiveCallbackGroup())
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self)
        self._memory = ServiceMemory(self._call_query, QueryMemory.Request, str(self.params["map_frame"]), self._now)
        self._server = ActionServer(
            self, ExecuteTask, "planner/execute", execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        self._status_pub.publish(conversions.planner_status_to_ros(
            PlannerStatus("", PlannerState.IDLE, message="idle", timestamp=self._now())))
        self.get_logger().info(f"planner ready; memory client of {self._query.srv_name}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_goal(self, goal: Any) -> GoalResponse:
        if self._busy.locked():
            self.get_logger().warning(f"rejected {goal.instruction!r}: a task is running (cancel it first)")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_feedback(self, msg: Any) -> None:
        try:
            self._feedback.put(conversions.subgoal_feedback_from_ros(msg))
        except ValueError as err:
            self.get_logger().error(f"ignored policy/feedback for {msg.subgoal_id!r}: {err}")

    def _wait_feedback(self, subgoal_id: str, timeout_s: float) -> SubgoalFeedback | None:
        try:
            feedback = self._feedback.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if feedback.subgoal_id != subgoal_id:
            self.get_logger().debug(f"dropped feedback for {feedback.subgoal_id!r} (active: {subgoal_id!r})")
            return None
        return feedback

    def _call_query(self, request: Any) -> Any:
        if not self._query.wait_for_service(timeout_sec=float(self.params["wait_for_memory_s"])):
            raise ServiceCallError(f"service {self._query.srv_name} is not available (is the memory node running?)")
        done = threading.Event()
        future = self._query.call_async(request)
        future.add_done_callback(lambda _future: done.set())
        timeout = float(self.params["query_timeout_s"])
        if not done.wait(timeout):
            self._query.remove_pending_request(future)
            raise ServiceCallError(f"{self._query.srv_name} did not answer within {timeout:g} s")
        response = future.result()
        if response is None:
            raise ServiceCallError(f"{self._query.srv_name} call failed: {future.exception()}")
        return response

    def _robot_pose(self) -> Pose2D | None:
        try:
            msg = self._tf_buffer.lookup_transform(self.params["map_frame"], self.params["robot_frame"], Time())
            return conversions.pose2d_from_matrix(conversions.transform_from_ros(msg.transform))
        except (TransformException, ValueError) as err:
            self.get_logger().warning(f"robot pose unknown ({err}); the memory ranks without it")
            return None

    def _publish_subgoal(self, subgoal: Subgoal | None) -> None:
        while not self._feedback.empty():
            self._feedback.get_nowait()
        self._subgoal_pub.publish(conversions.subgoal_to_ros(subgoal, self._now()))
        if subgoal is not None and subgoal.target_pose is not None:
            self._target_pub.publish(conversions.pose_stamped_to_ros(subgoal.target_pose, self.params["map_frame"],
                                                                     self._now()))

    def _execute(self, goal_handle: Any) -> Any:
        with self._busy:
            instruction = str(goal_handle.request.instruction)
            self.get_logger().info(f"task: {instruction!r}")

            def report(status: PlannerStatus, subgoal: Subgoal | None, index: int, count: int,
                       feedback: SubgoalFeedback | None) -> None:
                msg = ExecuteTask.Feedback()
                msg.status = conversions.planner_status_to_ros(status)
                msg.subgoal = conversions.subgoal_to_ros(subgoal, self._now())
                msg.subgoal_index = index
                msg.subgoal_count = count
                if feedback is not None:
                    msg.subgoal_feedback = conversions.subgoal_feedback_to_ros(feedback)
                goal_handle.publish_feedback(msg)

            hooks = ExecutionHooks(
                publish_plan=lambda plan: self._plan_pub.publish(conversions.plan_to_ros(plan, self._now())),
                publish_subgoal=self._publish_subgoal,
                publish_status=lambda status: self._status_pub.publish(conversions.planner_status_to_ros(status)),
                wait_feedback=self._wait_feedback,
                report=report,
                is_canceled=lambda: goal_handle.is_cancel_requested,
            )
            planner = Planner(self._memory, self.config, clock=self._now)
            outcome = TaskExecution(planner, hooks, float(self.params["subgoal_timeout_s"])).run(
                instruction, self._robot_pose()
            )
            result = ExecuteTask.Result()
            result.success = outcome.success
            result.summary = outcome.summary
            result.status = conversions.planner_status_to_ros(outcome.status)
            if outcome.plan is not None:
                result.plan = conversions.plan_to_ros(outcome.plan, self._now())
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            elif outcome.success:
                goal_handle.succeed()
            else:
                goal_handle.abort()
            self.get_logger().info(f"task {instruction!r} done: {outcome.summary.splitlines()[-1]}")
            return result


def main(args: list[str] | None = None) -> None:
    """Run the planner node until Ctrl-C."""
    run_node(PlannerNode, "planner", args, multithreaded=True)


if __name__ == "__main__":
    main()
