"""What perception detected in one frame, for the memory's negative evidence.

The memory retires a thing it looked for and did not see (:mod:`embodied_stack.memory.absence`).
Fusion emits a static object's observation only now and then, so "not in this frame's
observations" does not mean "not seen": the survey hands the memory, with each perceived frame's
view, the centres of the tracks the fusion updated in that frame (its latest sighting's box).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def detected_centres(pipeline: Any, timestamp: float) -> tuple[np.ndarray, list[frozenset[str]]]:
    """(M, 3) centres of what ``pipeline`` (a PerceptionPipeline) detected in the frame at
    ``timestamp`` (its fusion's tracks sighted at that time: the sighting's own box when the track
    keeps its history, else the track's box), and each one's labels (the track's label votes)."""
    centres = []
    labels: list[frozenset[str]] = []
    for track in getattr(pipeline.fusion, "tracks", []):
        if track.last_seen != timestamp:
            continue
        history = getattr(track, "history", None)
        last = history[-1][1] if history else None
        if last is not None and getattr(last, "timestamp", None) == timestamp:
            centres.append((np.asarray(last.min_xyz) + np.asarray(last.max_xyz)) / 2.0)
        else:
            centres.append(np.asarray(track.center, dtype=np.float64))
        votes = getattr(track, "label_votes", None)
        labels.append(frozenset(votes) | {track.category} if votes else frozenset({track.category}))
    return np.array(centres, dtype=np.float64).reshape(-1, 3), labels
