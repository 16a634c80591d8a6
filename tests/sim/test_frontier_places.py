"""PlanOptions.place: a point out of reach at full clearance is looked for at the tighter one."""

from __future__ import annotations

import numpy as np

from embodied_stack.sim.frontiers import PlanOptions
from embodied_stack.sim.navmap import NavMap


def _options(free: np.ndarray, robot: np.ndarray) -> PlanOptions:
    nav = NavMap(free, 0.1, np.zeros(2), 0.18)
    return PlanOptions([], nav, nav.distance_field(robot.reshape(1, 2)))


def test_a_place_beyond_a_narrow_doorway_is_found_on_the_relaxed_map() -> None:
    robot = np.array([0.55, 0.55])
    strict = np.zeros((20, 40), dtype=bool)
    strict[2:18, 2:18] = True  # the robot's room only: the doorway is too narrow at full clearance
    loose = strict.copy()
    loose[9:11, 18:22] = True  # the doorway at a tighter clearance
    loose[2:18, 22:38] = True  # and the room beyond it
    calls: list[int] = []

    def relaxed() -> PlanOptions:
        calls.append(1)
        return _options(loose, robot)

    options = _options(strict, robot)
    beyond = np.array([3.5, 1.0])  # 1.7 m from the last cell of the robot's room
    assert options.place(beyond, key="room") is None  # no fallback: out of reach
    options.relaxed = relaxed
    found = options.place(beyond, key="room")
    assert found is not None and found.nav is not None and found.key == "room"
    assert np.hypot(*(found.goal - beyond)) <= 0.15 and np.isfinite(found.distance_m) and found.distance_m > 2.0
    assert options.place(np.array([1.0, 1.0])).nav is None  # reachable at full clearance: its own map
    options.place(beyond)
    assert len(calls) == 1  # the relaxed options are computed once
