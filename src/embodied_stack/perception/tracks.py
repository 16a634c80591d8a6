"""What fusion works on: a :class:`Sighting` (one detection in 3D) and a :class:`Track` (an
object fused from many sightings, with a label distribution rather than one label)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

HISTORY = 64
"""Sightings a track remembers (box, label, score, time; not the crop) for its box and for
splitting a wrong merge."""


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
    """A fused object: box union, running centre, sighting count, votes over views.

    ``label_votes`` is the label distribution (detector scores summed per label);
    ``category`` is its most voted label, kept current by the fusion. ``frames`` are the
    fusion's frame numbers the track was detected in (two tracks detected in one frame are two
    objects); ``history`` holds the latest (frame, sighting) pairs, for splitting.
    """

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
    label_votes: Counter[str] = field(default_factory=Counter)
    color_votes: Counter[str] = field(default_factory=Counter)
    room_votes: Counter[str] = field(default_factory=Counter)
    frames: set[int] = field(default_factory=set)
    history: deque[tuple[int, Sighting]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    source_pose: tuple[float, float, float, float, float, float, float] | None = None
    best_crop: np.ndarray | None = None
    caption: str | None = None
    emitted: tuple[np.ndarray, np.ndarray, str | None, str | None, float, str] | None = None
    updated_since_emit: bool = False

    @property
    def center(self) -> np.ndarray:
        return (self.min_xyz + self.max_xyz) / 2.0

    @property
    def extent(self) -> np.ndarray:
        return self.max_xyz - self.min_xyz

    @property
    def confidence(self) -> float:
        """Mean detector score over the track's sightings, times the share of the top label."""
        if not self.count:
            return 0.0
        return self.score_sum / self.count * self.label_share

    @property
    def label_share(self) -> float:
        """The top label's share of the label votes (1 when every view agreed)."""
        total = sum(self.label_votes.values())
        return self.label_votes[self.category] / total if total > 0 else 1.0

    @property
    def labels(self) -> dict[str, float]:
        """The label distribution, normalised, most likely first."""
        total = sum(self.label_votes.values())
        return {k: v / total for k, v in self.label_votes.most_common()} if total > 0 else {self.category: 1.0}

    @property
    def color(self) -> str | None:
        return self.color_votes.most_common(1)[0][0] if self.color_votes else None

    @property
    def room(self) -> str | None:
        return self.room_votes.most_common(1)[0][0] if self.room_votes else None

    def relabel(self) -> None:
        """Set ``category`` to the most voted label (ties: the current one stays)."""
        if self.label_votes:
            best = max(self.label_votes.values())
            if self.label_votes.get(self.category, 0.0) < best:
                self.category = min(k for k, v in self.label_votes.items() if v == best)
