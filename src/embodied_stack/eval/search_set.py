"""Search episode sets (``embodied-stack.search/1``): targets the memory has not seen.

A set fixes, per scene, the brief survey the robot made and the targets it then searches for::

    {"format": "embodied-stack.search/1", "split": "test", "success_distance_m": 1.0,
     "survey_steps": 120, "search_steps": 600, "approach_steps": 300, "width": 160, "height": 120,
     "seed": 0,
     "scenes": [{"scene": "home_0002", "episodes": [
        {"id": "home_0002/u1", "kind": "unsurveyed", "target": "toaster"},
        {"id": "home_0002/m1", "kind": "moved", "target": "backpack", "object": "obj_031",
         "to": [4.1, 2.3, 0.25]}]}]}

``scene`` is a shipped scene name (``sim/scenes`` or ``shared/data``) or ``gen:SEED`` (a
generated home). ``unsurveyed``: a category the survey never perceived (it stands in a room the
survey did not reach). ``moved``: a category the survey perceived, whose only instance is moved
after the survey to ``to`` (a floor point in another room), so the memory's sighting is stale.

:func:`pick_moves` picks the moved episodes from the scene file and what the survey perceived
(ground truth: episode generation only; the robot gets the instruction "find the <target>").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.sim.errors import EpisodeFormatError
from embodied_stack.sim.scene import Scene, read_json

SEARCH_FORMAT = "embodied-stack.search/1"
KINDS = ("unsurveyed", "moved")
SET_FIELDS = {"survey_steps": 120, "search_steps": 600, "approach_steps": 300, "width": 160, "height": 120, "seed": 0}
MOVABLE_MAX_SIDE_M = 1.0
MOVABLE_MAX_HEIGHT_M = 1.3
FIXTURES = ("sink", "washbasin", "toilet", "bathtub", "shower", "stove", "oven", "counter", "dishwasher",
            "washing machine", "fireplace", "radiator", "window", "door", "shelf", "cabinet", "wardrobe")
"""Words of installed things that nobody carries to another room (never moved by an episode)."""


@dataclass(frozen=True)
class SearchEpisode:
    id: str
    kind: str
    target: str
    object: str | None = None
    to: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "target": self.target}
        if self.kind == "moved":
            out["object"] = self.object
            out["to"] = [round(float(v), 3) for v in self.to or ()]
        return out

    def apply(self, scene: Scene) -> Scene:
        """The scene as the search finds it (the moved object at ``to``)."""
        if self.kind != "moved":
            return scene
        objects = [replace(o, center=tuple(self.to)) if o.id == self.object else o for o in scene.objects]  # type: ignore[arg-type]
        return Scene(scene.name, scene.rooms, scene.doors, objects, scene.source)


@dataclass
class SceneEpisodes:
    scene: str
    episodes: list[SearchEpisode] = field(default_factory=list)


@dataclass
class SearchSet:
    split: str
    scenes: list[SceneEpisodes]
    success_distance_m: float = 1.0
    survey_steps: int = 120
    search_steps: int = 600
    approach_steps: int = 300
    width: int = 160
    height: int = 120
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": SEARCH_FORMAT, "split": self.split, "success_distance_m": self.success_distance_m,
                **{name: getattr(self, name) for name in SET_FIELDS},
                "scenes": [{"scene": s.scene, "episodes": [e.to_dict() for e in s.episodes]} for s in self.scenes]}


def _fail(path: str, where: str, expected: str, got: Any) -> EpisodeFormatError:
    return EpisodeFormatError(f"expected {expected}, got {str(got)[:80]!r}", path=path, field=where)


def parse_search_set(data: Any, *, path: str = "<search set>") -> SearchSet:
    """Validate a search episode set (see the module docstring)."""
    if not isinstance(data, dict):
        raise _fail(path, "(top level)", "a JSON object", data)
    if data.get("format") != SEARCH_FORMAT:
        raise _fail(path, "format", f"'{SEARCH_FORMAT}'", data.get("format"))
    split = data.get("split", "")
    if not isinstance(split, str):
        raise _fail(path, "split", "a string", split)
    distance = data.get("success_distance_m", 1.0)
    if isinstance(distance, bool) or not isinstance(distance, (int, float)) or not distance > 0:
        raise _fail(path, "success_distance_m", "a number > 0", distance)
    numbers = {}
    for name, default in SET_FIELDS.items():
        value = data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
            raise _fail(path, name, "an integer >= 1" if name != "seed" else "an integer >= 0", value)
        numbers[name] = value
    raw = data.get("scenes")
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "scenes", "a non-empty list", raw)
    scenes, ids = [], set()
    for i, item in enumerate(raw):
        where = f"scenes[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("scene"), str) or not item["scene"]:
            raise _fail(path, f"{where}.scene", "a scene name", item)
        episodes_raw = item.get("episodes")
        if not isinstance(episodes_raw, list):
            raise _fail(path, f"{where}.episodes", "a list", episodes_raw)
        episodes = []
        for j, ep in enumerate(episodes_raw):
            episode = _parse_episode(ep, f"{where}.episodes[{j}]", path)
            if episode.id in ids:
                raise _fail(path, f"{where}.episodes[{j}].id", "a unique id", episode.id)
            ids.add(episode.id)
            episodes.append(episode)
        scenes.append(SceneEpisodes(item["scene"], episodes))
    return SearchSet(split, scenes, float(distance), **numbers)


def _parse_episode(item: Any, where: str, path: str) -> SearchEpisode:
    if not isinstance(item, dict):
        raise _fail(path, where, "a JSON object", item)
    for name in ("id", "target"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise _fail(path, f"{where}.{name}", "a non-empty string", item.get(name))
    kind = item.get("kind")
    if kind not in KINDS:
        raise _fail(path, f"{where}.kind", " or ".join(KINDS), kind)
    if kind == "unsurveyed":
        return SearchEpisode(item["id"], kind, item["target"])
    obj, to = item.get("object"), item.get("to")
    if not isinstance(obj, str) or not obj:
        raise _fail(path, f"{where}.object", "the id of the moved object", obj)
    if (not isinstance(to, list) or len(to) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in to)):
        raise _fail(path, f"{where}.to", "[x, y, z] in metres", to)
    return SearchEpisode(item["id"], kind, item["target"], obj, (float(to[0]), float(to[1]), float(to[2])))


def load_search_set(path: str | Path) -> SearchSet:
    path = Path(path)
    return parse_search_set(read_json(path, EpisodeFormatError), path=str(path))


def save_search_set(search_set: SearchSet, path: str | Path) -> None:
    Path(path).write_text(json.dumps(search_set.to_dict(), indent=1) + "\n", encoding="utf-8")


def pick_moves(scene: Scene, navmap: Any, seen: set[str], knowledge: Any, start_xy: np.ndarray, n: int,
               seed: int, min_geodesic_m: float = 3.0, prefix: str | None = None) -> list[SearchEpisode]:
    """Up to ``n`` moved-object episodes: a perceived category with one instance in the scene,
    small enough to carry and no installation (:data:`FIXTURES`), moved to a free floor point in another room (one where such things are
    usually kept when the scene has one, else any other), reachable, at least ``min_geodesic_m``
    from ``start_xy`` (where the search begins) and from where it stood. Ids start with
    ``prefix`` (default: the scene's name). Seeded."""
    from embodied_stack.memory.knowledge import normalize_phrase

    rng = np.random.default_rng(seed + 101)
    counts: dict[str, int] = {}
    for o in scene.objects:
        counts[o.category] = counts.get(o.category, 0) + 1
    candidates = [o for o in scene.objects
                  if counts[o.category] == 1 and max(o.size[0], o.size[1]) <= MOVABLE_MAX_SIDE_M
                  and o.size[2] <= MOVABLE_MAX_HEIGHT_M and knowledge.typical_rooms(o.category)
                  and not any(word in o.category.replace("_", " ") for word in FIXTURES)
                  and (knowledge.canonical(normalize_phrase(o.category)) or normalize_phrase(o.category)) in seen]
    out: list[SearchEpisode] = []
    for index in rng.permutation(len(candidates)):
        if len(out) >= n:
            break
        obj = candidates[int(index)]
        to = _destination(scene, navmap, obj, knowledge, rng, start_xy, min_geodesic_m)
        if to is not None:
            out.append(SearchEpisode(f"{prefix or scene.name}/m{len(out) + 1}", "moved", obj.category, obj.id, to))
    return out


def _destination(scene: Scene, navmap: Any, obj: Any, knowledge: Any, rng: np.random.Generator,
                 start_xy: np.ndarray, min_geodesic_m: float) -> tuple[float, float, float] | None:
    typical = {knowledge.canonical_room(r) or r for r in knowledge.typical_rooms(obj.category)}
    others = [r for r in scene.rooms if r.id != obj.room]
    liked = [r for r in others if (knowledge.canonical_room(r.category) or r.category) in typical]
    pts = navmap.sample_navigable(rng, 400)
    ok = navmap.is_navigable(pts)
    doors = np.array([d.center for d in scene.doors], dtype=np.float64).reshape(-1, 2)
    if len(doors):
        ok &= np.min(np.linalg.norm(pts[:, None, :] - doors[None], axis=2), axis=1) > 1.2
    centres = np.array([o.center[:2] for o in scene.objects if o.id != obj.id], dtype=np.float64).reshape(-1, 2)
    if len(centres):
        ok &= np.min(np.linalg.norm(pts[:, None, :] - centres[None], axis=2), axis=1) > 1.0
    for rooms in (liked, others):
        for room in sorted(rooms, key=lambda _r: rng.random()):
            inside = np.flatnonzero(ok & room.contains(pts))
            for i in inside[:5]:
                xy = pts[int(i)]
                geodesic = navmap.geodesic_distance(np.asarray(start_xy, dtype=np.float64), xy)
                away = float(np.hypot(*(xy - np.asarray(obj.center[:2]))))
                if math.isfinite(geodesic) and geodesic >= min_geodesic_m and away >= min_geodesic_m:
                    return (float(xy[0]), float(xy[1]), float(room.floor_z + obj.size[2] / 2.0))
    return None
