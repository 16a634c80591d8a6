"""Sensor noise for surveys: a drifting pose estimate and noisy depth (``--noise`` presets).

The robot perceives and maps with what these produce, while the simulator (and the explorer's
driving) keeps the true pose, as a real robot's wheels do.

- **Pose estimate**: odometry error grows as a random walk with distance travelled and angle
  turned (``trans_per_sqrt_m`` metres and ``yaw_per_sqrt_m`` radians per square-root metre,
  ``yaw_per_rad`` radians per radian turned); a localiser (scan matching, loop closure) pulls it
  back, modelled as an exponential decay of the error over ``correction_m`` metres of travel,
  so the error stays bounded (steady state about ``k * sqrt(correction_m / 2)``). The error is
  applied about the robot's position: the estimated camera pose is the true one rotated by the
  yaw error about the robot and shifted by the position error.
- **Depth**: Gaussian noise with standard deviation ``depth_a + depth_b * z**2`` (the shape of
  structured-light and stereo depth error, Nguyen et al. 2012), and a share ``depth_dropout`` of
  pixels with no return.

Presets: ``none``, ``realistic`` (default) and ``hard``; all draws come from one seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from embodied_stack.types import Frame, Pose2D
from embodied_stack.types.geometry import wrap_angle

NOISE_PRESETS = ("none", "realistic", "hard")


@dataclass(frozen=True)
class NoiseModel:
    """Pose-estimate and depth noise (see the module docstring)."""

    trans_per_sqrt_m: float = 0.0
    yaw_per_sqrt_m: float = 0.0
    yaw_per_rad: float = 0.0
    correction_m: float = 10.0
    depth_a: float = 0.0
    depth_b: float = 0.0
    depth_dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"NoiseModel.{name} must be a finite number >= 0, got {value!r}")
        if self.correction_m <= 0 or self.depth_dropout >= 1:
            raise ValueError("NoiseModel.correction_m must be > 0 and depth_dropout < 1")

    @property
    def has_pose_noise(self) -> bool:
        return bool(self.trans_per_sqrt_m or self.yaw_per_sqrt_m or self.yaw_per_rad)

    @classmethod
    def preset(cls, name: str) -> NoiseModel:
        if name == "none":
            return cls()
        if name == "realistic":
            return cls(trans_per_sqrt_m=0.05, yaw_per_sqrt_m=0.02, yaw_per_rad=0.01, correction_m=10.0,
                       depth_a=0.002, depth_b=0.0025, depth_dropout=0.01)
        if name == "hard":
            return cls(trans_per_sqrt_m=0.12, yaw_per_sqrt_m=0.05, yaw_per_rad=0.03, correction_m=15.0,
                       depth_a=0.005, depth_b=0.006, depth_dropout=0.05)
        raise ValueError(f"noise preset {name!r} is unknown; expected one of {NOISE_PRESETS}")

    def without_pose_noise(self) -> NoiseModel:
        return replace(self, trans_per_sqrt_m=0.0, yaw_per_sqrt_m=0.0, yaw_per_rad=0.0)


class NoisySensor:
    """Turns true frames into what the robot measures: estimated poses, noisy depth."""

    def __init__(self, model: NoiseModel, seed: int = 0) -> None:
        self.model = model
        self.rng = np.random.default_rng(seed)
        self.error = np.zeros(3)  # x, y, yaw
        self._last: Pose2D | None = None
        self.errors_m: list[float] = []
        self.errors_rad: list[float] = []

    def __call__(self, frame: Frame) -> Frame:
        m = self.model
        if m.has_pose_noise:
            self._drift(frame.agent_pose)
        depth = frame.depth
        if m.depth_a or m.depth_b or m.depth_dropout:
            depth = depth.astype(np.float32, copy=True)
            valid = depth > 0
            sigma = m.depth_a + m.depth_b * depth ** 2
            depth = np.where(valid, np.maximum(depth + self.rng.standard_normal(depth.shape) * sigma, 0.0),
                             0.0).astype(np.float32)
            if m.depth_dropout:
                depth[self.rng.random(depth.shape) < m.depth_dropout] = 0.0
        if not m.has_pose_noise:
            return replace(frame, depth=depth)
        ex, ey, eyaw = self.error.tolist()
        true = frame.agent_pose
        c, s = math.cos(eyaw), math.sin(eyaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        pose = frame.camera_pose.copy()
        robot = np.array([true.x, true.y, 0.0])
        pose[:3, 3] = rot @ (pose[:3, 3] - robot) + robot + np.array([ex, ey, 0.0])
        pose[:3, :3] = rot @ pose[:3, :3]
        estimate = Pose2D(true.x + ex, true.y + ey, wrap_angle(true.yaw + eyaw))
        self.errors_m.append(math.hypot(ex, ey))
        self.errors_rad.append(abs(eyaw))
        return replace(frame, depth=depth, camera_pose=pose, agent_pose=estimate)

    def _drift(self, pose: Pose2D) -> None:
        last, self._last = self._last, pose
        if last is None:
            return
        m = self.model
        moved = math.hypot(pose.x - last.x, pose.y - last.y)
        turned = abs(wrap_angle(pose.yaw - last.yaw))
        if moved == 0 and turned == 0:
            return
        self.error[:2] += self.rng.normal(0.0, m.trans_per_sqrt_m * math.sqrt(moved), 2)
        self.error[2] += self.rng.normal(0.0, m.yaw_per_sqrt_m * math.sqrt(moved) + m.yaw_per_rad * turned)
        self.error *= math.exp(-moved / m.correction_m)

    def summary(self) -> dict[str, float | None]:
        """Mean and largest position (m) and yaw (deg) error of the estimates handed out."""
        if not self.errors_m:
            return {"pose_error_mean_m": None, "pose_error_max_m": None, "yaw_error_mean_deg": None,
                    "yaw_error_max_deg": None}
        return {"pose_error_mean_m": round(float(np.mean(self.errors_m)), 4),
                "pose_error_max_m": round(float(np.max(self.errors_m)), 4),
                "yaw_error_mean_deg": round(math.degrees(float(np.mean(self.errors_rad))), 3),
                "yaw_error_max_deg": round(math.degrees(float(np.max(self.errors_rad))), 3)}
