"""Fusion of repeated sightings without identities: the same object seen from many views
becomes one track (after ConceptGraphs).

A :class:`~embodied_stack.perception.tracks.Sighting` is one detection lifted to 3D (an
axis-aligned box in ``map``). The :class:`ObjectFusion` tracker joins it to an existing track
when their boxes overlap (intersection over the smaller volume, so a partial view of a long sofa
still matches the whole sofa) *and* the sighting's label is alike the track's label
distribution (:class:`~embodied_stack.perception.labels.LabelSimilarity`: the same label, a
pair the detector often mixes up, or close text embeddings), preferring the largest overlap
times similarity; a sighting with the same label whose centre is within
``association_distance_m`` of a track joins it too. Within one frame each track takes at most
one sighting (two detections in one image are two objects). Otherwise a new track starts with
a stable id (``track_3f9a0c1e_17``: a random prefix per fusion instance, so ids never repeat across pipelines or restarts, then a counter). Tracks carry a label distribution (detector scores summed per
label); their ``category`` is its mode, and their confidence is the mean score times the top
label's share.

Duplicates merge: two label-alike tracks whose boxes come to overlap by ``merge_min_overlap``
are merged into the older (``merged`` maps every absorbed id to the survivor's), and so are two
tracks with the same label whose centres are within ``MERGE_NEAR_M`` (one object seen again
after the pose estimate drifted, its new boxes beside the old ones), unless they were both
detected in one frame (two look-alike neighbours are seen together). Wrong merges split: a track whose remembered sightings fall
into two groups at least ``split_min_separation_m`` apart, with boxes that barely overlap,
is cut in two (``split`` maps each new id to the id it came from).

A backend's ``instance_key`` (the simulator's id under the ``identities`` oracle, or an
external tracker's id) is a strong hint: a keyed sighting joins the track holding its key and
never a track holding another. Overlaps are vectorised over all tracks; labels are compared
only for the few tracks that overlap.

A track's box is the trimmed union of its remembered views' boxes (:func:`trimmed_box`: partial
views add up to the whole object, while the ``BOX_TRIM`` share of most extreme sides, views from
a poor pose estimate, do not stretch it over a neighbour); once confirmed, one view may push a
side out by at most ``max_extent_growth_m``. Tracks are
emitted once confirmed (``min_detections`` sightings with enough detector score, see
``CONFIRM_SCORE``), then on meaningful change (see
:class:`~embodied_stack.perception.config.PerceptionConfig`).
"""

from __future__ import annotations

import secrets

from dataclasses import replace

import numpy as np

from embodied_stack.perception.config import PerceptionConfig
from embodied_stack.perception.labels import LabelSimilarity
from embodied_stack.perception.tracks import Sighting, Track

__all__ = ["ObjectFusion", "Sighting", "Track"]

SPLIT_CHECK_EVERY = 8
"""A track is checked for a wrong merge every this many sightings (and at flush)."""

CONFIRM_SCORE = 0.5
"""A track is confirmed when it has ``min_detections`` sightings and their detector scores add
up to ``CONFIRM_SCORE * min_detections``: two unsure glimpses (a false positive's scores sit low)
do not make an object, a third or a surer one does. Chosen on the dev surveys (the sum 1.0 for
two sightings removed 10 of 24 spurious tracks and no found object; 1.4 lost two)."""

MERGE_NEAR_M = 0.6
MERGE_NEAR_MIN_OVERLAP = 0.0
"""Two tracks with the same label whose centres are within MERGE_NEAR_M (horizontally) and
whose boxes overlap by MERGE_NEAR_MIN_OVERLAP merge too, when never detected in one frame: one
object seen again after the pose estimate drifted."""

BOX_TRIM = 0.1
"""Share of a track's remembered views whose box sides are ignored on each side of each axis
(the box is a trimmed union): a view taken from a poor pose estimate, or whose mask reached a
neighbour, does not stretch the object over its neighbours. Fewer than 1 / BOX_TRIM + 1 views
give the plain union (partial views of a long object still add up)."""


def trimmed_box(mins: np.ndarray, maxs: np.ndarray, trim: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The union of boxes ``mins``/``maxs`` (N, 3) without the ``floor(trim * (N - 1))`` most
    extreme sides per axis and direction (``trim`` defaults to ``BOX_TRIM``)."""
    k = int(np.floor((BOX_TRIM if trim is None else trim) * (len(mins) - 1)))
    if k <= 0:
        return mins.min(axis=0), maxs.max(axis=0)
    return np.partition(mins, k, axis=0)[k], np.partition(maxs, len(maxs) - 1 - k, axis=0)[len(maxs) - 1 - k]


class ObjectFusion:
    """Associates sightings with tracks and decides which tracks to emit.

    Args:
        config: thresholds (association, confirmation, emission); see ``PerceptionConfig``.
        similarity: label similarity (default: the confusion table only, no embedder).
    """

    def __init__(self, config: PerceptionConfig | None = None, similarity: LabelSimilarity | None = None,
                 id_prefix: str | None = None) -> None:
        self.config = config or PerceptionConfig()
        # Track ids must never repeat across pipelines: the memory joins sightings by track id, so
        # a second pipeline (a search after the survey, a restarted sensing node feeding a stored
        # memory) that counted from track_0 again would fuse unrelated objects into old leaves.
        self.id_prefix = id_prefix if id_prefix is not None else f"track_{secrets.token_hex(4)}_"
        self.similarity = similarity or LabelSimilarity()
        self.tracks: list[Track] = []
        self._next_id = 0
        self._mins = np.empty((0, 3))
        self._maxs = np.empty((0, 3))
        self._means = np.empty((0, 3))
        self._keyed = np.empty(0, dtype=bool)
        self._by_key: dict[int | str, int] = {}
        self.merged: dict[str, str] = {}
        self.split: dict[str, str] = {}
        self._frame = 0

    @property
    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if self._is_confirmed(t)]

    def _is_confirmed(self, t: Track) -> bool:
        """``min_detections`` sightings whose detector scores add up to ``CONFIRM_SCORE`` each."""
        n = self.config.min_detections
        return t.count >= n and t.score_sum >= CONFIRM_SCORE * n

    def update(self, sightings: list[Sighting], timestamp: float) -> list[Track]:
        """Fuse one frame's sightings; returns the confirmed tracks due for emission (marked emitted)."""
        touched: dict[str, Track] = {}
        used: set[str] = set()
        self._frame += 1
        for sighting in sightings:
            index = self._associate(sighting, used)
            if index is None:
                index = self._new_track(sighting)
            self._absorb(index, sighting)
            used.add(self.tracks[index].track_id)
            survivor = self._merge_overlapping(index)
            touched[survivor.track_id] = survivor
            if survivor.count % SPLIT_CHECK_EVERY == 0:
                part = self._split(survivor)
                if part is not None:
                    touched[part.track_id] = part
        self._drop_stale(timestamp)
        alive = {t.track_id for t in self.tracks}
        due = [t for t in touched.values() if t.track_id in alive and self._due(t, timestamp)]
        for track in due:
            self._mark_emitted(track, timestamp)
        return due

    def flush(self) -> list[Track]:
        """Check every track for a wrong merge, then return the confirmed tracks updated since
        their last emission (marked emitted): the final states."""
        for track in list(self.tracks):
            self._split(track)
        due = []
        for track in self.confirmed:
            if track.updated_since_emit or track.emitted is None:
                self._mark_emitted(track, track.last_seen)
                due.append(track)
        return due

    # --- association -------------------------------------------------------------------

    def _associate(self, s: Sighting, used: set[str]) -> int | None:
        if s.instance_key is not None and s.instance_key in self._by_key:
            return self._by_key[s.instance_key]
        if not self.tracks:
            return None
        cfg = self.config
        overlap = self._overlap(s.min_xyz, s.max_xyz)
        distance = np.linalg.norm(self._means - s.center, axis=1)
        candidates = (overlap >= max(cfg.association_min_overlap, 1e-9)) | (distance <= cfg.association_distance_m)
        if s.instance_key is not None:
            candidates &= ~self._keyed
        best, best_score, nearest, nearest_d = None, 0.0, None, np.inf
        for i in np.flatnonzero(candidates).tolist():
            track = self.tracks[i]
            if track.track_id in used:
                continue
            sim = self.similarity.to_votes(s.category, track.label_votes)
            if sim < cfg.association_min_label_similarity:
                continue
            if overlap[i] >= max(cfg.association_min_overlap, 1e-9):
                if overlap[i] * sim > best_score:
                    best, best_score = i, overlap[i] * sim
            elif track.category == s.category and distance[i] < nearest_d:
                nearest, nearest_d = i, distance[i]
        return best if best is not None else nearest

    def _overlap(self, lo: np.ndarray, hi: np.ndarray, mins: np.ndarray | None = None,
                 maxs: np.ndarray | None = None) -> np.ndarray:
        """Intersection over the smaller volume of box [lo, hi] with every track's box (or the
        boxes ``mins``/``maxs``).

        Every box is first grown by one voxel (``voxel_size_m``) per side: voxel centroids sit
        up to half a voxel inside the surface, so views of two faces of one object (or a flat
        view of one face) would otherwise just miss each other.
        """
        margin = self.config.voxel_size_m
        mins = self._mins if mins is None else mins
        maxs = self._maxs if maxs is None else maxs
        lo, hi = lo - margin, hi + margin
        t_lo, t_hi = mins - margin, maxs + margin
        inter = np.prod(np.clip(np.minimum(t_hi, hi) - np.maximum(t_lo, lo), 0.0, None), axis=-1)
        return inter / np.minimum(np.prod(t_hi - t_lo, axis=-1), np.prod(hi - lo))

    # --- merging duplicates and splitting wrong merges ---------------------------------

    def _merge_overlapping(self, index: int) -> Track:
        """Merge label-alike tracks that now overlap track ``index``; returns the survivor."""
        t = self.tracks[index]
        cfg = self.config
        overlap = self._overlap(t.min_xyz, t.max_xyz)
        near = np.linalg.norm(self._means[:, :2] - t.mean_position[:2], axis=1) <= MERGE_NEAR_M
        overlapping = np.flatnonzero((overlap >= cfg.merge_min_overlap) | (near & (overlap >= MERGE_NEAR_MIN_OVERLAP)))
        group = [index]
        keyed_seen = t.instance_key is not None
        for i in overlapping.tolist():
            other = self.tracks[i]
            if i == index or other.frames & t.frames:
                continue
            if other.instance_key is not None:
                if keyed_seen:
                    continue
                keyed_seen = True
            if self.similarity.to_votes(t.category, other.label_votes) < cfg.association_min_label_similarity:
                continue
            if overlap[i] < cfg.merge_min_overlap and other.category != t.category:
                continue
            group.append(i)
        if len(group) == 1:
            return t
        group.sort()
        survivor = self.tracks[group[0]]
        for other in (self.tracks[i] for i in group[1:]):
            self._fold(survivor, other)
            self.merged = {k: (survivor.track_id if v == other.track_id else v) for k, v in self.merged.items()}
            self.merged[other.track_id] = survivor.track_id
        self._sync(group[0])
        self._remove(group[1:])
        return survivor

    def _split(self, track: Track) -> Track | None:
        """Cut ``track`` in two when its remembered sightings form two groups far apart whose
        boxes barely overlap (a wrong merge of two neighbours); returns the new track."""
        cfg = self.config
        entries = list(track.history)
        history = [s for _, s in entries]
        if track.instance_key is not None or len(history) < 2 * cfg.min_detections:
            return None
        centres = np.array([s.center[:2] for s in history])
        a = centres[int(np.argmax(np.linalg.norm(centres - centres[0], axis=1)))]
        b = centres[int(np.argmax(np.linalg.norm(centres - a, axis=1)))]
        side = np.zeros(len(centres), dtype=bool)
        for _ in range(8):
            side = np.linalg.norm(centres - b, axis=1) < np.linalg.norm(centres - a, axis=1)
            if side.all() or not side.any():
                return None
            a, b = centres[~side].mean(axis=0), centres[side].mean(axis=0)
        if np.linalg.norm(a - b) < cfg.split_min_separation_m or min(side.sum(), (~side).sum()) < cfg.min_detections:
            return None
        lo = np.array([s.min_xyz for s in history])
        hi = np.array([s.max_xyz for s in history])
        lo_a, hi_a = lo[~side].min(axis=0), hi[~side].max(axis=0)
        lo_b, hi_b = lo[side].min(axis=0), hi[side].max(axis=0)
        if float(self._overlap(lo_a, hi_a, lo_b[None], hi_b[None])[0]) > cfg.split_max_overlap:
            return None
        index = self.tracks.index(track)
        moved = [e for e, m in zip(entries, side.tolist(), strict=True) if m]
        part = self.tracks[self._new_track(moved[0][1])]
        for frame, s in moved:
            self._unabsorb(track, frame, s)
            self._absorb(len(self.tracks) - 1, s, frame)
        track.history = type(track.history)((e for e, m in zip(entries, side.tolist(), strict=True) if not m),
                                            maxlen=track.history.maxlen)
        self._rebox(track)
        track.mean_position = np.average(np.array([s.center for _, s in track.history]), axis=0,
                                         weights=[max(s.score, 1e-6) for _, s in track.history])
        track.relabel()
        track.updated_since_emit = True
        self._sync(index)
        self.split[part.track_id] = track.track_id
        return part

    @staticmethod
    def _unabsorb(t: Track, frame: int, s: Sighting) -> None:
        t.count -= 1
        t.score_sum -= s.score
        t.weight_sum -= max(s.score, 1e-6)
        t.label_votes[s.category] -= s.score
        if t.label_votes[s.category] <= 1e-9:
            del t.label_votes[s.category]
        if s.color and t.color_votes[s.color] > 0:
            t.color_votes[s.color] -= 1
            t.color_votes += type(t.color_votes)()  # drop zero counts
        t.frames.discard(frame)

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
        into.label_votes.update(other.label_votes)
        into.color_votes.update(other.color_votes)
        into.room_votes.update(other.room_votes)
        into.frames |= other.frames
        into.history = type(into.history)(sorted([*into.history, *other.history], key=lambda e: e[0]),
                                          maxlen=into.history.maxlen)
        ObjectFusion._rebox(into)
        into.relabel()
        into.instance_key = into.instance_key if into.instance_key is not None else other.instance_key
        if into.best_crop is None or (other.best_crop is not None and other.best_crop.size > into.best_crop.size):
            into.best_crop = other.best_crop
        into.updated_since_emit = True

    # --- bookkeeping -------------------------------------------------------------------

    @staticmethod
    def _rebox(t: Track) -> None:
        """The track's box: the trimmed union of its remembered views (``trimmed_box``)."""
        if t.history:
            boxes = np.array([(v.min_xyz, v.max_xyz) for _, v in t.history], dtype=np.float64)
            t.min_xyz, t.max_xyz = trimmed_box(boxes[:, 0], boxes[:, 1])

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
        self._keyed = self._keyed[keep]
        self._mins, self._maxs, self._means = self._mins[keep], self._maxs[keep], self._means[keep]
        self._by_key = {t.instance_key: i for i, t in enumerate(self.tracks) if t.instance_key is not None}

    def _new_track(self, s: Sighting) -> int:
        track = Track(
            track_id=f"{self.id_prefix}{self._next_id}",
            category=s.category,
            min_xyz=s.min_xyz.astype(np.float64).copy(),
            max_xyz=s.max_xyz.astype(np.float64).copy(),
            mean_position=s.center.astype(np.float64).copy(),
            first_seen=s.timestamp,
            last_seen=s.timestamp,
        )
        self._next_id += 1
        self.tracks.append(track)
        self._mins = np.vstack([self._mins, track.min_xyz])
        self._maxs = np.vstack([self._maxs, track.max_xyz])
        self._means = np.vstack([self._means, track.mean_position])
        self._keyed = np.append(self._keyed, False)
        return len(self.tracks) - 1

    def _absorb(self, index: int, s: Sighting, frame: int | None = None) -> None:
        t = self.tracks[index]
        frame = self._frame if frame is None else frame
        kept = s if s.crop is None else replace(s, crop=None)
        if t.count >= self.config.min_detections:
            growth = self.config.max_extent_growth_m
            kept = replace(kept, min_xyz=np.maximum(s.min_xyz, t.min_xyz - growth),
                           max_xyz=np.minimum(s.max_xyz, t.max_xyz + growth))
        weight = max(s.score, 1e-6)
        t.mean_position = (t.mean_position * t.weight_sum + s.center * weight) / (t.weight_sum + weight)
        t.weight_sum += weight
        t.score_sum += s.score
        t.count += 1
        t.label_votes[s.category] += s.score
        t.relabel()
        t.frames.add(frame)
        t.history.append((frame, kept))
        self._rebox(t)
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
            if not self._is_confirmed(t) and now - t.last_seen > cfg.tentative_ttl_s
        ]
        if stale:
            self._remove(stale)

    def _changed(self, t: Track) -> bool:
        if t.emitted is None:
            return True
        center, extent, color, room, _, category = t.emitted
        cfg = self.config
        return bool(
            t.category != category
            or np.linalg.norm(t.center - center) >= cfg.emit_min_move_m
            or np.abs(t.extent - extent).max() >= cfg.emit_min_extent_change_m
            or t.color != color
            or t.room != room
        )

    def _due(self, t: Track, now: float) -> bool:
        if not self._is_confirmed(t):
            return False
        if self.config.emit_mode == "update" or t.emitted is None:
            return True
        interval = self.config.emit_interval_s
        return self._changed(t) or (interval > 0 and now - t.emitted[4] >= interval)

    @staticmethod
    def _mark_emitted(t: Track, now: float) -> None:
        t.emitted = (t.center.copy(), t.extent.copy(), t.color, t.room, now, t.category)
        t.updated_since_emit = False
