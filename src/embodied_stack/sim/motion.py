"""The agent's motion model on a :class:`~embodied_stack.sim.navmap.NavMap`: pure functions.

Discrete actions follow Habitat (FORMATS.md): ``move_forward`` translates by the forward step
along the heading, ``turn_left``/``turn_right`` rotate by the turn angle, ``stop`` does nothing.
Translations are sub-stepped at half a grid cell; when a sub-step would leave the free grid the
agent slides like Habitat's navmesh ``try_step``: it keeps the longer of the sub-step's two
axis-aligned components that stays free, or stops there when neither does. A move is reported as
a collision when the agent ends up less far than commanded. The same functions serve the
embedded simulator and the kinematic checks of the oracle, so both see identical motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embodied_stack.sim.navmap import NavMap
from embodied_stack.types import Action, Pose2D
from embodied_stack.types.geometry import wrap_angle

_COLLISION_EPS_M = 1e-6


@dataclass(frozen=True)
class MoveResult:
    """The pose after a move and whether an obstacle cut it short."""

    pose: Pose2D
    collided: bool


def translate(navmap: NavMap, xy: np.ndarray, delta_xy: np.ndarray) -> tuple[np.ndarray, bool]:
    """Move a point by ``delta_xy`` (metres, ``map``) with collision sliding.

    Returns the reached point and whether it fell short of the commanded displacement.
    """
    pos = np.asarray(xy, dtype=np.float64).reshape(2).copy()
    delta = np.asarray(delta_xy, dtype=np.float64).reshape(2)
    length = float(np.hypot(delta[0], delta[1]))
    if length == 0.0:
        return pos, False
    n = max(1, math.ceil(length / (0.5 * navmap.resolution_m)))
    step = delta / n
    free, origin, res = navmap.free, navmap.origin_xy, navmap.resolution_m
    h, w = free.shape

    def ok(p: np.ndarray) -> bool:
        j = int(round((p[0] - origin[0]) / res))
        i = int(round((p[1] - origin[1]) / res))
        return 0 <= i < h and 0 <= j < w and bool(free[i, j])

    start = pos.copy()
    ahead = pos + step * np.arange(1, n + 1)[:, None]
    ij = np.rint((ahead - origin) / res).astype(np.int64)
    inside = (ij[:, 1] >= 0) & (ij[:, 1] < h) & (ij[:, 0] >= 0) & (ij[:, 0] < w)
    clear = np.zeros(n, dtype=bool)
    clear[inside] = free[ij[inside, 1], ij[inside, 0]]
    if clear.all():
        return ahead[-1], False
    first = int(np.argmin(clear))
    if first > 0:
        pos = ahead[first - 1].copy()
    for _ in range(n - first):
        if ok(pos + step):
            pos = pos + step
            continue
        options = sorted(((abs(step[k]), k) for k in (0, 1)), reverse=True)
        for _size, k in options:
            cand = pos.copy()
            cand[k] += step[k]
            if step[k] != 0.0 and ok(cand):
                pos = cand
                break
        else:
            break
    moved_along = float(np.dot(pos - start, delta) / length)
    return pos, moved_along + _COLLISION_EPS_M < length


def move_agent(
    navmap: NavMap,
    pose: Pose2D,
    action: Action,
    *,
    forward_step_m: float = 0.25,
    turn_angle_rad: float = math.radians(30.0),
) -> MoveResult:
    """Apply one discrete action (Habitat semantics) with collisions against the navmap."""
    if action == Action.MOVE_FORWARD:
        delta = forward_step_m * np.array([math.cos(pose.yaw), math.sin(pose.yaw)])
        xy, collided = translate(navmap, pose.xy, delta)
        return MoveResult(Pose2D(float(xy[0]), float(xy[1]), pose.yaw), collided)
    if action == Action.TURN_LEFT:
        return MoveResult(Pose2D(pose.x, pose.y, wrap_angle(pose.yaw + turn_angle_rad)), False)
    if action == Action.TURN_RIGHT:
        return MoveResult(Pose2D(pose.x, pose.y, wrap_angle(pose.yaw - turn_angle_rad)), False)
    return MoveResult(pose, False)


def integrate_velocity(
    navmap: NavMap,
    pose: Pose2D,
    v_mps: float,
    omega_radps: float,
    dt_s: float,
    *,
    max_turn_substep_rad: float = math.radians(5.0),
) -> MoveResult:
    """Integrate a unicycle command (forward speed, yaw rate) over ``dt_s`` with sliding.

    Sub-steps keep each translation under half a cell and each rotation under
    ``max_turn_substep_rad``; each sub-step moves along the mid-step heading (second order).
    """
    if dt_s < 0 or not (math.isfinite(v_mps) and math.isfinite(omega_radps) and math.isfinite(dt_s)):
        raise ValueError(f"velocity command must be finite with dt >= 0, got v={v_mps}, omega={omega_radps}, dt={dt_s}")
    n = max(
        1,
        math.ceil(abs(v_mps) * dt_s / (0.5 * navmap.resolution_m)),
        math.ceil(abs(omega_radps) * dt_s / max_turn_substep_rad),
    )
    h = dt_s / n
    xy, yaw, collided = pose.xy, pose.yaw, False
    for _ in range(n):
        mid = yaw + 0.5 * omega_radps * h
        if v_mps != 0.0:
            xy, hit = translate(navmap, xy, v_mps * h * np.array([math.cos(mid), math.sin(mid)]))
            collided |= hit
        yaw += omega_radps * h
    return MoveResult(Pose2D(float(xy[0]), float(xy[1]), wrap_angle(yaw)), collided)
