"""The log of every accepted observation (sighting), in columns, for time questions and saving.

Each row is one observation as ingested, plus the leaf it was fused into. Optional fields that
are usually absent (track id, attributes) are kept sparsely by row.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SightingLog:
    """Growable columns of observations."""

    _COLUMNS = {
        "leaf": ((), np.int64), "timestamp": ((), np.float64), "confidence": ((), np.float32),
        "category": ((), np.int32), "caption": ((), np.int32), "room": ((), np.int32),
        "position": ((3,), np.float64), "extent": ((3,), np.float32),
        "source_pose": ((7,), np.float32),  # x, y, z, qx, qy, qz, qw; NaN when not given
    }

    def __init__(self) -> None:
        self.n = 0
        self._cap = 0
        for name, (shape, dtype) in self._COLUMNS.items():
            setattr(self, name, np.zeros((0, *shape), dtype=dtype))
        self.extras: dict[int, dict[str, Any]] = {}
        self.committed = 0
        self._latest = 0.0

    def append(self, columns: dict[str, np.ndarray], extras: dict[int, dict[str, Any]] | None = None) -> np.ndarray:
        """Append rows; ``extras`` maps a row offset within this append to its optional fields."""
        count = len(columns["leaf"])
        if self.n + count > self._cap:
            cap = max(self.n + count, int(self._cap * 1.5) + 1024)
            for name in self._COLUMNS:
                old = getattr(self, name)
                grown = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
                grown[: self.n] = old[: self.n]
                setattr(self, name, grown)
            self._cap = cap
        rows = np.arange(self.n, self.n + count)
        for name in self._COLUMNS:
            getattr(self, name)[rows] = columns[name]
        for offset, extra in (extras or {}).items():
            self.extras[self.n + offset] = extra
        if count:
            latest = float(self.timestamp[rows].max())
            self._latest = latest if self.n == 0 else max(self._latest, latest)
        self.n += count
        return rows

    def latest_time(self) -> float:
        """The latest sighting time (seconds; 0 when empty), kept as rows arrive: every query reads it."""
        return self._latest

    def leaves_in_window(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Leaves sighted in [start, end] and the latest sighting time of each in the window."""
        times = self.timestamp[: self.n]
        mask = (times >= start) & (times <= end)
        leaves = self.leaf[: self.n][mask]
        if len(leaves) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        unique, inverse = np.unique(leaves, return_inverse=True)
        latest = np.full(len(unique), -np.inf)
        np.maximum.at(latest, inverse, times[mask])
        return unique, latest
