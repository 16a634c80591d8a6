"""Planar geometry helpers shared by the navigable map, the generator and the pictures (metres)."""

from __future__ import annotations

import numpy as np

from embodied_stack.sim.scene import points_in_polygon


def path_length(path: np.ndarray) -> float:
    """Sum of segment lengths of a (K, 2) polyline, metres."""
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 0.0


def resample_polyline(path: np.ndarray, step: float) -> np.ndarray:
    """The polyline with extra points so that no segment is longer than ``step``."""
    seg = np.diff(path, axis=0)
    counts = np.maximum(1, np.ceil(np.linalg.norm(seg, axis=1) / step).astype(np.int64))
    idx = np.repeat(np.arange(len(seg)), counts)
    first = np.cumsum(counts) - counts
    frac = (np.arange(len(idx)) - first[idx] + 1) / counts[idx]
    return np.concatenate([path[:1], path[idx] + seg[idx] * frac[:, None]])


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from (N, 2) points to the segment a-b."""
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(p)) if denom == 0 else np.clip((p - a) @ ab / denom, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def polygon_distance(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance from (N, 2) points to a polygon's area (0 inside)."""
    edges = np.stack([segment_distance(p, a, b) for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True)])
    return np.where(points_in_polygon(p, poly), 0.0, edges.min(axis=0))
