"""Memory messages: object observations (with their frame brought into the map through tf),
memory hits, query kinds and memory statistics.

The core memory keeps everything in one frame it calls ``map``; on the wire that frame is the
node's ``map_frame`` parameter (``robot1/map`` under a namespace), so every ``*_to_ros`` takes
the frame to write and :func:`observations_from_ros` takes the frame to accept plus a way to
transform the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from embodied_stack.memory.errors import InvalidObservationError
from embodied_stack.planning.types import HitRef
from embodied_stack.types.observations import MAP_FRAME, Observation
from embodied_stack_ros.conversions.base import (
    IFACE,
    header_from_ros,
    header_to_ros,
    time_from_ros,
    time_to_ros,
)
from embodied_stack_ros.conversions.base import new_message as _new
from embodied_stack_ros.conversions.geometry import (
    point_from_ros,
    point_to_ros,
    pose2d_from_ros,
    pose7_from_ros,
    pose7_to_ros,
    pose_stamped_to_ros,
    transform_box,
    transform_pose7,
    vector3_from_ros,
    vector3_to_ros,
)

__all__ = [
    "QUERY_KINDS", "hit_ref_from_ros", "hit_ref_to_ros", "memory_hit_from_ros", "memory_hit_to_ros",
    "memory_stats_from_ros", "memory_stats_to_ros", "observation_from_ros", "observation_to_ros",
    "observations_from_ros", "observations_to_ros", "query_kind_from_ros", "query_kind_to_ros",
]

ToMap = Callable[[str, float], np.ndarray]
"""``(frame, stamp seconds) -> T_map_frame`` (4x4); raises ValueError when tf cannot say."""


def observation_to_ros(obs: Observation, frame_id: str | None = None) -> Any:
    """An observation -> ``ObjectObservation``; the core's ``map`` is written as ``frame_id``."""
    keys = sorted(obs.attributes)
    frame = frame_id if frame_id is not None and obs.frame_id == MAP_FRAME else obs.frame_id
    return _new(
        f"{IFACE}/msg/ObjectObservation",
        header=header_to_ros(frame, obs.timestamp),
        category=obs.category,
        caption=obs.caption,
        position=point_to_ros(obs.position),
        extent=vector3_to_ros(obs.extent),
        confidence=float(obs.confidence),
        object_id=obs.object_id or "",
        has_source_pose=obs.source_pose is not None,
        source_pose=pose7_to_ros(obs.source_pose or (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)),
        room=obs.room or "",
        attribute_keys=keys,
        attribute_values=[str(obs.attributes[k]) for k in keys],
    )


def observation_from_ros(msg: Any, map_frame: str = MAP_FRAME, to_map: ToMap | None = None) -> Observation:
    """``ObjectObservation`` -> :class:`Observation` in the core's ``map``.

    An observation in ``map_frame`` is taken as it is; one in another frame is moved into
    ``map_frame`` with ``to_map`` (position, source pose, and the box that holds the rotated
    extent). InvalidObservationError names the bad field or the frame that cannot be
    transformed.
    """
    frame_id, stamp = header_from_ros(msg.header)
    keys, values = list(msg.attribute_keys), list(msg.attribute_values)
    if len(keys) != len(values):
        raise InvalidObservationError(
            f"{len(keys)} attribute_keys but {len(values)} attribute_values; expected equal lengths",
            field="attribute_keys",
        )
    obs = Observation(
        category=str(msg.category),
        position=point_from_ros(msg.position),
        extent=vector3_from_ros(msg.extent),
        caption=str(msg.caption),
        confidence=float(msg.confidence),
        timestamp=stamp,
        frame_id=MAP_FRAME,
        object_id=str(msg.object_id) or None,
        source_pose=pose7_from_ros(msg.source_pose) if msg.has_source_pose else None,
        room=str(msg.room) or None,
        attributes={str(k): str(v) for k, v in zip(keys, values, strict=True)},
    )
    if frame_id == map_frame:
        return obs
    if to_map is None or not frame_id:
        raise InvalidObservationError(f"frame {frame_id!r} is not the map frame {map_frame!r} and no transform "
                                      "is available", field="frame_id")
    try:
        T = to_map(frame_id, stamp)
    except ValueError as err:
        raise InvalidObservationError(f"frame {frame_id!r} cannot be transformed to {map_frame!r}: {err}",
                                      field="frame_id") from err
    position, extent = transform_box(T, obs.position, obs.extent)
    source = transform_pose7(T, obs.source_pose) if obs.source_pose is not None else None
    return replace(obs, position=position, extent=extent, source_pose=source)


def observations_to_ros(observations: Iterable[Observation], stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    """A batch of observations, all written in ``frame_id`` (the node's map frame)."""
    return _new(
        f"{IFACE}/msg/ObjectObservationArray",
        header=header_to_ros(frame_id, stamp_s),
        observations=[observation_to_ros(o, frame_id) for o in observations],
    )


def observations_from_ros(msg: Any, map_frame: str = MAP_FRAME, to_map: ToMap | None = None
                          ) -> tuple[list[Observation], list[str]]:
    """``(valid observations in map, one reason per rejected one)``: a bad element never spoils
    the batch. See :func:`observation_from_ros` for ``map_frame`` and ``to_map``."""
    accepted: list[Observation] = []
    rejected: list[str] = []
    for index, item in enumerate(msg.observations):
        try:
            accepted.append(observation_from_ros(item, map_frame, to_map))
        except (InvalidObservationError, ValueError, TypeError) as err:
            rejected.append(f"observations[{index}] ({getattr(item, 'category', '?')!r}): {err}")
    return accepted, rejected


def _seen_times(hit: Any) -> tuple[bool, float, float]:
    first, last = getattr(hit, "first_seen", None), getattr(hit, "last_seen", None)
    if first is None or last is None:
        return False, 0.0, 0.0
    return True, float(first), float(last)



def memory_hit_to_ros(hit: Any, stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    """A core ``MemoryHit`` (leaf or cluster) -> ``MemoryHit`` message; poses in ``frame_id``."""
    has_times, first, last = _seen_times(hit)
    ancestors = list(getattr(hit, "ancestors", []) or [])
    return _new(
        f"{IFACE}/msg/MemoryHit",
        node_id=str(hit.node_id),
        name=str(hit.name),
        text=str(getattr(hit, "text", "") or ""),
        level=min(max(int(hit.level), 0), 255),
        score=float(hit.score),
        position=point_to_ros(hit.position),
        target_pose=pose_stamped_to_ros(hit.target_pose, frame_id, stamp_s),
        category=str(getattr(hit, "category", "") or ""),
        ancestor_ids=[str(a[0]) for a in ancestors],
        ancestor_names=[str(a[1]) for a in ancestors],
        has_seen_times=has_times,
        first_seen=time_to_ros(first),
        last_seen=time_to_ros(last),
    )


def memory_hit_from_ros(msg: Any) -> Any:
    """``MemoryHit`` message -> the core ``embodied_stack.memory.MemoryHit``."""
    from embodied_stack.memory.results import MemoryHit

    return MemoryHit(
        node_id=str(msg.node_id),
        name=str(msg.name),
        text=str(msg.text),
        level=int(msg.level),
        score=float(msg.score),
        position=point_from_ros(msg.position),
        target_pose=pose2d_from_ros(msg.target_pose.pose),
        category=str(msg.category) or None,
        ancestors=list(zip((str(a) for a in msg.ancestor_ids), (str(n) for n in msg.ancestor_names), strict=True)),
        first_seen=time_from_ros(msg.first_seen) if msg.has_seen_times else None,
        last_seen=time_from_ros(msg.last_seen) if msg.has_seen_times else None,
    )


def hit_ref_to_ros(hit: HitRef, stamp_s: float, frame_id: str = MAP_FRAME) -> Any:
    """The planner's reference to a memory hit -> ``MemoryHit`` (text, category, ancestors empty)."""
    return _new(
        f"{IFACE}/msg/MemoryHit",
        node_id=hit.node_id,
        name=hit.name,
        level=min(max(int(hit.level), 0), 255),
        score=float(hit.score),
        position=point_to_ros(hit.position),
        target_pose=pose_stamped_to_ros(hit.target_pose, frame_id, stamp_s),
        first_seen=time_to_ros(0.0),
        last_seen=time_to_ros(0.0),
    )


def hit_ref_from_ros(msg: Any) -> HitRef:
    return HitRef(
        node_id=str(msg.node_id),
        name=str(msg.name),
        score=float(msg.score),
        level=int(msg.level),
        target_pose=pose2d_from_ros(msg.target_pose.pose),
        position=point_from_ros(msg.position),
    )


# QueryMemory.srv kind constants; 0 (AUTO) is "let the memory detect the kind".
QUERY_KINDS = ("AUTO", "EXPLICIT", "IMPLICIT", "GLOBAL", "TEMPORAL")


def query_kind_to_ros(kind: Any) -> int:
    """A core ``QueryKind`` (or its lower-case name, or None for auto) -> the srv constant."""
    if kind is None or kind == "":
        return 0
    name = str(getattr(kind, "name", kind)).upper()
    if name not in QUERY_KINDS:
        raise ValueError(f"unknown query kind {kind!r}; expected one of {[k.lower() for k in QUERY_KINDS]}")
    return QUERY_KINDS.index(name)


def query_kind_from_ros(value: int) -> Any:
    """The srv constant -> core ``QueryKind``, or None for AUTO; ValueError for other values."""
    from embodied_stack.memory.results import QueryKind

    if not 0 <= int(value) < len(QUERY_KINDS):
        raise ValueError(f"unknown query kind {value}; expected 0..{len(QUERY_KINDS) - 1} (AUTO, EXPLICIT, IMPLICIT, GLOBAL, TEMPORAL)")
    return None if int(value) == 0 else QueryKind[QUERY_KINDS[int(value)]]


def memory_stats_to_ros(stats: Any, stamp_s: float, rejected: int = 0, frame_id: str = MAP_FRAME) -> Any:
    """The core ``MemoryStats`` (and this node's count of refused observations) -> message."""
    levels = stats.nodes_per_level
    return _new(
        f"{IFACE}/msg/MemoryStats",
        header=header_to_ros(frame_id, stamp_s),
        leaves=int(stats.leaves),
        nodes=int(stats.nodes),
        nodes_per_level=[int(levels.get(level, 0)) for level in range(1, max(levels, default=0) + 1)],
        levels=int(stats.levels),
        observations=int(stats.observations),
        categories=int(stats.categories),
        rooms=int(stats.rooms),
        rejected=int(rejected),
        embedder=str(stats.embedder),
        dim=int(stats.dim),
        index=str(stats.index),
        generation=int(stats.generation),
        store=str(stats.store or ""),
    )


def memory_stats_from_ros(msg: Any) -> tuple[Any, int]:
    """``(core MemoryStats, refused observations)``."""
    from embodied_stack.memory.results import MemoryStats

    stats = MemoryStats(
        leaves=int(msg.leaves), nodes=int(msg.nodes),
        nodes_per_level={level: int(n) for level, n in enumerate(msg.nodes_per_level, start=1)},
        levels=int(msg.levels), observations=int(msg.observations), categories=int(msg.categories),
        rooms=int(msg.rooms), embedder=str(msg.embedder), dim=int(msg.dim), index=str(msg.index),
        generation=int(msg.generation), store=str(msg.store) or None,
    )
    return stats, int(msg.rejected)

