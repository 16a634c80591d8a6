"""The planner node: the ExecuteTask action server, a client of the memory, the policy's boss.

Serves ``planner/execute`` (ExecuteTask): the instruction is split into subgoals grounded in
the memory (``memory/query``), each subgoal is published latched on ``planner/subgoal`` for the
policy, whose reports arrive on ``policy/feedback``; ``planner/plan`` and ``planner/status``
(latched) follow every change, and ``planner/target_pose`` (PoseStamped, latched) shows where
the active subgoal leads (for RViz). With ``navigator: nav2`` navigation subgoals go to nav2's
``NavigateToPose`` instead (:mod:`embodied_stack_ros.nav2_navigator`).

EXPLORE and SEARCH subgoals (the memory has nothing good enough, or a remembered object was not
there) run the core's search (``search: memory``, memory-guided; ``frontier``, the baseline;
:func:`embodied_stack.planning.runner.make_search`, the same as ``run task`` and the demo): the
policy is told to hold, the planner drives with ``policy/action`` on the camera frames it
receives, and perceives through ``memory/observations`` (:mod:`embodied_stack_ros.topic_search`).

A task succeeds only when its goal holds (``verify_goal``): after a navigation subgoal is
reached, the memory must hold an object of the target's category within
``success_distance_m`` of the robot (:mod:`embodied_stack_ros.goal_check`); otherwise the
subgoal fails and the planner tries the next candidate or explores, and the task fails honestly
when nothing is left. A new goal preempts the running one (nav2 semantics: the old goal is
aborted with "preempted"); cancel stops the policy with an empty subgoal. The robot pose comes
from tf (``map_frame`` -> ``robot_frame``).

Threads: a MultiThreadedExecutor; the action runs in its own reentrant group and blocks on
the memory client and the feedback subscription, which live in other groups, so the
responses are delivered while it waits. Every wait looks at the node's stop flag, so Ctrl-C
ends a running task within a fraction of a second.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from embodied_stack_interfaces.action import ExecuteTask
from embodied_stack_interfaces.msg import DiscreteAction, ObjectObservationArray
from embodied_stack_interfaces.msg import Plan as PlanMsg
from embodied_stack_interfaces.msg import PlannerStatus as PlannerStatusMsg
from embodied_stack_interfaces.msg import Subgoal as SubgoalMsg
from embodied_stack_interfaces.msg import SubgoalFeedback as SubgoalFeedbackMsg
from embodied_stack_interfaces.srv import QueryMemory
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from tf2_ros import Buffer, TransformException, TransformListener

from embodied_stack.planning.planner import Planner, PlannerConfig
from embodied_stack.planning.types import (
    FeedbackStatus,
    PlannerState,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalType,
)
from embodied_stack.types import Action, Pose2D
from embodied_stack_ros import conversions, qos
from embodied_stack_ros.errors import ServiceCallError
from embodied_stack_ros.execution import ExecutionHooks, ServiceMemory, TaskExecution
from embodied_stack_ros.goal_check import goal_unmet
from embodied_stack_ros.params import config_from_params, declare_parameters, node_param_specs
from embodied_stack_ros.runtime import run_node
from embodied_stack_ros.topic_search import CameraFrames, ObservationBuffer, SearchStopped, TopicEnv

WAIT_SLICE_S = 0.1


class PlannerNode(Node):
    """ExecuteTask action server around :class:`embodied_stack.planning.planner.Planner`."""

    def __init__(self) -> None:
        super().__init__("planner")
        self.params = declare_parameters(self, node_param_specs("planner"))
        self.config: PlannerConfig = config_from_params(PlannerConfig, self.params, self.get_name())
        self._map_frame = str(self.params["map_frame"])
        self._feedback: queue.Queue[SubgoalFeedback] = queue.Queue()
        self._busy = threading.Lock()
        self._goals = threading.Lock()
        self._active: Any = None
        self._preempted: set[int] = set()
        self._stopping = threading.Event()

        self._plan_pub = self.create_publisher(PlanMsg, "planner/plan", qos.LATCHED)
        self._subgoal_pub = self.create_publisher(SubgoalMsg, "planner/subgoal", qos.LATCHED)
        self._status_pub = self.create_publisher(PlannerStatusMsg, "planner/status", qos.LATCHED)
        self._target_pub = self.create_publisher(PoseStamped, "planner/target_pose", qos.LATCHED)
        self.create_subscription(SubgoalFeedbackMsg, "policy/feedback", self._on_feedback, qos.events(50),
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self._query = self.create_client(QueryMemory, "memory/query", callback_group=MutuallyExclusiveCallbackGroup())
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self, spin_thread=False)
        self._memory = ServiceMemory(self._call_query, QueryMemory.Request, self._map_frame, self._now)
        self._nav2: Any = None
        if self.params["navigator"] == "nav2":
            from embodied_stack_ros.nav2_navigator import Nav2Navigator

            self._nav2 = Nav2Navigator(self, str(self.params["nav2_action"]), self._feedback.put, self._map_frame,
                                       self._now)
        self._search: Any = None
        if self.params["search"] != "off":
            self._setup_search()
        self._server = ActionServer(
            self, ExecuteTask, "planner/execute", execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT, handle_accepted_callback=self._on_accepted,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT, callback_group=ReentrantCallbackGroup(),
        )
        self._status_pub.publish(conversions.planner_status_to_ros(
            PlannerStatus("", PlannerState.IDLE, message="idle", timestamp=self._now()), self._map_frame))
        self.get_logger().info(f"planner ready; memory client of {self._query.srv_name}, "
                               f"navigation by {self.params['navigator']}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _setup_search(self) -> None:
        """The search of EXPLORE/SEARCH subgoals: camera, odometry and observations in, actions out."""
        from embodied_stack.planning.runner import make_search
        from embodied_stack.planning.search import SearchConfig
        from embodied_stack.sim.explore import ExploreConfig

        self._frames = CameraFrames(self._map_frame)
        self._observations = ObservationBuffer()
        group = MutuallyExclusiveCallbackGroup()
        for msg_type, topic, slot in ((Image, "camera/color/image_raw", "color"), (Image, "camera/depth/image_raw", "depth"),
                                      (CameraInfo, "camera/color/camera_info", "info"), (Odometry, "odom", "odom")):
            self.create_subscription(msg_type, topic, lambda m, slot=slot: setattr(self._frames, slot, m), qos.SENSOR,
                                     callback_group=group)
        self.create_subscription(ObjectObservationArray, "memory/observations", self._on_observations,
                                 qos.OBSERVATIONS, callback_group=group)
        self._action_pub = self.create_publisher(DiscreteAction, "policy/action", qos.events())
        config = SearchConfig(mode=str(self.params["search"]), max_steps=int(self.params["search_steps"]))
        explore = ExploreConfig(camera_height_m=float(self.params["camera_height_m"]))
        self._search = make_search(self._memory, self._observations, config=config, explore_config=explore)

    def _on_observations(self, msg: Any) -> None:
        try:
            self._observations.add(conversions.observations_from_ros(msg, self._map_frame)[0])
        except ValueError as err:
            self.get_logger().error(f"ignored memory/observations: {err}")

    def _run_search(self, subgoal: Subgoal) -> SubgoalFeedback:
        """Search for the subgoal's target, driving the robot from here (the policy holds)."""
        from embodied_stack.planning.runner import explore_subgoal

        env = TopicEnv(lambda: self._frames.frame(self._lookup), self._send_action, self._stopping.is_set,
                       timeout_s=float(self.params["search_step_timeout_s"]))
        try:
            feedback, _run = explore_subgoal(env, subgoal, self._search, [])
        except SearchStopped as err:
            feedback = SubgoalFeedback(subgoal.id, FeedbackStatus.FAILED, message=f"search stopped: {err}")
        self._send_action(Action.STOP)
        self.get_logger().info(f"search for '{subgoal.label}': {feedback.message} ({env.steps} actions)")
        return feedback

    def _send_action(self, action: Action) -> None:
        self._action_pub.publish(conversions.action_to_ros(action, "search", self._now(), self._map_frame))

    def _lookup(self, frame: str) -> Any:
        msg = self._tf_buffer.lookup_transform(self._map_frame, frame, Time())
        return conversions.transform_from_ros(msg.transform)

    def on_shutdown(self) -> None:
        """End a running task now (called by :func:`run_node` before the executor stops)."""
        self._stopping.set()
        if self._nav2 is not None:
            self._nav2.cancel()

    def _on_accepted(self, goal_handle: Any) -> None:
        """A new goal preempts the running one, then executes once that one has ended."""
        with self._goals:
            if self._active is not None:
                self._preempted.add(id(self._active))
                self.get_logger().info(f"new goal {goal_handle.request.instruction!r} preempts the running task")
            self._active = goal_handle
        goal_handle.execute()

    def _preempted_now(self, goal_handle: Any) -> bool:
        with self._goals:
            return id(goal_handle) in self._preempted

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

    def _wait(self, done: threading.Event, timeout_s: float) -> bool:
        """Wait for ``done`` in short slices; False on timeout or when the node is stopping."""
        remaining = timeout_s
        while remaining > 0.0 and not self._stopping.is_set():
            if done.wait(min(WAIT_SLICE_S, remaining)):
                return True
            remaining -= WAIT_SLICE_S
        return done.is_set()

    def _call_query(self, request: Any) -> Any:
        wait_s = float(self.params["wait_for_memory_s"])
        while not self._query.wait_for_service(timeout_sec=min(WAIT_SLICE_S * 5, max(wait_s, 0.0))):
            wait_s -= WAIT_SLICE_S * 5
            if wait_s <= 0.0 or self._stopping.is_set():
                raise ServiceCallError(f"service {self._query.srv_name} is not available (is the memory node running?)")
        done = threading.Event()
        future = self._query.call_async(request)
        future.add_done_callback(lambda _future: done.set())
        timeout = float(self.params["query_timeout_s"])
        if not self._wait(done, timeout):
            self._query.remove_pending_request(future)
            raise ServiceCallError(f"{self._query.srv_name} did not answer within {timeout:g} s")
        response = future.result()
        if response is None:
            raise ServiceCallError(f"{self._query.srv_name} call failed: {future.exception()}")
        return response

    def _robot_pose(self) -> Pose2D | None:
        try:
            msg = self._tf_buffer.lookup_transform(self._map_frame, self.params["robot_frame"], Time())
            return conversions.pose2d_from_matrix(conversions.transform_from_ros(msg.transform))
        except (TransformException, ValueError) as err:
            self.get_logger().warning(f"robot pose unknown ({err}); the memory ranks without it")
            return None

    def _publish_subgoal(self, subgoal: Subgoal | None) -> None:
        while not self._feedback.empty():
            self._feedback.get_nowait()
        if subgoal is not None and self._search is not None and subgoal.type in (SubgoalType.EXPLORE,
                                                                                 SubgoalType.SEARCH):
            self._publish_subgoal(None)  # the policy holds while the planner searches
            self._feedback.put(self._run_search(subgoal))
            return
        now = self._now()
        to_nav2 = self._nav2 is not None and subgoal is not None and subgoal.type == SubgoalType.NAVIGATE_TO
        if self._nav2 is not None:
            self._nav2.cancel()
        self._subgoal_pub.publish(conversions.subgoal_to_ros(None if to_nav2 else subgoal, now, self._map_frame))
        if subgoal is not None and subgoal.target_pose is not None:
            self._target_pub.publish(conversions.pose_stamped_to_ros(subgoal.target_pose, self._map_frame, now))
        if to_nav2 and subgoal is not None:
            self._nav2.go(subgoal)

    def _verify(self, subgoal: Subgoal) -> str | None:
        if not self.params["verify_goal"]:
            return None
        return goal_unmet(self._memory, subgoal, self._robot_pose(), float(self.params["success_distance_m"]))

    def _hooks(self, goal_handle: Any) -> ExecutionHooks:
        def report(status: PlannerStatus, subgoal: Subgoal | None, index: int, count: int,
                   feedback: SubgoalFeedback | None) -> None:
            msg = ExecuteTask.Feedback()
            msg.status = conversions.planner_status_to_ros(status, self._map_frame)
            msg.subgoal = conversions.subgoal_to_ros(subgoal, self._now(), self._map_frame)
            msg.subgoal_index = index
            msg.subgoal_count = count
            if feedback is not None:
                msg.subgoal_feedback = conversions.subgoal_feedback_to_ros(feedback, self._map_frame)
            goal_handle.publish_feedback(msg)

        return ExecutionHooks(
            publish_plan=lambda plan: self._plan_pub.publish(conversions.plan_to_ros(plan, self._now(),
                                                                                     self._map_frame)),
            publish_subgoal=self._publish_subgoal,
            publish_status=lambda status: self._status_pub.publish(
                conversions.planner_status_to_ros(status, self._map_frame)),
            wait_feedback=self._wait_feedback,
            report=report,
            is_canceled=lambda: (goal_handle.is_cancel_requested or self._stopping.is_set()
                                 or self._preempted_now(goal_handle)),
            verify=self._verify,
        )

    def _execute(self, goal_handle: Any) -> Any:
        with self._busy:
            instruction = str(goal_handle.request.instruction)
            result = ExecuteTask.Result()
            if self._preempted_now(goal_handle) or self._stopping.is_set():
                result.summary = "preempted by a newer goal before it started"
                goal_handle.abort()
                return self._finish(goal_handle, result)
            self.get_logger().info(f"task: {instruction!r}")
            planner = Planner(self._memory, self.config, clock=self._now)
            outcome = TaskExecution(planner, self._hooks(goal_handle), float(self.params["subgoal_timeout_s"])).run(
                instruction, self._robot_pose()
            )
            result.success = outcome.success
            result.summary = outcome.summary
            result.status = conversions.planner_status_to_ros(outcome.status, self._map_frame)
            if outcome.plan is not None:
                result.plan = conversions.plan_to_ros(outcome.plan, self._now(), self._map_frame)
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            elif outcome.success:
                goal_handle.succeed()
            else:
                if self._preempted_now(goal_handle):
                    result.summary = f"preempted by a newer goal\n{outcome.summary}"
                elif self._stopping.is_set():
                    result.summary = f"the planner is shutting down\n{outcome.summary}"
                goal_handle.abort()
            self.get_logger().info(f"task {instruction!r} done: {result.summary.splitlines()[-1]}")
            return self._finish(goal_handle, result)

    def _finish(self, goal_handle: Any, result: Any) -> Any:
        with self._goals:
            self._preempted.discard(id(goal_handle))
            if self._active is goal_handle:
                self._active = None
        return result


def main(args: list[str] | None = None) -> None:
    """Run the planner node until Ctrl-C."""
    run_node(PlannerNode, "planner", args, multithreaded=True)


if __name__ == "__main__":
    main()
