"""Quality reports against the scene file (the scorer's side only): how well the robot's
fusion found the objects, and how well its room segmentation matches the scene's rooms.

**Association**: every fused track is matched to the scene object its box overlaps most
(intersection over the smaller of the two axis-aligned boxes, the object's box taken from its
rotated footprint and height), at least ``min_overlap``; unmatched tracks are spurious (false
positives). Reported: objects found (share of scene objects with a track), duplicates (tracks
beyond the first on one object, per found object), wrong merges (tracks whose box covers at
least half of two or more objects that its label distribution could name: label-alike by the
confusion table or the same category), spurious tracks, and label accuracy of matched tracks.

**Rooms**: each scene room's area is sampled on the robot's room grid: coverage (share of the
room's area that falls in some robot room), purity (share of the labelled part in the room's
dominant robot room); a scene room is over-split when a second robot room holds at least 20 %
of its labelled part, and a robot room under-splits (merges) when at least two scene rooms each
give it 20 % of its area. Type accuracy: the robot room's type equals the type of the scene
room it mostly covers (by the knowledge table's canonical room names).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embodied_stack.memory.knowledge import default_knowledge
from embodied_stack.perception.labels import confusable
from embodied_stack.perception.tracks import Track


def object_boxes(scene: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) mins and maxs of the scene objects' axis-aligned boxes."""
    mins, maxs = [], []
    for o in scene.objects:
        fp = np.asarray(o.footprint(), dtype=np.float64)
        cz, hz = o.center[2], o.size[2] / 2.0
        mins.append([*fp.min(axis=0), cz - hz])
        maxs.append([*fp.max(axis=0), cz + hz])
    return np.array(mins).reshape(-1, 3), np.array(maxs).reshape(-1, 3)


def _inter(lo: np.ndarray, hi: np.ndarray, mins: np.ndarray, maxs: np.ndarray) -> np.ndarray:
    return np.prod(np.clip(np.minimum(hi, maxs) - np.maximum(lo, mins), 0.0, None), axis=-1)


def association_quality(scene: Any, tracks: Sequence[Track], min_overlap: float = 0.2) -> dict[str, Any]:
    mins, maxs = object_boxes(scene)
    objects = list(scene.objects)
    vol = np.prod(np.maximum(maxs - mins, 1e-3), axis=1)
    matched: dict[int, list[Track]] = {}
    spurious = wrong = right_label = 0
    for t in tracks:
        lo, hi = t.min_xyz - 0.02, t.max_xyz + 0.02
        inter = _inter(lo, hi, mins, maxs)
        t_vol = float(np.prod(np.maximum(hi - lo, 1e-3)))
        ios = inter / np.minimum(vol, t_vol)
        best = int(np.argmax(ios)) if len(ios) else -1
        if best < 0 or ios[best] < min_overlap:
            spurious += 1
            continue
        matched.setdefault(best, []).append(t)
        right_label += objects[best].category == t.category
        covered = np.flatnonzero(inter / vol >= 0.5)
        alike = [i for i in covered.tolist()
                 if objects[i].category == t.category or confusable(objects[i].category, t.category)]
        wrong += len(alike) >= 2
    found = len(matched)
    n_matched = sum(len(v) for v in matched.values())
    return {
        "objects": len(objects), "tracks": len(tracks), "objects_found": found,
        "found_rate": round(found / len(objects), 4) if objects else None,
        "duplicates": n_matched - found,
        "duplicates_per_found_object": round((n_matched - found) / found, 4) if found else None,
        "wrong_merges": wrong, "spurious_tracks": spurious,
        "label_accuracy": round(right_label / n_matched, 4) if n_matched else None,
    }


def room_quality(scene: Any, room_map: Any, step_m: float = 0.1) -> dict[str, Any] | None:
    """Segmentation quality of a :class:`~embodied_stack.memory.rooms.RoomMap` (None without one)."""
    if room_map is None:
        return None
    knowledge = default_knowledge()
    lo, hi = scene.bounds_xy()
    xs, ys = np.meshgrid(np.arange(lo[0], hi[0], step_m) + step_m / 2, np.arange(lo[1], hi[1], step_m) + step_m / 2)
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
    rows, cols, inside = room_map.cells_of(pts)
    robot = np.where(inside, room_map.labels[rows, cols], 0)
    truth = np.full(len(pts), -1)
    for i, room in enumerate(scene.rooms):
        truth[(truth < 0) & room.contains(pts)] = i
    per_room, over, covered_sum, pure_sum, typed = [], 0, 0.0, 0.0, 0
    for i, room in enumerate(scene.rooms):
        mine = robot[truth == i]
        if mine.size == 0:
            continue
        labelled = mine[mine > 0]
        coverage = labelled.size / mine.size
        counts = np.bincount(labelled) if labelled.size else np.zeros(1)
        order = np.argsort(counts)[::-1]
        purity = counts[order[0]] / labelled.size if labelled.size else 0.0
        split = labelled.size > 0 and len(order) > 1 and counts[order[1]] >= 0.2 * labelled.size
        over += bool(split)
        kind = room_map.types.get(f"room_{order[0]}", ("", 0.0))[0] if labelled.size else ""
        truth_kind = knowledge.canonical_room(room.category) or room.category
        typed += bool(kind) and kind == truth_kind
        covered_sum += coverage
        pure_sum += purity
        per_room.append({"room": room.id, "coverage": round(coverage, 3), "purity": round(float(purity), 3),
                         "robot_room": f"room_{order[0]}" if labelled.size else None, "type": kind,
                         "true_type": truth_kind})
    under = 0
    for label in range(1, int(room_map.labels.max()) + 1):
        sources = truth[(robot == label) & (truth >= 0)]
        if sources.size:
            shares = np.bincount(sources) / sources.size
            under += int((shares >= 0.2).sum() >= 2)
    n = len(per_room)
    return {
        "scene_rooms": len(scene.rooms), "robot_rooms": int(room_map.labels.max()),
        "coverage": round(covered_sum / n, 4) if n else None, "purity": round(pure_sum / n, 4) if n else None,
        "over_split": over, "under_split": under,
        "type_accuracy": round(typed / n, 4) if n else None, "per_room": per_room,
    }
