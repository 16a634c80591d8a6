"""NAVIGATE_TO subgoals handed to nav2's ``NavigateToPose`` action instead of the policy node.

For a robot that runs nav2 (``navigator: nav2`` on the planner): the target pose of each
navigation subgoal becomes a ``nav2_msgs/action/NavigateToPose`` goal in ``map_frame``; nav2's
feedback (``distance_remaining``) becomes PROGRESS reports and its result REACHED (goal status
SUCCEEDED) or FAILED (aborted, canceled, rejected, or no server), in the same queue the
policy's reports arrive in. A new subgoal or a cancel cancels the goal in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup

from embodied_stack.planning.types import FeedbackStatus, Subgoal, SubgoalFeedback
from embodied_stack_ros import conversions

SERVER_WAIT_S = 5.0


class Nav2Navigator:
    """Sends subgoals to nav2 and reports on them through ``report(feedback)``.

    Args:
        node: the planner node (the action client lives on it, in its own reentrant group).
        action_name: the NavigateToPose server (nav2: ``navigate_to_pose``).
        report: where the subgoal feedback goes (the planner's feedback queue).
        map_frame: frame of the target poses.
        clock: seconds, for stamps.
    """

    def __init__(self, node: Any, action_name: str, report: Callable[[SubgoalFeedback], None], map_frame: str,
                 clock: Callable[[], float]) -> None:
        from nav2_msgs.action import NavigateToPose

        self._action = NavigateToPose
        self._client = ActionClient(node, NavigateToPose, action_name, callback_group=ReentrantCallbackGroup())
        self._report = report
        self._map_frame = map_frame
        self._clock = clock
        self._lock = threading.Lock()
        self._handle: Any = None
        self._subgoal_id = ""

    def go(self, subgoal: Subgoal) -> None:
        """Send ``subgoal``'s target pose to nav2 (cancelling any goal in flight)."""
        self.cancel()
        if subgoal.target_pose is None:
            self._final(subgoal.id, FeedbackStatus.FAILED, "nav2 needs a target pose")
            return
        if not self._client.wait_for_server(timeout_sec=SERVER_WAIT_S):
            self._final(subgoal.id, FeedbackStatus.FAILED, "nav2's NavigateToPose server is not available")
            return
        goal = self._action.Goal()
        goal.pose = conversions.pose_stamped_to_ros(subgoal.target_pose, self._map_frame, self._clock())
        with self._lock:
            self._subgoal_id = subgoal.id
        sent = self._client.send_goal_async(goal, feedback_callback=lambda msg: self._on_feedback(subgoal.id, msg))
        sent.add_done_callback(lambda future: self._on_sent(subgoal.id, future))

    def cancel(self) -> None:
        """Cancel the goal in flight, if any (its result is then ignored)."""
        with self._lock:
            handle, self._handle, self._subgoal_id = self._handle, None, ""
        if handle is not None:
            handle.cancel_goal_async()

    def _current(self, subgoal_id: str) -> bool:
        with self._lock:
            return self._subgoal_id == subgoal_id

    def _on_sent(self, subgoal_id: str, future: Any) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            self._final(subgoal_id, FeedbackStatus.FAILED, "nav2 rejected the goal")
            return
        with self._lock:
            if self._subgoal_id != subgoal_id:
                handle.cancel_goal_async()
                return
            self._handle = handle
        handle.get_result_async().add_done_callback(lambda result: self._on_result(subgoal_id, result))

    def _on_feedback(self, subgoal_id: str, msg: Any) -> None:
        if self._current(subgoal_id):
            distance = float(msg.feedback.distance_remaining)
            self._report(SubgoalFeedback(subgoal_id, FeedbackStatus.PROGRESS, 0.0, distance, "nav2 navigating",
                                         self._clock()))

    def _on_result(self, subgoal_id: str, future: Any) -> None:
        if not self._current(subgoal_id):
            return
        response = future.result()
        status = getattr(response, "status", GoalStatus.STATUS_UNKNOWN)
        with self._lock:
            self._handle = None
        if status == GoalStatus.STATUS_SUCCEEDED:
            self._final(subgoal_id, FeedbackStatus.REACHED, "nav2 reached the goal")
        else:
            self._final(subgoal_id, FeedbackStatus.FAILED, f"nav2 ended with goal status {status}")

    def _final(self, subgoal_id: str, status: FeedbackStatus, message: str) -> None:
        self._report(SubgoalFeedback(subgoal_id, status, 1.0 if status == FeedbackStatus.REACHED else 0.0,
                                     0.0 if status == FeedbackStatus.REACHED else float("nan"), message,
                                     self._clock()))
