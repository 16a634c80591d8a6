"""Navigation episodes in the ``embodied-stack.episodes/1`` format (FORMATS.md): load, save, generate.

Loading is strict like scene loading: a malformed file raises :class:`EpisodeFormatError` naming
the file, the field (``episodes[3].start.position``) and what was expected; with a scene given,
targets are also checked against it. :func:`generate_episodes` samples starts on the main
navigable component and reachable targets (object categories, single objects and rooms) with
instructions in varied wording.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.sim.errors import EpisodeFormatError, NavigationError
from embodied_stack.sim.goals import GoalRegion
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Scene, _Fields, read_json
from embodied_stack.types import Pose2D

EPISODES_FORMAT = "embodied-stack.episodes/1"
DEFAULT_MAX_STEPS = 500

_CATEGORY_TEMPLATES = (
    "go to the {c}", "find the {c}", "take me to {a} {c}", "I need to find the {c}", "navigate to the {c}",
    "where is the {c}? go there", "can you go to the {c}?", "head over to the {c}", "please find {a} {c}",
    "look for {a} {c} and stop next to it", "bring me to the {c}", "walk to the nearest {c}",
)
_OBJECT_TEMPLATES = (
    "go to the {c} in the {r}", "take me to the {c} in the {r}", "find the {c} in the {r}",
    "I'm looking for the {c} in the {r}", "navigate to the {r} {c}", "go to the {d}",
    "please stop next to the {d}",
)
_ROOM_TEMPLATES = (
    "go to the {r}", "take me to the {r}", "head to the {r}", "I want to go to the {r}",
    "navigate to the {r}", "find the {r}", "let's go to the {r}", "can you take me to the {r}?",
)


@dataclass(frozen=True)
class Episode:
    """One navigation episode: a start pose, an instruction and its targets (any may be empty,
    not all)."""

    id: str
    start: Pose2D
    instruction: str
    target_categories: tuple[str, ...] = ()
    target_objects: tuple[str, ...] = ()
    target_rooms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "start": {"position": [round(self.start.x, 4), round(self.start.y, 4)], "yaw": round(self.start.yaw, 4)},
            "instruction": self.instruction,
        }
        for key in ("target_categories", "target_objects", "target_rooms"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        return out


@dataclass
class EpisodeSet:
    """The episodes of one scene with the success distance (metres) and the step budget."""

    scene: str
    episodes: list[Episode] = field(default_factory=list)
    success_distance_m: float = 1.0
    max_steps: int = DEFAULT_MAX_STEPS

    def __post_init__(self) -> None:
        if not (math.isfinite(self.success_distance_m) and self.success_distance_m > 0):
            raise ValueError(f"success_distance_m must be > 0, got {self.success_distance_m}")
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be > 0, got {self.max_steps}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": EPISODES_FORMAT,
            "scene": self.scene,
            "success_distance_m": self.success_distance_m,
            "max_steps": self.max_steps,
            "episodes": [e.to_dict() for e in self.episodes],
        }

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "<episodes>", scene: Scene | None = None) -> EpisodeSet:
        return _parse(data, path, scene)

    def goal(self, scene: Scene, navmap: NavMap, episode: Episode) -> GoalRegion:
        """The episode's goal region (restricted to the cells reachable from its start)."""
        return episode_goal(scene, navmap, episode, self.success_distance_m)


def episode_goal(scene: Scene, navmap: NavMap, episode: Episode, success_distance_m: float = 1.0) -> GoalRegion:
    """Goal region of an episode: see :mod:`embodied_stack.sim.goals`."""
    return GoalRegion.for_targets(
        scene, navmap, start_xy=episode.start.xy, categories=episode.target_categories,
        object_ids=episode.target_objects, room_ids=episode.target_rooms, success_distance_m=success_distance_m)


def episode_goal_points(scene: Scene, navmap: NavMap, episode: Episode) -> np.ndarray:
    """(M, 2) navigable points nearest each target object's box and central points of the target
    rooms (the goal points; the success region extends ``success_distance_m`` around them)."""
    return episode_goal(scene, navmap, episode).points_xy


def load_episodes(path: str | Path, scene: Scene | None = None) -> EpisodeSet:
    """Read and validate an episodes/1 file (targets checked against ``scene`` when given)."""
    path = Path(path)
    return _parse(read_json(path, EpisodeFormatError), str(path), scene)


def save_episodes(episodes: EpisodeSet, path: str | Path) -> None:
    """Write an episodes/1 file (atomically)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(episodes.to_dict(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _parse(data: Any, path: str, scene: Scene | None) -> EpisodeSet:
    f = _Fields(path, EpisodeFormatError)
    data = f.obj(data, "(top level)")
    fmt = f.get(data, "format", "")
    if fmt != EPISODES_FORMAT:
        raise f.fail("format", f"'{EPISODES_FORMAT}'", fmt)
    scene_name = f.string(f.get(data, "scene", ""), "scene")
    success = f.number(f.get(data, "success_distance_m", "", 1.0), "success_distance_m", positive=True)
    max_steps = f.get(data, "max_steps", "", DEFAULT_MAX_STEPS)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps <= 0:
        raise f.fail("max_steps", "a positive integer", max_steps)
    episodes = [_parse_episode(f, e, f"episodes[{i}]", scene) for i, e in enumerate(f.array(data, "episodes", ""))]
    seen: set[str] = set()
    for i, e in enumerate(episodes):
        if e.id in seen:
            raise f.fail(f"episodes[{i}].id", "an id unique in the file", e.id)
        seen.add(e.id)
    return EpisodeSet(scene_name, episodes, success, max_steps)


def _parse_episode(f: _Fields, e: Any, where: str, scene: Scene | None) -> Episode:
    e = f.obj(e, where)
    eid = f.string(f.get(e, "id", where), f"{where}.id")
    start = f.obj(f.get(e, "start", where), f"{where}.start")
    pos = f.vector(f.get(start, "position", f"{where}.start"), 2, f"{where}.start.position")
    yaw = f.number(f.get(start, "yaw", f"{where}.start", 0.0), f"{where}.start.yaw")
    instruction = f.string(f.get(e, "instruction", where), f"{where}.instruction", nonempty=False)
    targets: dict[str, tuple[str, ...]] = {}
    for key in ("target_categories", "target_objects", "target_rooms"):
        value = f.get(e, key, where, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise f.fail(f"{where}.{key}", "a list of non-empty strings", value)
        targets[key] = tuple(v.strip().lower() if key == "target_categories" else v for v in value)
    if not any(targets.values()):
        raise f.fail(where, "at least one of target_categories, target_objects, target_rooms", "no targets")
    if scene is not None:
        _check_targets(f, where, targets, scene)
    return Episode(eid, Pose2D(pos[0], pos[1], yaw), instruction, targets["target_categories"],
                   targets["target_objects"], targets["target_rooms"])


def _check_targets(f: _Fields, where: str, targets: dict[str, tuple[str, ...]], scene: Scene) -> None:
    known = {
        "target_categories": set(scene.categories),
        "target_objects": {o.id for o in scene.objects},
        "target_rooms": {r.id for r in scene.rooms},
    }
    for key, values in targets.items():
        for j, value in enumerate(values):
            if value not in known[key]:
                raise f.fail(f"{where}.{key}[{j}]", f"a {key.split('_')[1][:-1]} of scene {scene.name!r}", value)


def generate_episodes(
    scene: Scene,
    navmap: NavMap,
    n: int,
    seed: int,
    *,
    min_distance_m: float = 3.0,
    success_distance_m: float = 1.0,
    max_steps: int = DEFAULT_MAX_STEPS,
    mix: tuple[float, float, float] = (0.5, 0.25, 0.25),
) -> EpisodeSet:
    """``n`` episodes with starts on the main component at least ``min_distance_m`` (geodesic)
    from a reachable goal region; targets drawn as (category, object, room) with ``mix``, each
    target used once while unused ones remain.

    Raises :class:`NavigationError` when the scene cannot supply ``n`` such episodes.
    """
    rng = np.random.default_rng(seed)
    by_room: dict[tuple[str, str], int] = {}
    for o in scene.objects:
        by_room[(o.room, o.category)] = by_room.get((o.room, o.category), 0) + 1
    candidates = {
        "category": [(c,) for c in scene.categories],
        "object": [(o.id,) for o in scene.objects if by_room[(o.room, o.category)] == 1],
        "room": sorted({(r.category,) for r in scene.rooms}),
    }
    kinds = [k for k in ("category", "object", "room") if candidates[k]]
    weights = np.array([mix[("category", "object", "room").index(k)] for k in kinds])
    episodes: list[Episode] = []
    used: set[tuple[str, str]] = set()
    goals: dict[tuple[str, str], GoalRegion | None] = {}
    for _ in range(max(200, 60 * n)):
        if len(episodes) == n:
            break
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        (key,) = candidates[kind][int(rng.integers(0, len(candidates[kind])))]
        if (kind, key) in used and len(used) < sum(len(v) for v in candidates.values()):
            continue
        xy = navmap.sample_navigable(rng, 1)[0]
        start = Pose2D(round(float(xy[0]), 4), round(float(xy[1]), 4), round(float(rng.uniform(-math.pi, math.pi)), 4))
        episode = _make_episode(scene, kind, key, start, f"e{len(episodes) + 1:03d}", rng)
        if (kind, key) not in goals:
            try:
                goals[(kind, key)] = episode_goal(scene, navmap, episode, success_distance_m)
            except NavigationError:
                goals[(kind, key)] = None
        goal = goals[(kind, key)]
        if goal is None or not _far_enough(navmap, goal, start, min_distance_m):
            continue
        used.add((kind, key))
        episodes.append(episode)
    if len(episodes) < n:
        raise NavigationError(f"scene {scene.name!r}: found only {len(episodes)} of {n} episodes with a goal "
                              f">= {min_distance_m} m away; lower min_distance_m or n")
    return EpisodeSet(scene.name, episodes, success_distance_m, max_steps)


def _far_enough(navmap: NavMap, goal: GoalRegion, start: Pose2D, min_distance_m: float) -> bool:
    """Geodesic start-goal distance >= the minimum; the grid field (an upper bound) rules most
    candidates out before the exact, string-pulled distance is computed."""
    ij = navmap.world_to_grid(start.xy[None])[0]
    if navmap.distance_field(goal.cells_xy)[ij[0], ij[1]] < min_distance_m:
        return False
    return goal.distance(start.xy) >= min_distance_m


def _make_episode(scene: Scene, kind: str, key: str, start: Pose2D, eid: str, rng: np.random.Generator) -> Episode:
    def pick(templates: tuple[str, ...]) -> str:
        return templates[int(rng.integers(0, len(templates)))]

    if kind == "category":
        article = "an" if key[0] in "aeiou" else "a"
        return Episode(eid, start, pick(_CATEGORY_TEMPLATES).format(c=key, a=article), target_categories=(key,))
    if kind == "object":
        obj = scene.object_by_id(key)
        room = scene.room_by_id(obj.room).category
        desc = obj.description
        templates = _OBJECT_TEMPLATES if desc else tuple(t for t in _OBJECT_TEMPLATES if "{d}" not in t)
        desc = desc.split(" ", 1)[1] if desc.split(" ", 1)[0] in ("a", "an", "the") and " " in desc else desc
        return Episode(eid, start, pick(templates).format(c=obj.category, r=room, d=desc), target_objects=(key,))
    rooms = tuple(r.id for r in scene.rooms if r.category == key)
    return Episode(eid, start, pick(_ROOM_TEMPLATES).format(r=key), target_rooms=rooms)
