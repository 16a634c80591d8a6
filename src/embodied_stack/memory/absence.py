"""Negative evidence: the robot looked at the spot where it saw a thing, and the thing was not there.

Objects move. A sighting says where a thing was; only a later look at the same spot that does
*not* see it says it has gone. Perception hands the memory, next to its observations, the views
it looked through (:class:`View`: the camera pose, intrinsics, a subsampled depth image of a
frame it ran detection on, and the centres of what it detected in that frame, whether or not
those made a new observation: fusion emits a static object only now and then). After fusing the
observations, the memory projects every leaf into each view: a leaf counts a *miss* when its
whole projected extent falls inside the image, within range, large enough on the image to
be detected, not hidden (the depth there is not much nearer than the leaf: nothing stands in
front of it), and nothing was detected near it in that frame. After
``absence_min_misses`` misses since its last sighting a leaf is *retired* from that time on:
current questions ("where is the laptop?") rank it down, and temporal ones ("has anything moved
in the living room?") report it gone. A new sighting revives it.

Several misses are needed because a detector misses things it could see (far, small, partly
hidden); a few misses in a row from good views are rare for an object that is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embodied_stack.types import CameraIntrinsics, Frame

VIEW_STRIDE = 4
"""Depth is kept at one pixel in this many per axis (a 320x240 frame -> 80x60)."""


@dataclass(frozen=True)
class View:
    """What the camera looked at when a frame was perceived: ``T_map_camera`` (4x4, optical frame:
    x right, y down, z forward), pinhole intrinsics of ``depth`` and the depth image (metres, 0 or
    NaN where there is no return)."""

    timestamp: float
    camera_pose: np.ndarray
    intrinsics: CameraIntrinsics
    depth: np.ndarray
    seen: np.ndarray
    """(M, 3) centres (``map``) of the objects detected in this frame."""
    seen_labels: tuple[frozenset[str], ...] = ()
    """The labels each detection was given (its track's label distribution); empty: unknown."""

    @classmethod
    def from_frame(cls, frame: Frame, seen: np.ndarray | None = None, labels: list[frozenset[str]] | None = None,
                   stride: int = VIEW_STRIDE) -> View:
        """A view of a perceived frame, its depth subsampled by ``stride`` (intrinsics scaled)."""
        k = frame.intrinsics
        depth = np.asarray(frame.depth, dtype=np.float32)[stride // 2::stride, stride // 2::stride]
        small = CameraIntrinsics(depth.shape[1], depth.shape[0], k.fx / stride, k.fy / stride,
                                 (k.cx - stride // 2) / stride, (k.cy - stride // 2) / stride)
        centres = np.zeros((0, 3)) if seen is None else np.asarray(seen, dtype=np.float64).reshape(-1, 3)
        return cls(float(frame.timestamp), np.asarray(frame.camera_pose, dtype=np.float64), small, depth.copy(), centres,
                   tuple(labels or ()))


@dataclass(frozen=True)
class AbsenceConfig:
    """When a look counts: range (metres), border margin (fraction of the image), the smallest
    projected size (pixels of the full frame's focal length), the depth slack in front of the
    leaf (metres) and how many misses retire a leaf."""

    min_range_m: float = 0.4
    max_range_m: float = 3.0
    border: float = 0.08
    min_pixels: float = 10.0
    occlusion_slack_m: float = 0.25
    seen_slack_m: float = 0.3
    max_half_m: float = 0.6
    min_misses: int = 3


class AbsenceTracker:
    """Per-leaf miss counts since the last sighting and retirement times (NaN: present)."""

    def __init__(self, config: AbsenceConfig | None = None) -> None:
        self.config = config or AbsenceConfig()
        self.misses = np.zeros(0, dtype=np.int32)
        self.since = np.zeros(0)  # the last_seen the misses count from
        self.retired_at = np.zeros(0)
        self.views = 0

    def _grow(self, n: int) -> None:
        if len(self.misses) < n:
            extra = n - len(self.misses)
            self.misses = np.concatenate([self.misses, np.zeros(extra, dtype=np.int32)])
            self.since = np.concatenate([self.since, np.full(extra, -np.inf)])
            self.retired_at = np.concatenate([self.retired_at, np.full(extra, np.nan)])

    def retired(self, n: int) -> np.ndarray:
        """(n,) bool: which of the first n leaves are retired now."""
        self._grow(n)
        return ~np.isnan(self.retired_at[:n])

    def look(self, views: Sequence[View], position: np.ndarray, extent: np.ndarray, last_seen: np.ndarray,
             labels: Sequence[str] | None = None) -> np.ndarray:
        """Count misses for the leaves (their columns; ``labels``: each leaf's category) in each
        view, oldest view first; returns the leaves retired by these views."""
        n = len(position)
        self._grow(n)
        cfg = self.config
        # a sighting after the misses started resets them (and revives a retired leaf)
        fresh = last_seen[:n] > self.since[:n]
        self.misses[:n][fresh] = 0
        self.since[:n][fresh] = last_seen[:n][fresh]
        self.retired_at[:n][fresh] = np.nan
        newly: list[np.ndarray] = []
        for view in sorted(views, key=lambda v: v.timestamp):
            self.views += 1
            rot, origin = view.camera_pose[:3, :3], view.camera_pose[:3, 3]
            near = np.flatnonzero(np.abs(position[:, :2] - origin[:2]).max(axis=1) <= cfg.max_range_m)
            near = near[last_seen[near] < view.timestamp - 1e-6]
            if len(near) == 0:
                continue
            cam = (position[near] - origin) @ rot
            z = cam[:, 2]
            k = view.intrinsics
            ok = (z >= cfg.min_range_m) & (z <= cfg.max_range_m)
            u = k.fx * cam[:, 0] / np.where(ok, z, 1.0) + k.cx
            v = k.fy * cam[:, 1] / np.where(ok, z, 1.0) + k.cy
            mu, mv = cfg.border * k.width, cfg.border * k.height
            ok &= (u >= mu) & (u < k.width - mu) & (v >= mv) & (v < k.height - mv)
            size = np.max(extent[near], axis=1) * k.fx * VIEW_STRIDE / np.where(ok, z, 1.0)
            ok &= size >= cfg.min_pixels
            # the whole thing in the image: a detector misses what the image border cuts off
            half = 0.5 * size / VIEW_STRIDE
            ok &= (u - half >= 0) & (u + half < k.width) & (v - half >= 0) & (v + half < k.height)
            iu = np.clip(u.astype(np.int64), 0, k.width - 1)
            iv = np.clip(v.astype(np.int64), 0, k.height - 1)
            depth = view.depth[iv, iu]
            seen_through = np.isfinite(depth) & (depth > 0) & (depth >= z - 0.5 * np.max(extent[near], axis=1)
                                                                 - cfg.occlusion_slack_m)
            missed = near[ok & seen_through]
            if len(missed) and len(view.seen):
                missed = missed[~self._explained(view, position[missed], extent[missed],
                                                 None if labels is None else [labels[i] for i in missed.tolist()])]
            self.misses[missed] += 1
            gone = missed[(self.misses[missed] >= cfg.min_misses) & np.isnan(self.retired_at[missed])]
            self.retired_at[gone] = view.timestamp
            if len(gone):
                newly.append(gone)
        return np.concatenate(newly) if newly else np.zeros(0, dtype=np.int64)

    def _explained(self, view: View, position: np.ndarray, extent: np.ndarray,
                   labels: list[str] | None) -> np.ndarray:
        """Which leaves a detection of this view accounts for: one within the leaf's box (half
        extents capped at :attr:`AbsenceConfig.max_half_m`, plus the slack) carrying the leaf's
        label, or one within the slack of its centre whatever its label (a confused label)."""
        cfg = self.config
        delta = np.abs(position[:, None, :] - view.seen[None, :, :])
        tight = np.linalg.norm(delta, axis=2) <= cfg.seen_slack_m
        reach = np.minimum(extent / 2.0, cfg.max_half_m) + cfg.seen_slack_m
        boxed = (delta <= reach[:, None, :]).all(axis=2)
        if labels is not None and len(view.seen_labels) == len(view.seen):
            same = np.array([[label in seen for seen in view.seen_labels] for label in labels], dtype=bool)
            boxed &= same
        return (tight | boxed).any(axis=1)
