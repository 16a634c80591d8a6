"""Navigation metrics as Habitat defines them, as small ``reset / update / get`` objects.

- :class:`DistanceToGoal`: geodesic distance from the agent to the goal region (habitat-lab
  ``DistanceToGoal``; the region is the episode's success region, :mod:`~embodied_stack.sim.goals`).
- :class:`Success`: STOP called inside the goal region (Anderson et al. 2018, "On Evaluation of
  Embodied Navigation Agents", arXiv:1807.06757; habitat-lab ``Success``).
- :class:`SPL`: Success weighted by Path Length, ``S * l / max(p, l)`` with ``l`` the geodesic
  shortest-path length from the start to the goal and ``p`` the length of the agent's path
  (Anderson et al. 2018).
- :class:`SoftSPL`: ``max(0, 1 - d / l) * l / max(p, l)`` with ``d`` the final distance to the goal
  (Datta et al. 2020, "Integrating Egocentric Localization for More Realistic Point-Goal
  Navigation Agents", arXiv:2009.03231; habitat-lab ``SoftSPL``).

Dependencies are declared by construction, as in habitat-lab: SPL takes the Success and
DistanceToGoal it reads. ``l = 0`` (a start already inside the region) counts as SPL = Success and
Soft-SPL = 1, where habitat-lab would divide by zero.
"""

from __future__ import annotations

import math
from typing import Protocol

from embodied_stack.types import Action, Pose2D


class Goal(Protocol):
    """What the metrics need from a goal: membership and geodesic distance (metres)."""

    def contains(self, xy: object) -> bool: ...

    def distance(self, xy: object) -> float: ...


class DistanceToGoal:
    """Geodesic metres from the agent to the goal region (0 inside); computed when read."""

    uuid = "distance_to_goal"

    def __init__(self, goal: Goal) -> None:
        self.goal = goal
        self._pose: Pose2D | None = None
        self._value: float | None = None
        self.start_distance = math.nan

    def reset(self, start: Pose2D) -> None:
        self._pose = start
        self._value = None
        self.start_distance = self.get()

    def update(self, pose: Pose2D) -> None:
        if pose != self._pose:
            self._pose, self._value = pose, None

    def get(self) -> float:
        if self._value is None:
            if self._pose is None:
                raise RuntimeError("DistanceToGoal.get() before reset()")
            self._value = float(self.goal.distance(self._pose.xy))
        return self._value


class Success:
    """1.0 when the agent called STOP inside the goal region, else 0.0 (Anderson et al. 2018)."""

    uuid = "success"

    def __init__(self, goal: Goal) -> None:
        self.goal = goal
        self.value = 0.0

    def reset(self, start: Pose2D) -> None:
        self.value = 0.0

    def update(self, pose: Pose2D, action: Action) -> None:
        if action == Action.STOP:
            self.value = 1.0 if self.goal.contains(pose.xy) else 0.0

    def get(self) -> float:
        return self.value


class _PathLength:
    """Length ``p`` of the agent's path in metres (sum of the positions' displacements)."""

    def __init__(self) -> None:
        self.length = 0.0
        self._last: Pose2D | None = None

    def reset(self, start: Pose2D) -> None:
        self.length, self._last = 0.0, start

    def update(self, pose: Pose2D) -> None:
        if self._last is not None:
            self.length += math.hypot(pose.x - self._last.x, pose.y - self._last.y)
        self._last = pose


class SPL:
    """Success weighted by (normalised inverse) Path Length: ``S * l / max(p, l)``
    (Anderson et al. 2018)."""

    uuid = "spl"

    def __init__(self, success: Success, distance: DistanceToGoal) -> None:
        self.success, self.distance = success, distance
        self.path = _PathLength()

    def reset(self, start: Pose2D) -> None:
        self.path.reset(start)

    def update(self, pose: Pose2D) -> None:
        self.path.update(pose)

    def get(self) -> float:
        shortest, taken = self.distance.start_distance, self.path.length
        if max(taken, shortest) == 0.0:
            return self.success.get()
        return self.success.get() * shortest / max(taken, shortest)


class SoftSPL:
    """``max(0, 1 - d / l) * l / max(p, l)`` (Datta et al. 2020): progress instead of success."""

    uuid = "soft_spl"

    def __init__(self, distance: DistanceToGoal) -> None:
        self.distance = distance
        self.path = _PathLength()

    def reset(self, start: Pose2D) -> None:
        self.path.reset(start)

    def update(self, pose: Pose2D) -> None:
        self.path.update(pose)

    def get(self) -> float:
        shortest, taken = self.distance.start_distance, self.path.length
        if shortest == 0.0:
            return 1.0 if self.distance.get() == 0.0 else 0.0
        progress = max(0.0, 1.0 - self.distance.get() / shortest)
        return progress * shortest / max(taken, shortest)


class EpisodeMetrics:
    """The four metrics of one episode, updated together.

    ``reset(start)`` at the start pose, ``update(pose, action)`` after every action (with the pose
    the action led to; STOP with the pose where it was called), ``get()`` at the end.
    """

    def __init__(self, goal: Goal) -> None:
        self.distance = DistanceToGoal(goal)
        self.success = Success(goal)
        self.spl = SPL(self.success, self.distance)
        self.soft_spl = SoftSPL(self.distance)

    def reset(self, start: Pose2D) -> None:
        self.distance.reset(start)
        self.success.reset(start)
        self.spl.reset(start)
        self.soft_spl.reset(start)

    def update(self, pose: Pose2D, action: Action) -> None:
        self.distance.update(pose)
        self.success.update(pose, action)
        self.spl.update(pose)
        self.soft_spl.update(pose)

    def get(self) -> dict[str, float]:
        return {
            "success": self.success.get(),
            "spl": self.spl.get(),
            "soft_spl": self.soft_spl.get(),
            "distance_to_goal": self.distance.get(),
            "shortest_path_m": self.distance.start_distance,
            "path_length_m": self.spl.path.length,
        }
