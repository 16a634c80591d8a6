"""Memory query sets in the ``embodied-stack.queries/1`` format (FORMATS.md) and their scoring rule.

A query set holds questions people ask a robot about a place it has explored ("where did I
leave my glasses?", "I'm hungry", "which room has the piano?"), each with its ground truth as
targets: object categories, object ids and/or room ids of the scene. Loading is strict like
scene loading: a malformed file raises :class:`QueryFormatError` naming the file, the field
(``queries[3].target_rooms[0]``) and what was expected; with a scene given, every target and
the scene name are checked against it.

Scoring (:func:`query_success`): the memory's top-1 answer position is correct when its
*horizontal* (x, y) distance to the centre of any target object (any object of a target
category, or a target object id) is at most the success radius (default 1.5 m), or when it
lies inside the polygon of any target room. Horizontal, because the answer is a place on the
floor plan to send the robot to, and the heights of the two points are not comparable: a leaf
hit sits at the fused object centre (a wall picture at 1.6 m, a rug at 0.01 m) while a room or
cluster node may report a point at any height inside its region. Only z is ignored, except
that in a scene of several storeys it picks the storey: a target on another floor never counts;
the radius is the one in FORMATS.md.

Temporal sets carry ``passes``: survey passes with the scene changes (objects moved, removed,
added) made before each; targets are scored in the scene state of a chosen pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.sim.errors import EpisodeFormatError
from embodied_stack.sim.scene import Scene, SceneObject, _Fields, read_json

QUERIES_FORMAT = "embodied-stack.queries/1"
QUERY_KINDS = ("explicit", "implicit", "global", "temporal")
SPLITS = ("dev", "test")
DEFAULT_SUCCESS_RADIUS_M = 1.5
_TARGET_KEYS = ("target_categories", "target_objects", "target_rooms")
STOREY_TOLERANCE_M = 0.5
"""A point belongs to the highest storey whose floor is at most this far above it (FORMATS.md)."""


class QueryFormatError(EpisodeFormatError):
    """A query set file does not follow ``embodied-stack.queries/1``."""


@dataclass(frozen=True)
class Query:
    """One question with its ground truth.

    ``kind``: ``explicit`` (names the thing), ``implicit`` (names a need or an activity) or
    ``global`` (about a region or the whole place). Targets: object categories (lower case),
    object ids, room ids; at least one in all. ``success_radius_m`` overrides the set's radius
    (metres) for this query; None inherits it. ``tags`` group queries for separate reporting
    ("paraphrase": a rewording of an implicit question that shares no content word with the
    knowledge table's entries for its target). Temporal queries (a set with ``passes``):
    ``at_pass`` is the survey pass (1-based) whose scene state the targets are scored in (default:
    the last), ``expect_pass`` the pass in which the top-1 answer must have been seen last
    ("when did you last see the umbrella?").
    """

    id: str
    text: str
    kind: str
    target_categories: tuple[str, ...] = ()
    target_objects: tuple[str, ...] = ()
    target_rooms: tuple[str, ...] = ()
    success_radius_m: float | None = None
    tags: tuple[str, ...] = ()
    at_pass: int | None = None
    expect_pass: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in QUERY_KINDS:
            raise ValueError(f"Query {self.id!r}: kind must be one of {QUERY_KINDS}, got {self.kind!r}")
        if not (self.target_categories or self.target_objects or self.target_rooms):
            raise ValueError(f"Query {self.id!r}: needs at least one of {', '.join(_TARGET_KEYS)}")
        radius = self.success_radius_m
        if radius is not None and not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"Query {self.id!r}: success_radius_m must be > 0 metres, got {radius!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "kind": self.kind}
        for key in _TARGET_KEYS:
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.success_radius_m is not None:
            out["success_radius_m"] = self.success_radius_m
        if self.tags:
            out["tags"] = list(self.tags)
        for key in ("at_pass", "expect_pass"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class SurveyPass:
    """One survey pass of a temporal query set: its start time (seconds on the memory's clock)
    and the changes made to the scene before it (see :func:`apply_changes`)."""

    start_s: float
    changes: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start_s": self.start_s}
        if self.changes:
            out["changes"] = [dict(c) for c in self.changes]
        return out


@dataclass
class QuerySet:
    """The queries of one scene and the default success radius (metres) they are scored with."""

    scene: str
    queries: list[Query] = field(default_factory=list)
    success_radius_m: float = DEFAULT_SUCCESS_RADIUS_M
    split: str | None = None
    """``dev`` (may be looked at while tuning) or ``test`` (reported only); by scene, FORMATS.md."""
    passes: list[SurveyPass] = field(default_factory=list)
    """Temporal sets: the survey passes (two or more) with the scene changes between them."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.success_radius_m) and self.success_radius_m > 0):
            raise ValueError(f"QuerySet.success_radius_m must be > 0 metres, got {self.success_radius_m!r}")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"QuerySet.split must be one of {SPLITS}, got {self.split!r}")

    def radius_of(self, query: Query) -> float:
        """The success radius that applies to ``query`` (its own, else the set's), metres."""
        return query.success_radius_m if query.success_radius_m is not None else self.success_radius_m

    def success(self, scene: Scene, query: Query, position_xyz: Sequence[float] | np.ndarray) -> bool:
        """:func:`query_success` with this set's radius as the default."""
        return query_success(scene, query, position_xyz, self.radius_of(query))

    def counts(self) -> dict[str, int]:
        """Number of queries per kind (every kind listed, zero included)."""
        return {k: sum(q.kind == k for q in self.queries) for k in QUERY_KINDS}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": QUERIES_FORMAT, "scene": self.scene}
        if self.split is not None:
            out["split"] = self.split
        if self.success_radius_m != DEFAULT_SUCCESS_RADIUS_M:
            out["success_radius_m"] = self.success_radius_m
        if self.passes:
            out["passes"] = [p.to_dict() for p in self.passes]
        out["queries"] = [q.to_dict() for q in self.queries]
        return out

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "<queries>", scene: Scene | None = None) -> QuerySet:
        return _parse(data, path, scene)


def load_queries(path: str | Path, scene: Scene | None = None) -> QuerySet:
    """Read and validate a queries/1 file (scene name and targets checked against ``scene``).

    Raises:
        QueryFormatError: the file is missing, not JSON, or breaks the format.
    """
    path = Path(path)
    return _parse(read_json(path, QueryFormatError), str(path), scene)


def save_queries(query_set: QuerySet, path: str | Path) -> None:
    """Write a queries/1 file (atomically: a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(query_set.to_dict(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def target_distance_m(scene: Scene, query: Query, position_xyz: Sequence[float] | np.ndarray) -> float:
    """Horizontal metres from a position to the query's targets: 0 inside a target room, else the
    (x, y) distance to the nearest target object centre (``inf`` when the query targets rooms
    only and the point is outside them)."""
    point = np.asarray(position_xyz, dtype=np.float64).reshape(-1)
    xy = point[:2]
    if not np.all(np.isfinite(xy)):
        return math.inf
    floors = scene.storey_floors()
    storey = point_storey(floors, float(point[2])) if len(floors) > 1 and len(point) > 2 else None
    for room_id in query.target_rooms:
        if storey is not None and scene.storey_of_room(room_id) != storey:
            continue
        if bool(scene.room_by_id(room_id).contains(xy[None])[0]):
            return 0.0
    objects = target_objects(scene, query)
    if storey is not None:
        objects = [o for o in objects if scene.storey_of_room(o.room) == storey]
    if not objects:
        return math.inf
    centres = np.array([o.center[:2] for o in objects], dtype=np.float64).reshape(-1, 2)
    return float(np.min(np.linalg.norm(centres - xy, axis=1)))


def point_storey(floors: Sequence[float], z: float) -> int:
    """The storey a point at height ``z`` is on: the highest whose floor is at most
    :data:`STOREY_TOLERANCE_M` above it (0 below the lowest)."""
    below = [i for i, f in enumerate(floors) if f <= z + STOREY_TOLERANCE_M]
    return max(below) if below else 0


def target_objects(scene: Scene, query: Query) -> list[SceneObject]:
    """Every object the query targets (by category or id)."""
    objects = [o for c in query.target_categories for o in scene.objects_of_category(c)]
    return objects + [scene.object_by_id(i) for i in query.target_objects]


def target_centres_xy(scene: Scene, query: Query) -> np.ndarray:
    """(M, 2) floor-plane centres of every object the query targets (by category or id)."""
    return np.array([o.center[:2] for o in target_objects(scene, query)], dtype=np.float64).reshape(-1, 2)


def query_success(
    scene: Scene,
    query: Query,
    position_xyz: Sequence[float] | np.ndarray,
    success_radius_m: float | None = None,
) -> bool:
    """Whether a top-1 answer at ``position_xyz`` (``map``, metres) answers ``query``.

    Correct when the point is inside any target room's polygon, or its horizontal (x, y)
    distance to the centre of any target object is at most the radius: ``success_radius_m``
    when given, else the query's own, else :data:`DEFAULT_SUCCESS_RADIUS_M` (see the module
    docstring for why z is ignored). Target ids must exist in ``scene`` (load the set with the
    scene to check them): an unknown one raises ``KeyError``.
    """
    if success_radius_m is None:
        success_radius_m = query.success_radius_m if query.success_radius_m is not None else DEFAULT_SUCCESS_RADIUS_M
    return target_distance_m(scene, query, position_xyz) <= success_radius_m


def _parse(data: Any, path: str, scene: Scene | None) -> QuerySet:
    f = _Fields(path, QueryFormatError)
    data = f.obj(data, "(top level)")
    fmt = f.get(data, "format", "")
    if fmt != QUERIES_FORMAT:
        raise f.fail("format", f"'{QUERIES_FORMAT}'", fmt)
    scene_name = f.string(f.get(data, "scene", ""), "scene")
    if scene is not None and scene_name != scene.name:
        raise f.fail("scene", f"the name of the scene it is scored on ({scene.name!r})", scene_name)
    radius = f.number(f.get(data, "success_radius_m", "", DEFAULT_SUCCESS_RADIUS_M), "success_radius_m",
                      positive=True)
    split = f.get(data, "split", "", None)
    if split is not None and split not in SPLITS:
        raise f.fail("split", f"one of {', '.join(SPLITS)}", split)
    passes = [_parse_pass(f, p, f"passes[{i}]") for i, p in enumerate(f.get(data, "passes", "", []) or [])]
    if passes and len(passes) < 2:
        raise f.fail("passes", "two or more survey passes", len(passes))
    if any(b.start_s <= a.start_s for a, b in zip(passes[:-1], passes[1:], strict=True)):
        raise f.fail("passes", "start times that increase", [p.start_s for p in passes])
    states = scene_states(scene, passes, f) if scene is not None and passes else None
    queries = [_parse_query(f, q, f"queries[{i}]", scene, states, len(passes))
               for i, q in enumerate(f.array(data, "queries", ""))]
    seen: set[str] = set()
    for i, q in enumerate(queries):
        if q.id in seen:
            raise f.fail(f"queries[{i}].id", "an id unique in the file", q.id)
        seen.add(q.id)
    return QuerySet(scene_name, queries, radius, split, passes)


def _parse_pass(f: _Fields, p: Any, where: str) -> SurveyPass:
    p = f.obj(p, where)
    start = f.number(f.get(p, "start_s", where), f"{where}.start_s")
    changes = f.get(p, "changes", where, [])
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise f.fail(f"{where}.changes", "a list of change objects", changes)
    return SurveyPass(start, tuple(changes))


def scene_states(scene: Scene, passes: Sequence[SurveyPass], f: _Fields | None = None) -> list[Scene]:
    """The scene as it is during each pass: each pass's changes applied to the state before it."""
    from embodied_stack.sim.scene import apply_changes

    states: list[Scene] = []
    current = scene
    for i, survey_pass in enumerate(passes):
        try:
            current = apply_changes(current, survey_pass.changes)
        except (KeyError, ValueError) as err:
            if f is None:
                raise
            raise f.fail(f"passes[{i}].changes", "changes that apply to the scene", str(err)) from err
        states.append(current)
    return states


def _parse_query(f: _Fields, q: Any, where: str, scene: Scene | None, states: list[Scene] | None = None,
                 n_passes: int = 0) -> Query:
    q = f.obj(q, where)
    qid = f.string(f.get(q, "id", where), f"{where}.id")
    text = f.string(f.get(q, "text", where), f"{where}.text")
    kind = f.get(q, "kind", where)
    if kind not in QUERY_KINDS:
        raise f.fail(f"{where}.kind", f"one of {', '.join(QUERY_KINDS)}", kind)
    targets: dict[str, tuple[str, ...]] = {}
    for key in _TARGET_KEYS:
        value = f.get(q, key, where, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise f.fail(f"{where}.{key}", "a list of non-empty strings", value)
        targets[key] = tuple(v.strip().lower() if key == "target_categories" else v for v in value)
    if not any(targets.values()):
        raise f.fail(where, f"at least one of {', '.join(_TARGET_KEYS)}", "no targets")
    radius = None
    if "success_radius_m" in q:
        radius = f.number(q["success_radius_m"], f"{where}.success_radius_m", positive=True)
    tags = f.get(q, "tags", where, [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise f.fail(f"{where}.tags", "a list of non-empty strings", tags)
    passes: dict[str, int | None] = {}
    for key in ("at_pass", "expect_pass"):
        value = f.get(q, key, where, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= n_passes):
            raise f.fail(f"{where}.{key}", f"a pass number in 1..{n_passes}" if n_passes else "no pass (the set has none)",
                         value)
        passes[key] = value
    if kind == "temporal" and not n_passes:
        raise f.fail(f"{where}.kind", "a kind other than temporal (temporal queries need a set with passes)", kind)
    if scene is not None:
        state = scene if states is None else states[(passes["at_pass"] or len(states)) - 1]
        _check_targets(f, where, targets, state if targets["target_objects"] else scene)
    return Query(qid, text, kind, targets["target_categories"], targets["target_objects"],
                 targets["target_rooms"], radius, tuple(tags), passes["at_pass"], passes["expect_pass"])



def _check_targets(f: _Fields, where: str, targets: dict[str, tuple[str, ...]], scene: Scene) -> None:
    known = {
        "target_categories": ("an object category", sorted(set(scene.categories))),
        "target_objects": ("an object id", sorted(o.id for o in scene.objects)),
        "target_rooms": ("a room id", sorted(r.id for r in scene.rooms)),
    }
    for key, values in targets.items():
        what, names = known[key]
        for j, value in enumerate(values):
            if value not in names:
                shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
                raise f.fail(f"{where}.{key}[{j}]", f"{what} of scene {scene.name!r} ({shown})", value)
