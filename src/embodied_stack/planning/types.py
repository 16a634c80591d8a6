"""Plans, subgoals, feedback and status as plain dataclasses.

Their fields and enums are mirrored one-to-one by the ROS messages in
``ros_ws/src/embodied_stack_interfaces`` (``Plan.msg``, ``Subgoal.msg``, ``SubgoalFeedback.msg``,
``PlannerStatus.msg``): the enum member names become ``uint8`` constants of the same name and
value, so the ROS conversion layer is a field-by-field copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from embodied_stack.types import Pose2D


class SubgoalType(IntEnum):
    """What a subgoal asks for."""

    NAVIGATE_TO = 0  # drive to ``target_pose`` (a memory hit)
    SEARCH = 1  # look for ``category``: explore until perception finds it
    ANSWER = 2  # answer a question in text, no motion
    EXPLORE = 3  # explore unseen space (the memory had nothing good enough)


class SubgoalStatus(IntEnum):
    PENDING = 0
    ACTIVE = 1
    SUCCEEDED = 2
    FAILED = 3
    SKIPPED = 4


class FeedbackStatus(IntEnum):
    """What the executor (the policy) reports about the active subgoal."""

    PROGRESS = 0
    REACHED = 1
    FAILED = 2
    BLOCKED = 3


class PlannerState(IntEnum):
    IDLE = 0
    PLANNING = 1
    EXECUTING = 2
    REPLANNING = 3
    EXPLORING = 4
    SUCCEEDED = 5
    FAILED = 6
    CANCELED = 7


@dataclass
class HitRef:
    """The memory hit behind a subgoal: enough to explain and to retry the next candidate."""

    node_id: str
    name: str
    score: float
    level: int
    target_pose: Pose2D
    position: tuple[float, float, float]
    category: str | None = None


@dataclass
class Subgoal:
    id: str
    type: SubgoalType
    label: str
    query: str = ""
    category: str = ""
    target_pose: Pose2D | None = None
    answer: str = ""
    status: SubgoalStatus = SubgoalStatus.PENDING
    hits: list[HitRef] = field(default_factory=list)
    candidate_index: int = 0
    attempts: int = 0
    message: str = ""
    # Executor-side state, not part of the ROS message: where a search saw the target (the next
    # grounding prefers memory hits there) and candidates found wrong (not seen where remembered).
    hint_xy: tuple[float, float] | None = None
    rejected: list[tuple[float, float]] = field(default_factory=list)

    def current_hit(self) -> HitRef | None:
        if 0 <= self.candidate_index < len(self.hits):
            return self.hits[self.candidate_index]
        return None


@dataclass
class Plan:
    id: str
    instruction: str
    subgoals: list[Subgoal] = field(default_factory=list)

    def active(self) -> Subgoal | None:
        for subgoal in self.subgoals:
            if subgoal.status == SubgoalStatus.ACTIVE:
                return subgoal
        return None

    @property
    def done(self) -> bool:
        return all(s.status in (SubgoalStatus.SUCCEEDED, SubgoalStatus.SKIPPED) for s in self.subgoals)


@dataclass
class SubgoalFeedback:
    subgoal_id: str
    status: FeedbackStatus
    progress: float = 0.0  # 0..1 fraction of the initial distance covered
    distance_remaining_m: float = float("nan")
    message: str = ""
    timestamp: float = 0.0


@dataclass
class PlannerStatus:
    plan_id: str
    state: PlannerState
    active_subgoal_id: str = ""
    message: str = ""
    replans: int = 0
    timestamp: float = 0.0
