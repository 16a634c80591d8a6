"""Language-and-vision navigation episodes: "go to the blue cabinet" among look-alike distractors.

Each task scene is one furnished room (the room the planner or the memory would have brought the
robot to: the coarse region hint) holding a 2x2 design of floor objects, two colours by two
categories, so that every target shares its colour with one distractor and its category with
another; an extra object of a third colour and category may join them. Which object the
instruction names is therefore resolved only by looking (colour from RGB, category from the
box's shape and size in RGB-D) *and* reading the instruction; where the target is must be found
by looking too, since the robot starts at a random heading, often facing away from it.

Scenes and episodes are plain scene/1 and episodes/1 data (the episodes target one object id
each), written per split by :func:`write_split` (``sim vln-generate``): training, development
(calibration and tuning) and test (held-out, reported) splits use disjoint seed ranges, so the
split is by scene. The target's id, position and the true map are scene-file ground truth: only
the scorer and the privileged expert that teaches the policy may read them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embodied_stack.sim.episodes import Episode, EpisodeSet, load_episodes, save_episodes
from embodied_stack.sim.errors import NavigationError, SimError
from embodied_stack.sim.navmap import NavMap
from embodied_stack.sim.scene import Room, Scene, SceneObject, load_scene, save_scene
from embodied_stack.types import Pose2D

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.08, 0.06),
    "green": (0.08, 0.60, 0.12),
    "blue": (0.06, 0.16, 0.85),
    "yellow": (0.85, 0.75, 0.05),
}
"""Attribute vocabulary: linear-RGB colours far apart in hue."""

CATEGORIES: dict[str, tuple[float, float, float]] = {
    "chair": (0.50, 0.50, 1.00),
    "table": (1.30, 0.80, 0.75),
    "cabinet": (0.80, 0.45, 1.80),
    "ottoman": (0.70, 0.70, 0.40),
}
"""Category vocabulary: box sizes (x, y, z metres) that tell the categories apart by shape."""

TEMPLATES = (
    "go to the {a} {c}", "find the {a} {c}", "take me to the {a} {c}", "stop next to the {a} {c}",
    "navigate to the {a} {c}", "walk over to the {a} {c}", "please go to the {a} {c}", "the {a} {c}, go there",
)
SPLITS = {"train": 0, "dev": 50_000, "test": 90_000}
"""First seed of each split; a split's scenes are seeds FIRST, FIRST+1, ... (disjoint ranges)."""

TASK_FORMAT = "embodied-stack.vln-split/1"


@dataclass(frozen=True)
class VLNConfig:
    """Sizes of a task scene and its episodes (metres, steps)."""

    room_min_m: tuple[float, float] = (4.5, 4.0)
    room_max_m: tuple[float, float] = (6.5, 5.5)
    wall_margin_m: float = 0.55
    min_spacing_m: float = 1.5
    extra_object_prob: float = 0.5
    min_start_distance_m: float = 1.5
    success_distance_m: float = 1.0
    max_steps: int = 80

    def __post_init__(self) -> None:
        if self.max_steps <= 0 or self.success_distance_m <= 0 or self.min_spacing_m <= 0:
            raise SimError(f"VLNConfig: max_steps, success_distance_m and min_spacing_m must be positive: {self}")


def describe(color: str, category: str) -> str:
    """The noun phrase naming an object: ``"blue cabinet"``."""
    return f"{color} {category}"


def make_task_scene(seed: int, config: VLNConfig | None = None) -> Scene:
    """One task scene (see the module docstring) from ``seed``; deterministic."""
    cfg = config or VLNConfig()
    rng = np.random.default_rng([seed, 7919])
    width = float(rng.uniform(cfg.room_min_m[0], cfg.room_max_m[0]))
    depth = float(rng.uniform(cfg.room_min_m[1], cfg.room_max_m[1]))
    colors = list(rng.permutation(list(COLORS)))
    categories = list(rng.permutation(list(CATEGORIES)))
    pairs = [(colors[i], categories[j]) for i in range(2) for j in range(2)]
    if rng.random() < cfg.extra_object_prob:
        pairs.append((colors[2], categories[2]))
    centres = None
    for _grow in range(20):  # a room too small for the objects grows by 0.25 m a side
        for _attempt in range(500):
            centres = _spread_points(rng, len(pairs), width, depth, cfg)
            if centres is not None:
                break
        if centres is not None:
            break
        width, depth = width + 0.25, depth + 0.25
    if centres is None:
        raise NavigationError(f"vln scene {seed}: cannot place {len(pairs)} objects {cfg.min_spacing_m} m apart")
    room = Room("room_0", "living room", ((0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth)))
    objects = []
    for index, ((color, category), xy) in enumerate(zip(pairs, centres, strict=True)):
        sx, sy, sz = CATEGORIES[category]
        objects.append(SceneObject(
            id=f"obj_{index}", category=category, room=room.id,
            center=(round(float(xy[0]), 4), round(float(xy[1]), 4), sz / 2.0), size=(sx, sy, sz),
            yaw=round(float(rng.uniform(-math.pi, math.pi)), 4), color=COLORS[color],
            description=f"a {describe(color, category)}",
        ))
    return Scene(f"vln_{seed:06d}", [room], [], objects, source=f"embodied_stack.sim.vln seed {seed}")


def _spread_points(rng: np.random.Generator, n: int, width: float, depth: float, cfg: VLNConfig) -> np.ndarray | None:
    m = cfg.wall_margin_m + 0.4
    points = rng.uniform([m, m], [width - m, depth - m], size=(n, 2))
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(n) * 1e9
    return points if gaps.min() >= cfg.min_spacing_m else None


def object_phrase(obj: SceneObject) -> str:
    """``"blue cabinet"`` for a task object (its description without the article)."""
    return obj.description.split(" ", 1)[1]


def make_task_episodes(scene: Scene, navmap: NavMap, seed: int, config: VLNConfig | None = None) -> EpisodeSet:
    """One episode per object of a task scene: a random start at least ``min_start_distance_m``
    (geodesic) from the target's goal region, a random heading, an instruction naming it."""
    from embodied_stack.sim.episodes import episode_goal

    cfg = config or VLNConfig()
    rng = np.random.default_rng([seed, 104729])
    episodes = []
    for obj in scene.objects:
        text = TEMPLATES[int(rng.integers(0, len(TEMPLATES)))].format(a=obj.description.split()[1], c=obj.category)
        for _try in range(200):
            xy = navmap.sample_navigable(rng, 1)[0]
            start = Pose2D(round(float(xy[0]), 4), round(float(xy[1]), 4), round(float(rng.uniform(-math.pi, math.pi)), 4))
            episode = Episode(f"{obj.id}", start, text, target_objects=(obj.id,))
            goal = episode_goal(scene, navmap, episode, cfg.success_distance_m)
            if goal.distance(start.xy) >= cfg.min_start_distance_m:
                episodes.append(episode)
                break
        else:
            raise NavigationError(f"{scene.name}: no start {cfg.min_start_distance_m} m from {obj.id}")
    return EpisodeSet(scene.name, episodes, cfg.success_distance_m, cfg.max_steps)


def task_navmap(scene: Scene) -> NavMap:
    """The simulator's collision map of a task scene (defaults of ``SimConfig``)."""
    from embodied_stack.sim.embedded import SimConfig

    base = SimConfig()
    return NavMap.from_scene(scene, resolution_m=base.navmap_resolution_m, agent_radius_m=base.agent_radius_m,
                             agent_height_m=base.agent_height_m)


def make_task(seed: int, config: VLNConfig | None = None) -> tuple[Scene, EpisodeSet]:
    """Scene and episodes of seed ``seed``."""
    scene = make_task_scene(seed, config)
    return scene, make_task_episodes(scene, task_navmap(scene), seed, config)


def split_seeds(split: str, count: int) -> range:
    """The scene seeds of ``count`` scenes of a split (``train``, ``dev`` or ``test``)."""
    if split not in SPLITS:
        raise SimError(f"unknown vln split {split!r}; expected one of {sorted(SPLITS)}")
    if count <= 0:
        raise SimError(f"vln split {split}: count must be positive, got {count}")
    return range(SPLITS[split], SPLITS[split] + count)


def write_split(out_dir: str | Path, split: str, count: int, config: VLNConfig | None = None) -> Path:
    """Write ``count`` scenes of a split with their episodes and an index ``split.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for seed in split_seeds(split, count):
        scene, episodes = make_task(seed, config)
        scene_file, episodes_file = f"{scene.name}.scene.json", f"{scene.name}.episodes.json"
        save_scene(scene, out / scene_file)
        save_episodes(episodes, out / episodes_file)
        entries.append({"scene": scene_file, "episodes": episodes_file, "seed": seed})
    index = out / "split.json"
    index.write_text(json.dumps({"format": TASK_FORMAT, "split": split, "tasks": entries}, indent=1) + "\n")
    return index


def load_split(index: str | Path) -> list[tuple[Path, Path]]:
    """(scene file, episodes file) pairs of a split written by :func:`write_split`."""
    index = Path(index)
    if index.is_dir():
        index = index / "split.json"
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError) as err:
        raise SimError(f"{index}: cannot read a vln split index ({err})") from err
    if not isinstance(data, dict) or data.get("format") != TASK_FORMAT or not isinstance(data.get("tasks"), list):
        raise SimError(f"{index}: not a {TASK_FORMAT} index (format {data.get('format') if isinstance(data, dict) else None!r})")
    return [(index.parent / t["scene"], index.parent / t["episodes"]) for t in data["tasks"]]


def load_task(scene_path: Path, episodes_path: Path) -> tuple[Scene, EpisodeSet]:
    scene = load_scene(scene_path)
    return scene, load_episodes(episodes_path, scene)
