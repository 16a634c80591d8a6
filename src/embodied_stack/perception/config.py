"""Perception settings: one dataclass, validated on construction, loadable from YAML.

The field names are the ROS parameter names of the sensing node (snake_case). Distances are
metres, depths are planar z-depth along the camera's optical axis, areas are pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from embodied_stack.perception.errors import ConfigError

EMIT_MODES = ("change", "update")


@dataclass(frozen=True)
class PerceptionConfig:
    """Settings of :class:`~embodied_stack.perception.pipeline.PerceptionPipeline`.

    Depth validity: a pixel's depth is used when it is finite and in
    [``depth_min_m``, ``depth_max_m``]; 0 means "no return".

    Detection filters (a detection failing one is dropped and counted by reason):
    ``min_score`` (detector confidence), ``min_pixel_area`` (mask or box pixels),
    ``max_range_m`` (median depth of the detection's valid pixels), ``min_points`` (3D points
    left after voxel downsampling and outlier removal, i.e. occupied voxels),
    ``ignore_categories`` (structure such as walls).

    Geometry: at most ``max_points_per_detection`` pixels are back-projected (an even
    subsample), voxel-downsampled at ``voxel_size_m``, then cleaned by open3d's statistical
    outlier removal (``outlier_neighbors``, ``outlier_std_ratio``). Box-only detections keep
    the pixels within ``box_depth_band_m`` of the depth at the box centre (the object, not the
    wall behind it) and the points above ``box_min_z_m`` in ``map`` (not the floor under it;
    REP-105 puts the floor at z = 0; set it far below the floor to keep every point).

    Fusion (no identities: :mod:`~embodied_stack.perception.fusion`): a detection joins a track
    whose label distribution is at least ``association_min_label_similarity`` alike its label
    and whose box overlaps its own by at least ``association_min_overlap`` (intersection over
    the smaller volume, so a partial view matches the whole), or a track of the same label whose
    centre is within ``association_distance_m``. A track becomes
    confirmed (emitted) after ``min_detections`` sightings; unconfirmed tracks not seen for
    ``tentative_ttl_s`` seconds are dropped. One view may grow a confirmed track's box by at
    most ``max_extent_growth_m`` per side (a glitch does not inflate the object). When a
    track's grown box overlaps another label-alike track by ``merge_min_overlap`` (same
    measure) and the two were never detected in one frame, the younger track is merged into
    the older one (partial views of one object that first looked like two). A track whose
    sightings fall into two groups ``split_min_separation_m`` apart whose boxes overlap by at
    most ``split_max_overlap`` is split in two (neighbours wrongly joined).

    Emission: ``emit_mode="update"`` emits every update of a confirmed track; ``"change"``
    emits when the centre moved ``emit_min_move_m``, a side of the box changed by
    ``emit_min_extent_change_m``, the colour/room changed, or ``emit_interval_s`` (> 0) passed.
    """

    depth_min_m: float = 0.1
    depth_max_m: float = 10.0
    min_score: float = 0.3
    min_pixel_area: int = 100
    max_range_m: float = 5.0
    min_points: int = 15
    ignore_categories: tuple[str, ...] = ("wall", "floor", "ceiling", "background")
    max_points_per_detection: int = 4000
    voxel_size_m: float = 0.02
    outlier_neighbors: int = 20
    outlier_std_ratio: float = 2.5
    box_depth_band_m: float = 0.5
    box_min_z_m: float = 0.03
    association_distance_m: float = 0.3
    association_min_overlap: float = 0.25
    association_min_label_similarity: float = 0.6
    merge_min_overlap: float = 0.5
    split_min_separation_m: float = 0.75
    split_max_overlap: float = 0.1
    min_detections: int = 2
    tentative_ttl_s: float = 10.0
    max_extent_growth_m: float = 1.0
    emit_mode: str = "change"
    emit_min_move_m: float = 0.1
    emit_min_extent_change_m: float = 0.1
    emit_interval_s: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "depth_min_m", "depth_max_m", "max_range_m", "voxel_size_m", "outlier_std_ratio",
            "box_depth_band_m", "association_distance_m", "tentative_ttl_s", "split_min_separation_m",
            "max_extent_growth_m", "emit_min_move_m", "emit_min_extent_change_m", "emit_interval_s",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(self.box_min_z_m, bool) or not isinstance(self.box_min_z_m, (int, float)) or not math.isfinite(
            self.box_min_z_m
        ):
            raise ConfigError(f"box_min_z_m must be a finite number (metres), got {self.box_min_z_m!r}")
        for name in ("min_pixel_area", "min_points", "max_points_per_detection", "outlier_neighbors", "min_detections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ("min_score", "association_min_overlap", "merge_min_overlap", "association_min_label_similarity",
                     "split_max_overlap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value!r}")
        if self.depth_max_m <= self.depth_min_m:
            raise ConfigError(
                f"depth_max_m ({self.depth_max_m}) must be greater than depth_min_m ({self.depth_min_m})"
            )
        if self.voxel_size_m == 0 or self.max_points_per_detection == 0 or self.min_detections == 0:
            raise ConfigError(
                "voxel_size_m, max_points_per_detection and min_detections must be > 0, got "
                f"{self.voxel_size_m}, {self.max_points_per_detection}, {self.min_detections}"
            )
        if self.emit_mode not in EMIT_MODES:
            raise ConfigError(f"emit_mode must be one of {EMIT_MODES}, got {self.emit_mode!r}")
        if isinstance(self.ignore_categories, str) or not all(
            isinstance(c, str) for c in self.ignore_categories
        ):
            raise ConfigError(f"ignore_categories must be a list of strings, got {self.ignore_categories!r}")
        object.__setattr__(self, "ignore_categories", tuple(c.strip().lower() for c in self.ignore_categories))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ignore_categories"] = list(self.ignore_categories)
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "perception config") -> PerceptionConfig:
        """Build from a mapping; unknown keys and bad values raise :class:`ConfigError` naming ``where``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {unknown}; expected some of {sorted(known)}")
        kwargs = dict(data)
        if isinstance(kwargs.get("ignore_categories"), list):
            kwargs["ignore_categories"] = tuple(kwargs["ignore_categories"])
        try:
            return cls(**kwargs)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from err

    @classmethod
    def from_yaml(cls, path: str | Path, *, section: str | None = None) -> PerceptionConfig:
        """Load from a YAML file, optionally from one top-level ``section`` (e.g. ``perception``)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        data = {} if data is None else data
        where = str(path)
        if section is not None:
            if not isinstance(data, dict) or section not in data:
                raise ConfigError(f"{path}: no top-level section {section!r}")
            data = data[section] or {}
            where = f"{path}: section '{section}'"
        return cls.from_dict(data, where=where)
