"""Planar poses and pinhole intrinsics.

Conventions (FORMATS.md): metres, radians, z up, world frame ``map``; yaw counter-clockwise
about +z, 0 = facing +x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pose2D:
    """Planar robot pose in ``map``: position in metres, yaw in radians (CCW from +x)."""

    x: float
    y: float
    yaw: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.x) and math.isfinite(self.y) and math.isfinite(self.yaw)):
            raise ValueError(f"pose must be finite, got ({self.x}, {self.y}, {self.yaw})")

    @property
    def xy(self) -> np.ndarray:
        return np.array([self.x, self.y], dtype=np.float64)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (no distortion)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_rad: float) -> CameraIntrinsics:
        """Square pixels, principal point at the image centre (Habitat's pinhole model)."""
        if not 0.0 < hfov_rad < math.pi:
            raise ValueError(f"hfov must be in (0, pi) rad, got {hfov_rad}")
        f = (width / 2.0) / math.tan(hfov_rad / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    def matrix(self) -> np.ndarray:
        """The 3x3 K matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def wrap_angle(angle_rad: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi
