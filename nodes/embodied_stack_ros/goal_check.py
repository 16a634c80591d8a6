"""Did a navigation task earn its success? The goal condition, checked against the memory.

Reaching a subgoal's target pose is not the goal: the pose may come from a cluster ("living
room", score 0.49) when the object itself was never seen. A NAVIGATE_TO subgoal counts as done
only when the memory holds an object of the target's category (a leaf whose name matches the
subgoal's category or label) within ``success_distance_m`` of the robot.
"""

from __future__ import annotations

import math
from typing import Any

from embodied_stack.planning.types import Subgoal
from embodied_stack.types import Pose2D
from embodied_stack_ros.errors import ServiceCallError

CANDIDATES = 10


def _words(text: str) -> set[str]:
    return {w for w in text.lower().replace("_", " ").split() if w}


def names_match(name: str, target: str) -> bool:
    """Whether a leaf's name (its category) names the target ("fridge" ~ "the fridge")."""
    a, b = _words(name), _words(target)
    return bool(a) and bool(b) and (a <= b or b <= a)


def goal_unmet(memory: Any, subgoal: Subgoal, robot_pose: Pose2D | None, success_distance_m: float) -> str | None:
    """None when the goal of ``subgoal`` holds, else the reason in words.

    Args:
        memory: anything with ``query(text, kind, k, robot_pose)`` returning ``.hits`` of
            ``HitRef`` (the planner's :class:`ServiceMemory`).
        subgoal: a NAVIGATE_TO subgoal that was just reached.
        robot_pose: the robot in the map frame (None: the goal cannot be confirmed).
        success_distance_m: largest planar distance from the robot to the object.
    """
    target = subgoal.category or subgoal.label
    if robot_pose is None:
        return f"the robot pose is unknown, so being at the {target} cannot be confirmed"
    try:
        answer = memory.query(target, "explicit", CANDIDATES, robot_pose)
    except ServiceCallError as err:
        return f"the memory cannot confirm the {target}: {err}"
    distances = [math.hypot(h.position[0] - robot_pose.x, h.position[1] - robot_pose.y)
                 for h in answer.hits if int(h.level) == 0 and names_match(str(h.name), target)]
    if not distances:
        return f"no {target} has been seen (the memory holds no object of that category)"
    nearest = min(distances)
    if nearest > success_distance_m:
        return f"the nearest {target} seen is {nearest:.2f} m away (more than {success_distance_m:g} m)"
    return None
