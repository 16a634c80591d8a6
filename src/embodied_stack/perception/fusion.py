"""Fusion of repeated sightings: the same object seen from many views becomes one track.

A :class:`Sighting` is one detection lifted to 3D (an axis-aligned box in ``map``). The
:class:`ObjectFusion` tracker associates it with an existing track of the same category when
their boxes overlap (intersection over the smaller volume, so a partial view of a long sofa
still matches the whole sofa) or their centres are close, else it starts a new track with a
stable id (``track_17``). A backend's ``instance_key`` (the simulator's instance id) is a
strong hint: a sighting never joins a track that holds a different key. Association is
vectorised over all tracks.

A track's box is the union of its views' boxes (partial views add up to the whole object);
once confirmed, one view may push a side out by at most ``max_extent_growth_m``. Two tracks of
one category whose boxes come to overlap are merged into the older (``merged`` maps every
absorbed id to the id that now holds it). Its running
``mean_position`` is the score-weighted mean of the views' centres (used for the distance
test). Tracks are emitted after ``min_detections`` sightings, then on meaningful change (see
:class:`~embodied_stack.perception.config.PerceptionConfig`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from embodied_stack.perception.config import PerceptionConfig


@dataclass(frozen=True, eq=False)
class Sighting:
    """One detection in 3D: box corners in ``map`` (metres), with what the detector said."""

    category: str
    score: float
    min_xyz: np.ndarray
    max_xyz: np.ndarray
    timestamp: float
    n_points: int = 0
    color: str | None = None
    room: str | None = None
    instance_key: int | str | None = None
    source_pose: tuple[float, float, float, float, float, float, float] | None = None
    crop: np.ndarray | None = None

    @property
    def center(self) -> np.ndarray:
        return (self.min_xyz + self.max_xyz) / 2.0


@dataclass(eq=False)
class Track:
    """A fused object: box union, running centre, sighting count and votes over views."""

    track_id: str
    category: str
    min_xyz: np.ndarray
    max_xyz: np.ndarray
    mean_position: np.ndarray
    first_seen: float
    last_seen: float
    instance_key: int | str | None = None
    count: int = 0
    weight_sum: float = 0.0
    score_sum: float = 0.0
    color_votes: Counter[str] = field(default_factory=Counter)
    room_votes: Counter[str] = field(default_factory=Counter)
    source_pose: tuple[float, float, float, float, float, float, float] | None = None
    best_crop: np.ndarray | None = None
    caption: str | None = None
    emitted: tuple[np.ndarray, np.ndarray, str | None, str | None, float] | None = None
    updated_since_emit: bool = False

    @property
    def center(self) -> np.ndarray:
        return (self.min_xyz + self.max_xyz) / 2.0

    @property
    def extent(self) -> np.ndarray:
        return self.max_xyz - self.min_xyz

    @property
    def confidence(self) -> float:
        """Mean detector score over the track's sightings."""
        return self.score_sum / self.count if self.count else 0.0

    @property
    def color(self) -> str | None:
        return self.color_votes.most_common(1)[0][0] if self.color_votes else None

    @property
    def room(self) -> str | None:
        return self.room_votes.most_common(1)[0][0] if self.room_votes else None


class ObjectFusion:
    """Associates sightings with tracks and decides which tracks to emit.

    Args:
        config: thresholds (association, confirmation, emission); see ``PerceptionConfig``.
    """

    def __init__(self, config: PerceptionConfig | None = None) -> None:
        self.config = config or PerceptionConfig()
        self.tracks: list[Track] = []
        self._next_id = 0
        self._categories: dict[str, int] = {}
        self._cat = np.empty(0, dtype=np.int64)
        self._mins = np.empty((0, 3))
        self._maxs = np.empty((0, 3))
        self._means = np.empty((0, 3))
        self._keyed = np.empty(0, dtype=bool)
        self._by_key: dict[int | str, int] = {}
        self.merged: dict[str, str] = {}

    @property
    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.count >= self.config.min_detections]

    def update(self, sightings: list[Sighting], timestamp: float) -> list[Track]:
        """Fuse one frame's sightings; returns the confirmed tracks due for emission (marked emitted)."""
        touched: dict[str, Track] = {}
        for sighting in sightings:
            index = self._associate(sighting)
            if index is None:
                index = self._new_track(sighting)
            self._absorb(index, sighting)
            survivor = self._merge_overlapping(index)
            touched[survivor.track_id] = survivor
        self._drop_stale(timestamp)
        alive = {t.track_id for t in self.tracks}
        due = [t for t in touched.values() if t.track_id in alive and self._due(t, timestamp)]
        for track in due:
            self._mark_emitted(track, timestamp)
        return due

    def flush(self) -> list[Track]:
        """Confirmed tracks updated since their last emission (marked emitted): the final states."""
        due = []
        for track in self.confirmed:
            if track.updated_since_emit:
                self._mark_emitted(track, track.last_seen)
                due.append(track)
        return due

    def _associate(self, s: Sighting) -> int | None:
        if s.instance_key is not None and s.instance_key in self._by_key:
            index = self._by_key[s.instance_key]
            if self.tracks[index].category == s.category:
                return index
        cat = self._categories.get(s.category)
        if cat is None or not self.tracks:
            return None
        candidates = self._cat == cat
        if s.instance_key is not None:
            candidates &= ~self._keyed
        if not candidates.any():
            return None
        overlap = np.where(candidates, self._overlap(s.min_xyz, s.max_xyz), -1.0)
        distance = np.where(candidates, np.linalg.norm(self._means - s.center, axis=1), np.inf)
        overlapping = overlap >= max(self.config.association_min_overlap, 1e-9)
        if overlapping.any():
            return int(np.argmax(np.where(overlapping, overlap, -1.0)))
        best = int(np.argmin(distance))
        return best if distance[best] <= self.config.association_distance_m else None

    def _overlap(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Intersection over the smaller volume of box [lo, hi] with every track's box.

        Every box is first grown by one voxel (``voxel_size_m``) per side: voxel centroids sit
        up to half a voxel inside the surface, so views of two faces of one object (or a flat
        view of one face) would otherwise just miss each other.
        """
        margin = self.config.voxel_size_m
        lo, hi = lo - margin, hi + margin
        t_lo, t_hi = self._mins - margin, self._maxs + margin
        inter = np.prod(np.clip(np.minimum(t_hi, hi) - np.maximum(t_lo, lo), 0.0, None), axis=-1)
        return inter / np.minimum(np.prod(t_hi - t_lo, axis=-1), np.prod(hi - lo))

    def _merge_overlapping(self, index: int) -> Track:
        """Merge tracks of the same category that now overlap track ``index``; returns the survivor."""
        t = self.tracks[index]
        same = self._cat == self._cat[index]
        same[index] = False
        if t.instance_key is not None:
            same &= ~self._keyed
        if not same.any():
            return t
        overlapping = np.flatnonzero(same & (self._overlap(t.min_xyz, t.max_xyz) >= self.config.merge_min_overlap))
        if t.instance_key is None:
            keyed = overlapping[self._keyed[overlapping]]
            overlapping = np.setdiff1d(overlapping, keyed[1:])
        if overlapping.size == 0:
            return t
        group = sorted([index, *overlapping.tolist()])
        survivor = self.tracks[group[0]]
        for other in (self.tracks[i] for i in group[1:]):
            self._fold(survivor, other)
            self.merged = {k: (survivor.track_id if v == other.track_id else v) for k, v in self.merged.items()}
            self.merged[other.track_id] = survivor.track_id
        self._sync(group[0])
        self._remove(group[1:])
        return survivor

    @staticmethod
    def _fold(into: Track, other: Track) -> None:
        into.min_xyz = np.minimum(into.min_xyz, other.min_xyz)
        into.max_xyz = np.maximum(into.max_xyz, other.max_xyz)
        total = into.weight_sum + other.weight_sum
        into.mean_position = (into.mean_position * into.weight_sum + other.mean_position * other.weight_sum) / total
        into.weight_sum = total
        into.score_sum += other.score_sum
        into.count += other.count
        into.first_seen = min(into.first_seen, other.first_seen)
        if other.last_seen >= into.last_seen:
            into.last_seen = other.last_seen
            into.source_pose = other.source_pose or into.source_pose
        into.color_votes.update(other.color_votes)
        into.room_votes.update(other.room_votes)
        into.instance_key = into.instance_key if into.instance_key is not None else other.instance_key
        if into.best_crop is None or (other.best_crop is not None and other.best_crop.size > into.best_crop.size):
            into.best_crop = other.best_crop
        into.updated_since_emit = True

    def _sync(self, index: int) -> None:
        t = self.tracks[index]
        self._mins[index] = t.min_xyz
        self._maxs[index] = t.max_xyz
        self._means[index] = t.mean_position
        self._keyed[index] = t.instance_key is not None

    def _remove(self, indices: list[int]) -> None:
        keep = np.ones(len(self.tracks), dtype=bool)
        keep[indices] = False
        self.tracks = [t for t, k in zip(self.tracks, keep, strict=True) if k]
        self._cat, self._keyed = self._cat[keep], self._keyed[keep]
        self._mins, self._maxs, self._means = self._mins[keep], self._maxs[keep], self._means[keep]
        self._by_key = {t.instance_key: i for i, t in enumerate(self.tracks) if t.instance_key is not None}

    def _new_track(self, s: Sighting) -> int:
        track = Track(
            track_id=f"track_{self._next_id}",
            category=s.category,
            min_xyz=s.min_xyz.astype(np.float64).copy(),
            max_xyz=s.max_xyz.astype(np.float64).copy(),
            mean_position=s.center.astype(np.float64).copy(),
            first_seen=s.timestamp,
            last_seen=s.timestamp,
        )
        self._next_id += 1
        cat = self._categories.setdefault(s.category, len(self._categories))
        self.tracks.append(track)
        self._cat = np.append(self._cat, cat)
        self._mins = np.vstack([self._mins, track.min_xyz])
        self._maxs = np.vstack([self._maxs, track.max_xyz])
        self._means = np.vstack([self._means, track.mean_position])
        self._keyed = np.append(self._keyed, False)
        return len(self.tracks) - 1

    def _absorb(self, index: int, s: Sighting) -> None:
        t = self.tracks[index]
        if t.count >= self.config.min_detections:
            growth = self.config.max_extent_growth_m
            t.min_xyz = np.minimum(t.min_xyz, np.maximum(s.min_xyz, t.min_xyz - growth))
            t.max_xyz = np.maximum(t.max_xyz, np.minimum(s.max_xyz, t.max_xyz + growth))
        else:
            t.min_xyz = np.minimum(t.min_xyz, s.min_xyz)
            t.max_xyz = np.maximum(t.max_xyz, s.max_xyz)
        weight = max(s.score, 1e-6)
        t.mean_position = (t.mean_position * t.weight_sum + s.center * weight) / (t.weight_sum + weight)
        t.weight_sum += weight
        t.score_sum += s.score
        t.count += 1
        t.updated_since_emit = True
        t.first_seen = min(t.first_seen, s.timestamp)
        t.last_seen = max(t.last_seen, s.timestamp)
        if s.color:
            t.color_votes[s.color] += 1
        if s.room:
            t.room_votes[s.room] += 1
        if s.source_pose is not None:
            t.source_pose = s.source_pose
        if s.crop is not None and t.caption is None and (t.best_crop is None or s.crop.size > t.best_crop.size):
            t.best_crop = s.crop
        if s.instance_key is not None and t.instance_key is None:
            t.instance_key = s.instance_key
            self._by_key[s.instance_key] = index
        self._sync(index)

    def _drop_stale(self, now: float) -> None:
        cfg = self.config
        stale = [
            i for i, t in enumerate(self.tracks)
            if t.count < cfg.min_detections and now - t.last_seen > cfg.tentative_ttl_s
        ]
        if stale:
            self._remove(stale)

    def _changed(self, t: Track) -> bool:
        if t.emitted is None:
            return True
        center, extent, color, room, _ = t.emitted
        cfg = self.config
        return bool(
            np.linalg.norm(t.center - center) >= cfg.emit_min_move_m
            or np.abs(t.extent - extent).max() >= cfg.emit_min_extent_change_m
            or t.color != color
            or t.room != room
        )

    def _due(self, t: Track, now: float) -> bool:
        if t.count < self.config.min_detections:
            return False
        if self.config.emit_mode == "update" or t.emitted is None:
            return True
        interval = self.config.emit_interval_s
        return self._changed(t) or (interval > 0 and now - t.emitted[4] >= interval)

    @staticmethod
    def _mark_emitted(t: Track, now: float) -> None:
        t.emitted = (t.center.copy(), t.extent.copy(), t.color, t.room, now)
        t.updated_since_emit = False
