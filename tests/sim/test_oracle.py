"""The shortest-path oracle: success 1.0 and SPL >= 0.95 through the embedded simulator on
generated scenes and the AWS house; robust to a simulator that does not move as predicted."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.eval.nav import evaluate
from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
from embodied_stack.sim.episodes import generate_episodes
from embodied_stack.sim.generate import generate_scene
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.oracle import OracleAgent, RandomAgent
from embodied_stack.sim.scene import Scene, load_scene
from embodied_stack.types import Action, AgentInput, Pose2D, StepResult

AWS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scene_aws_small_house" / "aws_small_house.scene.json"
SMALL = SimConfig(width=32, height=24)


def _evaluate(scene: Scene, n: int, seed: int, agent_factory=None, env_wrapper=None):  # noqa: ANN001, ANN202
    nm = NavMap.from_scene(scene)
    episodes = generate_episodes(scene, nm, n, seed)
    env = EmbeddedSim(scene, SMALL, navmap=nm)
    agent = agent_factory(nm) if agent_factory else OracleAgent(nm)
    return evaluate(env_wrapper(env) if env_wrapper else env, scene, nm, episodes, agent)


@pytest.mark.parametrize(("seed", "kind"), [(3, "home"), (4, "office")])
def test_oracle_on_generated_scenes(seed: int, kind: str) -> None:
    summary = _evaluate(generate_scene(seed, kind), 8, seed).summary()
    assert summary["success"] == 1.0
    assert summary["spl"] >= 0.95
    assert summary["agent_stats"]["oracle_replans"] == 0.0


@pytest.mark.skipif(not AWS.is_file(), reason="shared AWS small house data not present")
def test_oracle_on_the_aws_house() -> None:
    summary = _evaluate(load_scene(AWS), 8, 1).summary()
    assert summary["success"] == 1.0 and summary["spl"] >= 0.95


def test_greedy_fallback_still_succeeds() -> None:
    report = _evaluate(generate_scene(3, "home"), 5, 7, lambda nm: OracleAgent(nm, max_expansions=0))
    assert report.summary()["success"] == 1.0 and report.summary()["spl"] >= 0.85


class Slippery:
    """A simulator whose every fourth forward step does not move (the oracle must re-plan)."""

    def __init__(self, env: EmbeddedSim) -> None:
        self.env, self.count = env, 0

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.env, name)

    def step(self, action: Action) -> StepResult:
        if action == Action.MOVE_FORWARD:
            self.count += 1
            if self.count % 4 == 0:
                return StepResult(self.env.render(), collided=True)
        return self.env.step(action)


def test_oracle_replans_when_the_simulator_disagrees() -> None:
    report = _evaluate(generate_scene(3, "home"), 4, 2, env_wrapper=Slippery)
    assert report.summary()["success"] == 1.0
    assert report.agent_stats["oracle_replans"] > 0


def test_point_goal_mode_stops_near_the_point() -> None:
    room = {"id": "a", "category": "hall", "polygon": [[0, 0], [8, 0], [8, 5], [0, 5]]}
    scene = Scene.from_dict({"format": "embodied-stack.scene/1", "name": "h", "rooms": [room]})
    nm = NavMap.from_scene(scene)
    oracle = OracleAgent(nm, stop_radius_m=0.25)
    goal = np.array([6.5, 4.0])
    oracle.reset("go there", goal)
    pose = Pose2D(1.0, 1.0, math.pi)
    from embodied_stack.sim.motion import move_agent

    for step in range(200):
        action = oracle.act(AgentInput(None, pose, goal, "", step))  # type: ignore[arg-type]
        if action == Action.STOP:
            break
        pose = move_agent(nm, pose, action).pose
    assert action == Action.STOP
    assert float(np.linalg.norm(pose.xy - goal)) <= 0.25 + nm.resolution_m


def test_random_agent_is_seeded() -> None:
    a, b = RandomAgent(5), RandomAgent(5)
    inp = AgentInput(None, Pose2D(0, 0), np.zeros(2))  # type: ignore[arg-type]
    assert [a.act(inp) for _ in range(30)] == [b.act(inp) for _ in range(30)]
    with pytest.raises(ValueError):
        RandomAgent(stop_prob=2.0)
