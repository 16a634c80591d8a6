"""The planner: instruction -> plan of subgoals grounded in the memory; feedback -> next subgoal
or a replan (the next memory candidate, or exploration when the memory has nothing good enough).

The planner is pure logic: it never moves the robot. Whoever executes (the ROS planner node, or
:mod:`embodied_stack.planning.runner` in the embedded simulator) asks for the active subgoal,
runs it, and reports :class:`SubgoalFeedback`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from embodied_stack.memory.knowledge import Knowledge, default_knowledge, normalize_phrase
from embodied_stack.planning.errors import PlanStateError
from embodied_stack.planning.places import target_categories
from embodied_stack.planning.splitter import RuleSplitter, Splitter, Step
from embodied_stack.planning.types import (
    FeedbackStatus,
    HitRef,
    Plan,
    PlannerState,
    PlannerStatus,
    Subgoal,
    SubgoalFeedback,
    SubgoalStatus,
    SubgoalType,
)
from embodied_stack.types import Pose2D

logger = logging.getLogger(__name__)

HINT_RADIUS_M = 1.5
"""Memory hits this close to where a search saw the target come first (and count again if found wrong before)."""


class MemoryLike(Protocol):
    """What the planner needs of the memory (``SemanticMemory`` or a ROS service client)."""

    def query(self, text: str, kind: Any = None, k: int = 5, robot_pose: Pose2D | None = None) -> Any:
        """Returns an object with ``answer: str`` and ``hits`` (each with node_id, name, score,
        level, target_pose, position)."""
        ...


@dataclass
class PlannerConfig:
    """Planner settings (the same names as the ROS planner node's parameters)."""

    candidates: int = 3  # memory hits kept per subgoal, tried in order on failure
    min_score: float = 0.25  # below this the memory "has nothing good enough": explore
    max_attempts: int = 4  # executions of one subgoal (candidates + explorations) before it fails
    explore_on_miss: bool = True
    rejected_radius_m: float = 1.0  # a hit this close to a candidate found wrong is skipped
    approach_m: float = 0.6  # drive to at most this far from an object's centre

    def __post_init__(self) -> None:
        if not 1 <= self.candidates <= 50:
            raise ValueError(f"candidates must be in [1, 50], got {self.candidates}")
        if not -1.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [-1, 1], got {self.min_score}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")


class Planner:
    """Turns instructions into plans and drives them with feedback."""

    _plan_ids = itertools.count(1)

    def __init__(
        self,
        memory: MemoryLike,
        config: PlannerConfig | None = None,
        splitter: Splitter | None = None,
        clock: Callable[[], float] = time.time,
        knowledge: Knowledge | None = None,
    ) -> None:
        self.memory = memory
        self.knowledge = knowledge or default_knowledge()
        self.config = config or PlannerConfig()
        self.splitter = splitter or RuleSplitter()
        self.clock = clock
        self.plan_: Plan | None = None
        self._status = PlannerStatus(plan_id="", state=PlannerState.IDLE, timestamp=clock())
        self._robot_pose: Pose2D | None = None

    @property
    def status(self) -> PlannerStatus:
        return self._status

    def plan(self, instruction: str, robot_pose: Pose2D | None = None) -> Plan:
        """Split the instruction and ground every step in the memory."""
        self._robot_pose = robot_pose
        steps = self.splitter.split(instruction)
        plan = Plan(id=f"plan_{next(self._plan_ids)}", instruction=instruction.strip())
        self._set(PlannerState.PLANNING, plan_id=plan.id, message=f"{len(steps)} step(s)")
        for index, step in enumerate(steps, start=1):
            plan.subgoals.append(self._ground(step, f"{plan.id}.{index}"))
        self.plan_ = plan
        self._set(PlannerState.EXECUTING, message=f"planned {len(plan.subgoals)} subgoal(s)")
        return plan

    def _ground(self, step: Step, subgoal_id: str) -> Subgoal:
        subgoal = Subgoal(id=subgoal_id, type=step.intent, label=step.target, query=step.text)
        if step.intent == SubgoalType.ANSWER:
            result = self.memory.query(step.text, k=self.config.candidates, robot_pose=self._robot_pose)
            subgoal.answer = str(result.answer)
            subgoal.hits = [_hit_ref(h) for h in result.hits]
            return subgoal
        self._attach_hits(subgoal)
        if step.intent == SubgoalType.SEARCH:
            subgoal.category = step.target
        return subgoal

    def _attach_hits(self, subgoal: Subgoal) -> None:
        # ask for more than needed: hits of other categories and candidates found wrong are dropped
        k = max(3 * self.config.candidates, 10)
        result = self.memory.query(subgoal.label, k=k, robot_pose=self._robot_pose)
        hits = [_hit_ref(h) for h in result.hits]
        subgoal.hits = self._usable(subgoal, hits)[: self.config.candidates]
        if not subgoal.hits and subgoal.hint_xy is not None:
            # a search saw the target but the memory does not answer with it (yet): go to the sighting
            x, y = subgoal.hint_xy
            subgoal.hits = [HitRef("sighting", subgoal.category or subgoal.label, 1.0, 0, Pose2D(x, y, 0.0),
                                   (x, y, 0.0), category=subgoal.category or subgoal.label)]
        subgoal.candidate_index = 0
        if subgoal.hits:
            if subgoal.type in (SubgoalType.EXPLORE, SubgoalType.SEARCH):
                subgoal.type = SubgoalType.NAVIGATE_TO
            subgoal.target_pose = self._approach(subgoal.hits[0])
            subgoal.message = f"memory: {subgoal.hits[0].name} (score {subgoal.hits[0].score:.2f})"
        elif self.config.explore_on_miss:
            best = f"best: {hits[0].name}, score {hits[0].score:.2f}" if hits else "no hit"
            subgoal.type = SubgoalType.EXPLORE
            subgoal.target_pose = None
            subgoal.message = f"memory has nothing good enough for '{subgoal.label}' ({best}); searching"
        else:
            subgoal.message = f"memory has nothing for '{subgoal.label}'"

    def _usable(self, subgoal: Subgoal, hits: list[HitRef]) -> list[HitRef]:
        """The hits that can ground the subgoal, best first: good enough; for a target that names
        a category ("the laundry basket"), only objects of that category (a room the thing is
        usually in is no laundry basket); none near a candidate already found wrong; near where a
        search saw the target first."""
        keep = [h for h in hits if h.score >= self.config.min_score]
        wanted = {self.knowledge.canonical(c) or c for c in target_categories(self.knowledge, subgoal.label)}
        if wanted:
            keep = [h for h in keep if h.level == 0 and self._category(h) in wanted]
        if subgoal.rejected and subgoal.hint_xy is not None:
            # a search saw the target since: a candidate found wrong near that sighting counts again
            hint = np.array(subgoal.hint_xy)
            subgoal.rejected = [r for r in subgoal.rejected
                                if float(np.hypot(*(np.array(r) - hint))) > self.config.rejected_radius_m + HINT_RADIUS_M]
        if subgoal.rejected:
            bad = np.array(subgoal.rejected, dtype=np.float64)
            keep = [h for h in keep if np.min(np.hypot(*(bad - np.array(h.position[:2])).T)) > self.config.rejected_radius_m]
        if subgoal.hint_xy is not None:
            hint = np.array(subgoal.hint_xy)
            keep.sort(key=lambda h: float(np.hypot(*(np.array(h.position[:2]) - hint))) > HINT_RADIUS_M)
        return keep

    def _approach(self, hit: HitRef) -> Pose2D:
        """Where to drive for a hit: its standoff pose, pulled in to at most ``approach_m`` from an
        object's centre (a standoff where the thing was seen from can be metres away)."""
        pose = hit.target_pose
        if hit.level != 0:
            return pose
        centre = np.array(hit.position[:2], dtype=np.float64)
        offset = np.array([pose.x, pose.y]) - centre
        norm = float(np.hypot(*offset))
        if norm <= self.config.approach_m:
            return pose
        xy = centre + offset * (self.config.approach_m / norm)
        return Pose2D(float(xy[0]), float(xy[1]), float(np.arctan2(-offset[1], -offset[0])))

    def _category(self, hit: HitRef) -> str:
        name = normalize_phrase(hit.category or hit.name)
        return self.knowledge.canonical(name) or name

    def next_subgoal(self) -> Subgoal | None:
        """Activate and return the next subgoal to execute; answers complete on the spot.

        Returns None when the plan is finished (the status says how).
        """
        plan = self._require_plan()
        if self._status.state in (PlannerState.FAILED, PlannerState.CANCELED):
            return None
        active = plan.active()
        if active is not None:
            return active
        for subgoal in plan.subgoals:
            if subgoal.status != SubgoalStatus.PENDING:
                continue
            if subgoal.type == SubgoalType.ANSWER:
                # answered now, from what the robot has seen by this point ("go there, look, answer")
                result = self.memory.query(subgoal.query or subgoal.label, k=self.config.candidates,
                                           robot_pose=self._robot_pose)
                subgoal.answer = str(result.answer)
                subgoal.hits = [_hit_ref(h) for h in result.hits]
                subgoal.status = SubgoalStatus.SUCCEEDED
                continue
            if subgoal.type == SubgoalType.NAVIGATE_TO and subgoal.target_pose is None:
                subgoal.status = SubgoalStatus.FAILED
                self._set(PlannerState.FAILED, active="", message=subgoal.message or "no target")
                return None
            subgoal.status = SubgoalStatus.ACTIVE
            subgoal.attempts += 1
            state = PlannerState.EXPLORING if subgoal.type == SubgoalType.EXPLORE else PlannerState.EXECUTING
            self._set(state, active=subgoal.id, message=subgoal.message or subgoal.label)
            return subgoal
        self._finish()
        return None

    def on_feedback(self, feedback: SubgoalFeedback) -> PlannerStatus:
        """Consume executor feedback for the active subgoal; replan on failure."""
        plan = self._require_plan()
        subgoal = plan.active()
        if subgoal is None or subgoal.id != feedback.subgoal_id:
            raise PlanStateError(
                f"feedback for subgoal {feedback.subgoal_id!r}, but the active one is "
                f"{subgoal.id if subgoal else 'none'}"
            )
        if feedback.status == FeedbackStatus.PROGRESS:
            self._status.timestamp = self.clock()
            return self._status
        if feedback.status == FeedbackStatus.REACHED:
            if subgoal.type == SubgoalType.EXPLORE:
                self._after_exploration(subgoal)
            else:
                subgoal.status = SubgoalStatus.SUCCEEDED
                self._set(PlannerState.EXECUTING, active="", message=f"reached {subgoal.label}")
            return self._status
        self._replan(subgoal, feedback)
        return self._status

    def _after_exploration(self, subgoal: Subgoal) -> None:
        """Exploration finished: ask the memory again, now that it has seen more."""
        subgoal.type = SubgoalType.NAVIGATE_TO
        self._attach_hits(subgoal)
        if subgoal.type == SubgoalType.NAVIGATE_TO and subgoal.target_pose is not None:
            subgoal.status = SubgoalStatus.PENDING
            self._set(PlannerState.REPLANNING, active="", message=f"after exploring: {subgoal.message}")
        else:
            subgoal.status = SubgoalStatus.FAILED
            self._set(PlannerState.FAILED, active="", message=f"explored, still nothing for '{subgoal.label}'")

    def _replan(self, subgoal: Subgoal, feedback: SubgoalFeedback) -> None:
        self._status.replans += 1
        why = f"{feedback.status.name.lower()}: {feedback.message}".rstrip(": ")
        if subgoal.attempts >= self.config.max_attempts:
            subgoal.status = SubgoalStatus.FAILED
            self._set(PlannerState.FAILED, active="", message=f"gave up on '{subgoal.label}' ({why})")
            return
        hit = subgoal.current_hit()
        if subgoal.type == SubgoalType.NAVIGATE_TO and hit is not None:
            subgoal.rejected.append((float(hit.position[0]), float(hit.position[1])))
        if subgoal.candidate_index + 1 < len(subgoal.hits):
            subgoal.candidate_index += 1
            hit = subgoal.hits[subgoal.candidate_index]
            subgoal.target_pose = self._approach(hit)
            subgoal.message = f"next candidate: {hit.name} (score {hit.score:.2f})"
        elif self.config.explore_on_miss and subgoal.type != SubgoalType.EXPLORE:
            subgoal.type = SubgoalType.EXPLORE
            subgoal.target_pose = None
            subgoal.message = f"no candidate left for '{subgoal.label}'; exploring"
        else:
            subgoal.status = SubgoalStatus.FAILED
            self._set(PlannerState.FAILED, active="", message=f"'{subgoal.label}' failed ({why})")
            return
        subgoal.status = SubgoalStatus.PENDING
        self._set(PlannerState.REPLANNING, active="", message=f"{why}; {subgoal.message}")

    def cancel(self) -> None:
        plan = self._require_plan()
        for subgoal in plan.subgoals:
            if subgoal.status in (SubgoalStatus.PENDING, SubgoalStatus.ACTIVE):
                subgoal.status = SubgoalStatus.SKIPPED
        self._set(PlannerState.CANCELED, active="", message="canceled")

    def _finish(self) -> None:
        plan = self._require_plan()
        if self._status.state in (PlannerState.FAILED, PlannerState.CANCELED):
            return
        failed = [s for s in plan.subgoals if s.status == SubgoalStatus.FAILED]
        if failed:
            self._set(PlannerState.FAILED, active="", message=f"{len(failed)} subgoal(s) failed")
        else:
            self._set(PlannerState.SUCCEEDED, active="", message="all subgoals done")

    def _require_plan(self) -> Plan:
        if self.plan_ is None:
            raise PlanStateError("no plan: call plan(instruction) first")
        return self.plan_

    def _set(self, state: PlannerState, *, plan_id: str | None = None, active: str | None = None,
             message: str = "") -> None:
        s = self._status
        self._status = PlannerStatus(
            plan_id=plan_id if plan_id is not None else s.plan_id,
            state=state,
            active_subgoal_id=active if active is not None else s.active_subgoal_id,
            message=message,
            replans=s.replans if plan_id is None else 0,
            timestamp=self.clock(),
        )
        logger.debug("planner %s: %s %s", self._status.plan_id, state.name, message)


def _hit_ref(hit: Any) -> HitRef:
    return HitRef(
        node_id=str(hit.node_id), name=str(hit.name), score=float(hit.score), level=int(hit.level),
        target_pose=hit.target_pose, position=tuple(float(v) for v in hit.position),  # type: ignore[arg-type]
        category=getattr(hit, "category", None),
    )
