"""EXPLORE and SEARCH subgoals in the planner node: the core's memory-guided search over topics.

The planner node runs the same search as ``run task``, ``eval tasks`` and the demo
(:func:`embodied_stack.planning.runner.make_search`). Two adapters make topics look like what the
search expects, without ROS here (the node feeds them):

- :class:`ObservationBuffer` is the ``perceive`` callback: the node adds what arrives on
  ``memory/observations`` (the sensing node's perception, which also fills the memory); each
  call returns what came in since the last one.
- :class:`TopicEnv` is the :class:`~embodied_stack.sim.env.Env`: ``render`` is the latest camera
  frame (colour, depth, camera_info, the camera pose from tf, the robot pose), ``step`` sends a
  discrete action (``policy/action``) and waits for the first frame after it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

from embodied_stack.errors import EmbodiedStackError
from embodied_stack.types import Action, Frame, Pose2D, StepResult
from embodied_stack.types.observations import Observation

MAX_BUFFERED = 10000


class SearchStopped(EmbodiedStackError):
    """The search cannot go on: the task was canceled, or no new camera frame arrived in time."""


class ObservationBuffer:
    """Observations from ``memory/observations`` since the last call (the search's ``perceive``)."""

    def __init__(self, limit: int = MAX_BUFFERED) -> None:
        self._lock = threading.Lock()
        self._items: list[Observation] = []
        self.limit = limit

    def add(self, observations: Iterable[Observation]) -> None:
        with self._lock:
            self._items.extend(observations)
            del self._items[: max(0, len(self._items) - self.limit)]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __call__(self, _frame: Frame) -> list[Observation]:
        with self._lock:
            items, self._items = self._items, []
        return items


class TopicEnv:
    """The robot as the search's environment (see the module docstring).

    Args:
        latest: the latest complete camera frame, or None while there is none.
        send: publishes one discrete action.
        stopping: True when the search must end (cancel, preemption, shutdown).
        timeout_s: longest wait for a frame newer than the action.
    """

    def __init__(self, latest: Callable[[], Frame | None], send: Callable[[Action], None],
                 stopping: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.005) -> None:
        if not timeout_s > 0 or not poll_s > 0:
            raise ValueError(f"timeout_s and poll_s must be > 0, got {timeout_s}, {poll_s}")
        self._latest = latest
        self._send = send
        self._stopping = stopping
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.navmap = None  # the robot has no true map: the search builds its own
        self.steps = 0

    def _wait(self, newer_than: float | None) -> Frame:
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._stopping():
                raise SearchStopped("the task was canceled")
            frame = self._latest()
            if frame is not None and (newer_than is None or frame.timestamp > newer_than):
                return frame
            if time.monotonic() > deadline:
                what = "camera frame" if newer_than is None else "camera frame after the action"
                raise SearchStopped(f"no {what} within {self.timeout_s:g} s")
            time.sleep(self.poll_s)

    @property
    def agent_pose(self) -> Pose2D:
        return self._wait(None).agent_pose

    def render(self) -> Frame:
        return self._wait(None)

    def reset(self, start: Pose2D | None = None) -> Frame:
        """The robot stays where it is (a real robot cannot be teleported)."""
        return self._wait(None)

    def step(self, action: Action) -> StepResult:
        before = self._wait(None)
        self._send(action)
        self.steps += 1
        after = self._wait(before.timestamp)
        moved = math.hypot(after.agent_pose.x - before.agent_pose.x, after.agent_pose.y - before.agent_pose.y)
        return StepResult(after, collided=action == Action.MOVE_FORWARD and moved < 0.01)


class CameraFrames:
    """The latest camera messages, assembled into a core :class:`Frame` on request.

    The node hands it ``camera/color/image_raw``, ``camera/depth/image_raw``,
    ``camera/color/camera_info`` and ``odom``; :meth:`frame` looks the camera and the odometry
    frame up in tf (``lookup(frame_id) -> 4x4 map_T_frame``) and stamps the frame with the colour
    image's time. None while something is missing or cannot be looked up.
    """

    def __init__(self, map_frame: str = "map") -> None:
        self.map_frame = map_frame
        self.color: object = None
        self.depth: object = None
        self.info: object = None
        self.odom: object = None

    def frame(self, lookup: Callable[[str], object]) -> Frame | None:
        import numpy as np

        from embodied_stack_ros import conversions

        if self.color is None or self.info is None or self.odom is None:
            return None
        try:
            rgb = conversions.rgb_from_ros(self.color)
            depth = conversions.depth_from_ros(self.depth) if self.depth is not None else None
            intrinsics = conversions.camera_info_from_ros(self.info)
            pose, _v, _w, odom_frame, _stamp = conversions.odometry_from_ros(self.odom)
            if odom_frame != self.map_frame:
                pose = conversions.pose2d_from_matrix(lookup(odom_frame) @ conversions.pose2d_to_matrix(pose))
            camera_pose = lookup(str(self.color.header.frame_id))  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - malformed or not yet in tf: no frame this time
            return None
        if depth is None or depth.shape != rgb.shape[:2]:
            return None  # the search maps from depth: no frame without it
        stamp = conversions.time_from_ros(self.color.header.stamp)  # type: ignore[attr-defined]
        return Frame(rgb, np.asarray(depth, dtype=np.float32), intrinsics, np.asarray(camera_pose), pose, stamp)
