"""The shared motion model: discrete actions, sub-stepped collisions and Habitat-like sliding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embodied_stack.sim.motion import integrate_velocity, move_agent, translate, wrap_angle
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene
from embodied_stack.types import Action, Pose2D


@pytest.fixture(scope="module")
def navmap() -> NavMap:
    room = {"id": "a", "category": "room", "polygon": [[0, 0], [6, 0], [6, 4], [0, 4]]}
    return NavMap.from_scene(Scene.from_dict({"format": "embodied-stack.scene/1", "name": "m", "rooms": [room]}))


def test_forward_and_turns(navmap: NavMap) -> None:
    pose = Pose2D(2.0, 2.0, 0.0)
    r = move_agent(navmap, pose, Action.MOVE_FORWARD)
    assert (r.pose.x, r.pose.y, r.collided) == (pytest.approx(2.25), pytest.approx(2.0), False)
    left = move_agent(navmap, pose, Action.TURN_LEFT).pose
    right = move_agent(navmap, pose, Action.TURN_RIGHT, turn_angle_rad=math.radians(10)).pose
    assert left.yaw == pytest.approx(math.radians(30)) and right.yaw == pytest.approx(math.radians(-10))
    assert move_agent(navmap, pose, Action.STOP).pose == pose
    assert wrap_angle(3 * math.pi) == pytest.approx(-math.pi)


def test_wall_stops_head_on_and_slides_at_an_angle(navmap: NavMap) -> None:
    limit = 6 - 0.05 - 0.18
    pose = Pose2D(limit - 0.1, 2.0, 0.0)
    r = move_agent(navmap, pose, Action.MOVE_FORWARD)
    assert r.collided and r.pose.x < limit + navmap.resolution_m and r.pose.x >= pose.x
    assert r.pose.y == pytest.approx(2.0)
    slanted = Pose2D(limit - 0.02, 2.0, math.radians(60))
    s = move_agent(navmap, slanted, Action.MOVE_FORWARD)
    assert s.collided
    assert s.pose.y - 2.0 == pytest.approx(0.25 * math.sin(math.radians(60)), abs=0.01)
    assert navmap.is_navigable(s.pose.xy[None])[0]


def test_translate_never_leaves_free_space(navmap: NavMap) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        start = navmap.sample_navigable(rng, 1)[0]
        end, _ = translate(navmap, start, rng.uniform(-2, 2, 2))
        assert navmap.is_navigable(end[None])[0]


def test_velocity_integration_follows_an_arc(navmap: NavMap) -> None:
    r = integrate_velocity(navmap, Pose2D(2.0, 1.0, 0.0), 0.5, math.pi / 4, 2.0)
    radius = 0.5 / (math.pi / 4)
    assert not r.collided
    assert r.pose.yaw == pytest.approx(math.pi / 2)
    assert (r.pose.x, r.pose.y) == (pytest.approx(2.0 + radius, abs=0.01), pytest.approx(1.0 + radius, abs=0.01))
    with pytest.raises(ValueError):
        integrate_velocity(navmap, Pose2D(2.0, 1.0, 0.0), 0.5, 0.0, -1.0)
