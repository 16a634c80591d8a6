"""Exploring on its own in simulation: an explorer drives the bridge's simulator, one action per
tick, whenever nobody else commands the robot, so that the memory fills without a task.

The explorer is a loop over an :class:`~embodied_stack.sim.env.Env` (it resets, steps and plans
as it likes); the bridge owns the simulator and its timer. :class:`SteppedEnv` joins the two:
the explorer runs in its own thread against it, each ``step`` hands the action to the bridge and
waits until a tick applies it. :func:`run_explorer` is the one call that picks the explorer
(the frontier explorer of :mod:`embodied_stack.sim.explore`, the one the survey uses); swap it
for another without touching the bridge. This is exploration with no target, while no task
runs; a task's EXPLORE and SEARCH subgoals are the planner node's memory-guided search
(:mod:`embodied_stack_ros.topic_search`), which commands the robot with ``policy/action`` and so
pauses this explorer (the bridge hears a command).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from embodied_stack.errors import EmbodiedStackError
from embodied_stack.types import Action, Frame, Pose2D, StepResult

logger = logging.getLogger(__name__)


class ExplorationStopped(EmbodiedStackError):
    """The bridge is shutting down; the explorer's thread ends."""


def run_explorer(env: Any) -> str:
    """Explore ``env`` until there is nothing left to explore; returns why it stopped."""
    from embodied_stack.sim.explore import explore

    return explore(env).stop_reason


class SteppedEnv:
    """The simulator as the explorer's thread sees it: ``step`` waits for the bridge's tick.

    Args:
        env: the bridge's simulator (read for ``agent_pose`` and ``navmap``; stepped only by the bridge).
        current_frame: the bridge's latest frame (what ``reset`` returns: the robot stays put).
    """

    def __init__(self, env: Any, current_frame: Callable[[], Frame]) -> None:
        self._env = env
        self._current_frame = current_frame
        self._cv = threading.Condition()
        self._pending: Action | None = None
        self._result: StepResult | None = None
        self._closed = False

    @property
    def agent_pose(self) -> Pose2D:
        return self._env.agent_pose

    @property
    def navmap(self) -> Any:
        return getattr(self._env, "navmap", None)

    def reset(self, start: Pose2D | None = None) -> Frame:
        return self._current_frame()

    def step(self, action: Action) -> StepResult:
        """Queue ``action`` for the bridge and wait for its result (ExplorationStopped on close)."""
        with self._cv:
            self._pending, self._result = action, None
            while self._result is None and not self._closed:
                self._cv.wait()
            if self._closed:
                raise ExplorationStopped("the simulator bridge is shutting down")
            result, self._result = self._result, None
            return result

    def take(self) -> Action | None:
        """The bridge's side: the action the explorer waits on, if any (never blocks)."""
        with self._cv:
            action, self._pending = self._pending, None
            return action

    def give(self, result: StepResult) -> None:
        """The bridge's side: the result of the action from :meth:`take`."""
        with self._cv:
            self._result = result
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()


class BackgroundExplorer:
    """Runs :func:`run_explorer` on a :class:`SteppedEnv` in a daemon thread.

    Args:
        env: the bridge's simulator.
        current_frame: the bridge's latest frame.
        log: where to say that exploration ended (the node's logger ``info``).
        explorer: the exploration loop (default :func:`run_explorer`).
    """

    def __init__(self, env: Any, current_frame: Callable[[], Frame], log: Callable[[str], Any],
                 explorer: Callable[[Any], str] = run_explorer) -> None:
        self.stepped = SteppedEnv(env, current_frame)
        self._log = log
        self._explorer = explorer
        self.done = False
        self._thread = threading.Thread(target=self._run, name="explorer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            reason = self._explorer(self.stepped)
            self._log(f"exploration finished ({reason})")
        except ExplorationStopped:
            pass
        except (EmbodiedStackError, ValueError, RuntimeError) as err:
            self._log(f"exploration stopped: {err}")
        finally:
            self.done = True

    def step(self, env: Any) -> StepResult | None:
        """Apply the explorer's pending action to ``env`` (the bridge's tick); None when it has none."""
        action = self.stepped.take()
        if action is None:
            return None
        result = env.step(action)
        self.stepped.give(result)
        return result

    def stop(self, timeout_s: float = 1.0) -> None:
        self.stepped.close()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
