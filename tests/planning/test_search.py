"""Memory-guided search, instructions beyond "go to X", and the place ranking (issue 21)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.memory.knowledge import default_knowledge
from embodied_stack.planning.errors import PlanningError
from embodied_stack.planning.places import PlaceRanker, RankerConfig, room_prior
from embodied_stack.planning.planner import Planner
from embodied_stack.planning.search import SearchConfig, search_object
from embodied_stack.planning.splitter import RuleSplitter
from embodied_stack.planning.types import SubgoalType
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.types import Pose2D
from embodied_stack.types.observations import Observation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simb_scenes import two_rooms  # noqa: E402


def test_sit_near_window_is_one_navigation_step() -> None:
    steps = RuleSplitter().split("bring me to something to sit on near the window")
    assert [(s.intent, s.target) for s in steps] == [(SubgoalType.NAVIGATE_TO, "something to sit on near the window")]


def test_check_whether_goes_then_answers() -> None:
    steps = RuleSplitter().split("check whether the stove is on")
    assert [(s.intent, s.target) for s in steps] == [(SubgoalType.NAVIGATE_TO, "the stove"),
                                                     (SubgoalType.ANSWER, "is the stove on")]


def test_find_then_go_is_a_search_then_navigation() -> None:
    steps = RuleSplitter().split("find the keys, then go to the door")
    assert [(s.intent, s.target) for s in steps] == [(SubgoalType.SEARCH, "the keys"),
                                                     (SubgoalType.NAVIGATE_TO, "the door")]


@dataclass
class Hit:
    node_id: str
    name: str
    score: float
    level: int
    target_pose: Pose2D
    position: tuple[float, float, float]
    category: str | None = None


@dataclass
class Result:
    answer: str
    hits: list[Hit]


class StoveMemory:
    """Knows a stove; its answer about the stove changes once the robot has been there."""

    def __init__(self) -> None:
        self.visited = False

    def query(self, text, kind=None, k=5, robot_pose=None):  # noqa: ANN001, ANN201
        if "stove" not in text:
            return Result("I have not seen that", [])
        answer = "the stove I just saw: a black stove, burner lit" if self.visited else "a stove, seen yesterday"
        return Result(answer, [Hit("L1", "stove", 0.9, 0, Pose2D(1.0, 0.0, 0.0), (1.5, 0.0, 0.9), "stove")])


def test_answer_after_motion_uses_what_was_seen_there() -> None:
    memory = StoveMemory()
    planner = Planner(memory)
    plan = planner.plan("check whether the stove is on")
    go = planner.next_subgoal()
    assert go is not None and go.type == SubgoalType.NAVIGATE_TO and go.label == "the stove"
    memory.visited = True  # the robot drove there and perceived the stove
    from embodied_stack.planning.types import FeedbackStatus, SubgoalFeedback

    planner.on_feedback(SubgoalFeedback(go.id, FeedbackStatus.REACHED, 1.0))
    assert planner.next_subgoal() is None
    assert "burner lit" in plan.subgoals[1].answer and planner.status.state.name == "SUCCEEDED"


def test_room_prior_follows_commonsense() -> None:
    k = default_knowledge()
    assert room_prior(k, ["fridge"], "kitchen") == 1.0
    assert room_prior(k, ["fridge"], "bathroom") < 0.5


class RoomsMemory:
    """Two rooms the memory inferred, no objects (so the ranking rests on room types)."""

    @dataclass
    class Node:
        node_id: str
        category: str
        position: tuple[float, float, float]
        bbox_min: tuple[float, float, float]
        bbox_max: tuple[float, float, float]

    def iter_nodes(self, level=None):  # noqa: ANN001, ANN201
        return [self.Node("N1", "kitchen", (2, 2, 0), (0, 0, 0), (4, 4, 2)),
                self.Node("N2", "bedroom", (6, 2, 0), (4, 0, 0), (8, 4, 2))]

    def iter_leaves(self):  # noqa: ANN201
        return []

    def query(self, text, kind=None, k=5, robot_pose=None):  # noqa: ANN001, ANN201
        return Result("nothing", [])


def test_ranker_prefers_the_likely_room_and_unknown_space_over_an_unlikely_room() -> None:
    ranker = PlaceRanker(RoomsMemory(), ["fridge"], RankerConfig())
    kitchen, bedroom, outside = ranker.values(np.array([[2.0, 2.0], [6.0, 2.0], [20.0, 20.0]]))
    assert kitchen > outside > bedroom
    no_rooms = PlaceRanker(RoomsMemory(), ["fridge"], RankerConfig(use_rooms=False))
    assert len(set(no_rooms.values(np.array([[2.0, 2.0], [6.0, 2.0]])).tolist())) == 1


def test_bad_search_config_is_refused() -> None:
    with pytest.raises(PlanningError, match="mode"):
        SearchConfig(mode="teleport")


@pytest.mark.parametrize("mode", ["memory", "frontier"])
def test_search_finds_an_object_in_the_other_room(mode: str) -> None:
    scene = two_rooms()
    sim = EmbeddedSim(scene, SimConfig(width=96, height=72, seed=0))
    target = next(o for o in scene.objects if o.room == "bedroom_1")
    sim.reset(Pose2D(1.0, 1.0, 0.0))

    def perceive(frame):  # noqa: ANN001, ANN202  (sees objects within 3.5 m: the bed needs a drive)
        return [Observation(category=o.category, position=o.center, extent=o.size)
                for o in scene.objects if np.hypot(*(np.asarray(o.center[:2]) - frame.agent_pose.xy)) <= 3.5]

    from embodied_stack.eval.survey import explore_config_for

    outcome = search_object(sim, f"the {target.category}", RoomsMemory(), perceive,
                            config=SearchConfig(mode=mode, max_steps=300), explore_config=explore_config_for(sim))
    assert outcome.found and outcome.category == target.category, outcome.message
    assert outcome.steps < 300 and outcome.path_m > 1.0
    assert np.hypot(*(np.asarray(outcome.position[:2]) - np.asarray(target.center[:2]))) < 0.1


class TypedRoomsMemory(RoomsMemory):
    """The same rooms, from the robot's own map: each says how sure its type is."""

    @dataclass
    class Node(RoomsMemory.Node):
        room: str | None = None

    class Spatial:
        def __init__(self, sure: dict[str, float]) -> None:
            self.sure = sure

        def room_confidence(self, room_id: str) -> float:
            return self.sure.get(room_id, 0.0)

    def __init__(self, sure: dict[str, float], kitchen_size: float = 4.0) -> None:
        self.spatial = self.Spatial(sure)
        self.kitchen_size = kitchen_size

    def iter_nodes(self, level=None):  # noqa: ANN001, ANN201
        s = self.kitchen_size
        return [self.Node("N1", "kitchen", (s / 2, 2, 0), (0, 0, 0), (s, s, 2), room="room_1"),
                self.Node("N2", "bedroom", (6, 2, 0), (4, 0, 0), (8, 4, 2), room="room_2")]


def test_a_room_typed_with_little_confidence_pulls_less() -> None:
    """The room cue is the expected prior under the memory's type confidence: a kitchen typed
    with confidence 0.5 is half a kitchen, half a room of unknown type."""
    sure = PlaceRanker(TypedRoomsMemory({"room_1": 1.0, "room_2": 1.0}), ["fridge"])
    unsure = PlaceRanker(TypedRoomsMemory({"room_1": 0.5, "room_2": 1.0}), ["fridge"])
    assert sure.room_value(0) == pytest.approx(1.0)
    assert unsure.room_value(0) == pytest.approx(0.5 * 1.0 + 0.5 * 0.3)
    assert unsure.room_value(1) == sure.room_value(1)


def test_a_likely_small_room_is_looked_at_from_its_quarters_and_only_from_inside() -> None:
    """A likely room (the fridge's kitchen, 2 m across) gets four quarter viewpoints with a small
    visit radius; an unlikely room of that size (the kitchen, for a bed) only its point. Passing near a viewpoint from
    outside the room's box (through a wall) does not count as having looked from there."""
    from embodied_stack.planning.search import SemanticChooser

    memory = TypedRoomsMemory({"room_1": 1.0, "room_2": 1.0}, kitchen_size=2.0)
    chooser = SemanticChooser(PlaceRanker(memory, ["fridge"]), SearchConfig())
    keys = {key: (point, radius) for _i, key, point, radius in chooser.viewpoints()}
    assert {"N1/1", "N1/2", "N1/3", "N1/4"} <= set(keys)
    assert keys["N1/1"][1] <= 0.5 and keys["N1"][1] == SearchConfig().visit_radius_m
    assert keys["N2/1"][1] == SearchConfig().visit_radius_m  # an unlikely large room: quarters, as before
    other = SemanticChooser(PlaceRanker(memory, ["bed"]), SearchConfig())  # the kitchen is unlikely for a bed
    assert not any(key.startswith("N1/") for _i, key, _p, _r in other.viewpoints())
    chooser.passed(np.array([2.3, 1.5]))  # just outside the kitchen's box (x > 2.2): through the wall
    assert "N1" not in chooser.visited
    chooser.passed(np.array([1.0, 1.0]))
    assert "N1" in chooser.visited and "N1/1" not in chooser.visited  # 0.71 m from the quarter's centre
    chooser.passed(np.array([0.5, 0.5]))
    assert "N1/1" in chooser.visited
