"""Settings of the semantic-forest memory (one dataclass; the names are the ROS parameters).

Distances are metres in the ``map`` frame; similarities are cosines of L2-normalised text
embeddings in [-1, 1]. The clustering follows Embodied-RAG (Xie et al. 2024): the similarity of
two nodes is ``w * exp(-d / scale) + (1 - w) * cos`` and complete-linkage agglomerative
clustering cuts at a per-level distance threshold (distance = 1 - similarity) that grows with the
level. Levels above the leaves: 1 zones (objects that belong together), 2 rooms (one node per
room when a room segmentation is known, clusters of zones otherwise), 3 buildings (clusters of
rooms), and one site root.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from embodied_stack.memory.errors import MemoryConfigError

QUERY_KINDS = ("explicit", "implicit", "global", "temporal")


@dataclass
class MemoryConfig:
    """What the memory does with observations and queries; validated on construction."""

    embedder: str = "default"
    """Text embedder spec for :func:`~embodied_stack.text.embedders.load_embedder`."""
    embed_cache_size: int = 200_000
    """Texts kept in the embedding LRU cache."""
    embed_batch_size: int = 32
    """Texts per forward pass. Each pass pads its texts to the longest one; short batches of
    length-sorted texts waste little on padding (an ingest batch's ~100 new captions embed ~15%
    faster in batches of 32 than in one of 128)."""
    embed_threads: int = 0
    """Torch threads for batch embedding (0: torch's default); queries always use one thread."""
    ingest_batch_size: int = 1024
    """Observations per committed batch when ``ingest`` gets a long iterable."""
    ingest_lookahead: int = 8
    """Batches ``ingest`` reads ahead of the one it fuses, so that the embedding worker can embed
    their new captions meanwhile (each batch is still committed before the next is fused)."""
    embed_worker: str = "auto"
    """Embed in a child process during long ingests, so that fusing, clustering and writing run
    while the embedder works: "auto" when one ``ingest`` call spans more than ``ingest_lookahead``
    batches, the embedder is a model loaded from a spec, and a core is left for the rest
    (``embed_threads`` below the core count, or 0 with 4 cores or more: the worker then takes
    all but one); "on" from the first batch, for any embedder loaded from a spec (tests); "off"
    never. The worker stays up until ``close()``; it holds its own copy of the model (about
    0.6 GB resident with MiniLM)."""

    fusion_distance_m: float = 1.0
    """Two sightings of one category closer than this (centre to centre) may be one object."""
    fusion_min_similarity: float = 0.75
    """... and are when their caption embeddings are at least this similar."""
    recluster_move_m: float = 0.0
    """A merged sighting re-clusters its branch only when the leaf moved more than this. 0 keeps
    incremental updates identical to a full rebuild; a few decimetres saves work on a robot that
    re-sees the same things all day, at the price of parents lagging that much behind."""

    level_spatial_weights: tuple[float, ...] = (0.4, 0.7, 0.8)
    """``w`` in the combined similarity for zones, rooms, buildings (Embodied-RAG uses 0.4; rooms
    and buildings are mostly spatial, so their clustering leans on distance)."""
    level_thresholds: tuple[float, ...] = (0.6, 0.65, 0.7)
    """Complete-linkage cut (distance = 1 - similarity) for zones, rooms, buildings."""
    level_spatial_scales_m: tuple[float, ...] = (1.5, 5.0, 15.0)
    """``scale`` of the spatial term for zones, rooms, buildings."""
    level_max_spans_m: tuple[float, ...] = (3.0, 10.0, 40.0)
    """No two members of one zone, room or building may be farther apart than this (metres):
    without it, identical things at opposite ends of a site would cluster on meaning alone."""
    level_cell_sizes_m: tuple[float, ...] = (8.0, 24.0, 72.0)
    """Clustering is local: nodes are clustered within square cells of this side per level."""
    max_partition_size: int = 1500
    """A cell holding more nodes than this is split (complete linkage is O(n^2))."""

    beam_width: int = 3
    """Children kept per node in the top-down beam search (Embodied-RAG's k)."""
    beam_max_frontier: int = 27
    knn_candidates: int = 48
    """Leaves fetched by the vector index before the re-rank."""
    context_weight_explicit: float = 0.15
    """Forest mode, explicit queries: weight of the region context (the mean cosine of the leaf's
    zone and room with the question) added to the flat score."""
    context_weight_implicit: float = 0.2
    """Implicit queries: weight of the activity of the leaf's labelled room type in the flat
    score, and (forest mode) of the region context added to it; below ``affordance_weight`` so
    that a thing whose own use meets the need beats a thing that merely stands in a room where
    people do it."""
    support_weight: float = 0.05
    """Forest mode, implicit queries: weight of the room's support (the best match between the
    need and a use of another kind of thing its room node holds) added to the leaf score."""
    affordance_weight: float = 0.5
    """Implicit queries: weight of the best match between the query and a use of the leaf's
    category ("thirsty" vs "get a cold drink") in the leaf score."""
    affordance_margin: float = 0.1
    """Implicit queries: a category the query names gets ``category_match_bonus`` only when its
    best use matches the need within this cosine of the best-matching category's."""
    activity_weight: float = 0.6
    """Global queries: weight of the best match between the query and an activity of the node's
    room type ("cook" vs "a place to cook") in the node score."""
    category_candidates: int = 64
    """Leaves added as candidates for each category the query names or needs."""
    category_match_bonus: float = 0.25
    """Added to a leaf whose category the query names (through the knowledge table)."""
    room_match_bonus: float = 0.25
    """Added to a node whose room category the query names (global queries)."""
    proximity_weight: float = 0.05
    retired_penalty: float = 0.5
    """Score taken off a leaf the robot looked for where it was and did not see (absence.py)."""
    storey_height_m: float = 3.0
    """Leaves whose heights differ by a storey are never clustered together: the floor level of
    the forest (site > floor > room > zone) groups rooms by storey, floor(z / this)."""
    """Subtracted per 20 m of distance from the robot, when its pose is given (a tie-break)."""

    flat_index_max: int = 20_000
    """Above this many vectors the leaf index switches from exact (flat) to IVF."""
    ivf_nprobe: int = 24
    standoff_m: float = 0.6
    """Clearance between a target pose and the thing's edge when no navigable map is known."""
    timezone_offset_h: float = 0.0
    """Added to timestamps (UTC seconds) before reading times of day ("this morning")."""
    memory_root: str = "."
    """Save/load paths must lie inside this directory."""
    check_integrity_on_open: bool = True

    def __post_init__(self) -> None:
        for name in ("level_spatial_weights", "level_thresholds", "level_spatial_scales_m", "level_max_spans_m",
                     "level_cell_sizes_m"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or len(value) != 3:
                raise MemoryConfigError(f"{name} must list 3 values (zone, room, building), got {value!r}")
            setattr(self, name, tuple(float(v) for v in value))
        if self.embed_worker not in ("auto", "on", "off"):
            raise MemoryConfigError(f"embed_worker must be 'auto', 'on' or 'off', got {self.embed_worker!r}")
        _positive_int(self, "embed_cache_size", "embed_batch_size", "ingest_batch_size", "ingest_lookahead",
                      "beam_width", "beam_max_frontier", "knn_candidates", "flat_index_max", "ivf_nprobe", "category_candidates")
        if self.context_weight_implicit + self.affordance_weight > 1.0:
            raise MemoryConfigError("context_weight_implicit + affordance_weight must be <= 1, got "
                                    f"{self.context_weight_implicit} + {self.affordance_weight}")
        if isinstance(self.embed_threads, bool) or not isinstance(self.embed_threads, int) \
                or not 0 <= self.embed_threads <= 256:
            raise MemoryConfigError(f"embed_threads must be an integer in [0, 256], got {self.embed_threads!r}")
        if self.max_partition_size < 2:
            raise MemoryConfigError(f"max_partition_size must be >= 2, got {self.max_partition_size!r}")
        _positive(self, "fusion_distance_m", "standoff_m")
        _nonnegative(self, "recluster_move_m", "category_match_bonus", "room_match_bonus", "proximity_weight",
                     "retired_penalty")
        _positive(self, "storey_height_m")
        for name in ("fusion_min_similarity",):
            value = getattr(self, name)
            if not (math.isfinite(value) and -1.0 <= value <= 1.0):
                raise MemoryConfigError(f"{name} must be a cosine in [-1, 1], got {value!r}")
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in self.level_spatial_weights):
            raise MemoryConfigError(f"level_spatial_weights must be in [0, 1], got {self.level_spatial_weights!r}")
        for name in ("context_weight_explicit", "context_weight_implicit",
                     "affordance_weight", "activity_weight", "affordance_margin", "support_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise MemoryConfigError(f"{name} must be in [0, 1], got {value!r}")
        for value in self.level_thresholds:
            if not (math.isfinite(value) and 0.0 < value <= 2.0):
                raise MemoryConfigError(f"level_thresholds must be distances in (0, 2], got {self.level_thresholds!r}")
        for name in ("level_spatial_scales_m", "level_max_spans_m", "level_cell_sizes_m"):
            if not all(math.isfinite(v) and v > 0.0 for v in getattr(self, name)):
                raise MemoryConfigError(f"{name} must be positive, got {getattr(self, name)!r}")
        if list(self.level_cell_sizes_m) != sorted(self.level_cell_sizes_m):
            raise MemoryConfigError(f"level_cell_sizes_m must grow with the level, got {self.level_cell_sizes_m!r}")
        if not (math.isfinite(self.timezone_offset_h) and -14.0 <= self.timezone_offset_h <= 14.0):
            raise MemoryConfigError(f"timezone_offset_h must be in [-14, 14], got {self.timezone_offset_h!r}")
        if not isinstance(self.embedder, str) or not self.embedder.strip():
            raise MemoryConfigError(f"embedder must be a non-empty spec string, got {self.embedder!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "memory config") -> MemoryConfig:
        """Build from a mapping; unknown keys raise naming the key and the known ones."""
        if not isinstance(data, dict):
            raise MemoryConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MemoryConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise MemoryConfigError(f"{where}: {err}") from err

    @classmethod
    def from_yaml(cls, path: str | Path) -> MemoryConfig:
        """Load from a YAML file (``yaml.safe_load``); a ``memory:`` top-level key is accepted."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise MemoryConfigError(f"{path}: cannot read ({err.strerror})") from err
        except yaml.YAMLError as err:
            raise MemoryConfigError(f"{path}: not valid YAML ({err})") from err
        if isinstance(data, dict) and set(data) == {"memory"}:
            data = data["memory"]
        return cls.from_dict(data or {}, where=str(path))


def _positive_int(cfg: MemoryConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MemoryConfigError(f"{name} must be a positive integer, got {value!r}")


def _positive(cfg: MemoryConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0.0):
            raise MemoryConfigError(f"{name} must be a positive number of metres, got {value!r}")


def _nonnegative(cfg: MemoryConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0.0):
            raise MemoryConfigError(f"{name} must be a finite number >= 0, got {value!r}")
