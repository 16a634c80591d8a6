"""Turn sensor readings into the policy's input tensors (host side, before the network).

The network itself (``VisionTokenizer``) scales RGB and clips depth, so that an exported graph
holds the whole input normalisation; what lives here is what must run on the host anyway:
resizing camera images to the policy's resolution and encoding the goal/state vector.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from embodied_stack.policy.configuration_vla import NUM_ACTIONS, VLAConfig

NO_PREVIOUS_ACTION = -1
NEAR_RANGE_M = 2.0
"""Range of the near-range distance features (metres)."""


def resize_frame(rgb: np.ndarray, depth: np.ndarray | None, config: VLAConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize one camera frame to the policy resolution.

    Args:
        rgb: HxWx3 uint8 image.
        depth: HxW float planar depth in metres (0 = no hit), or ``None`` (read as all far).
        config: gives the target ``image_width`` x ``image_height``.

    Returns:
        ``rgb`` (3, h, w) float32 in [0, 1] and ``depth`` (1, h, w) float32 metres. Images are
        area-averaged when shrinking; depth "no hit" pixels are set to ``max_depth_m`` first so
        that they do not average into phantom near obstacles.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be HxWx3, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    rgb_t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    if depth is None:
        depth_t = torch.full((1, height, width), config.max_depth_m, dtype=torch.float32)
    else:
        if depth.shape != (height, width):
            raise ValueError(f"depth shape {depth.shape} does not match rgb shape {(height, width)}")
        depth_t = torch.from_numpy(np.asarray(depth, dtype=np.float32)).unsqueeze(0).clone()
        depth_t[~(depth_t > 0)] = config.max_depth_m
    size = (config.image_height, config.image_width)
    if (height, width) != size:
        mode = "area" if height >= size[0] and width >= size[1] else "bilinear"
        rgb_t = F.interpolate(rgb_t.unsqueeze(0), size=size, mode=mode).squeeze(0)
        depth_t = F.interpolate(depth_t.unsqueeze(0), size=size, mode=mode).squeeze(0)
    return rgb_t, depth_t


def goal_features(
    distance_m: np.ndarray | float,
    bearing_rad: np.ndarray | float,
    prev_action: np.ndarray | int,
    config: VLAConfig,
    waypoint_distance_m: np.ndarray | float | None = None,
    waypoint_bearing_rad: np.ndarray | float | None = None,
    path_length_m: np.ndarray | float | None = None,
) -> np.ndarray:
    """Encode the relative target, the waypoint and the previous action as the goal/state token's input.

    Args:
        distance_m: straight-line distance from the robot to the target (metres), (N,) or scalar.
        bearing_rad: target direction relative to the robot's heading, CCW positive (radians).
        prev_action: the action taken at the previous step (``Action`` value), or -1 at the start.
        waypoint_distance_m, waypoint_bearing_rad: the subgoal on the way
            (:class:`~embodied_stack.policy.waypoints.GoalTracker`); the target's when omitted.
        path_length_m: length of the planned path to the target; the distance when omitted.

    Returns:
        (N, 15) float32 (or (15,) for scalar input): clipped distance / ``goal_max_distance_m``,
        log(1 + distance) / log(1 + ``goal_max_distance_m``), sin and cos of the bearing; the
        waypoint's clipped distance, sin and cos of its bearing; the clipped path length; the
        path length and the distance at near range (clipped to ``NEAR_RANGE_M``, so the
        last metre, where the robot decides to stop, spans a useful part of the input's range);
        a one-hot of the previous action over (none, stop, forward, left, right).
    """
    scalar = np.ndim(distance_m) == 0
    dist = np.atleast_1d(np.asarray(distance_m, dtype=np.float64))
    bearing = np.atleast_1d(np.asarray(bearing_rad, dtype=np.float64))
    way_dist = dist if waypoint_distance_m is None else np.atleast_1d(np.asarray(waypoint_distance_m, dtype=np.float64))
    way_bearing = bearing if waypoint_bearing_rad is None else np.atleast_1d(
        np.asarray(waypoint_bearing_rad, dtype=np.float64))
    path = dist if path_length_m is None else np.atleast_1d(np.asarray(path_length_m, dtype=np.float64))
    prev = np.atleast_1d(np.asarray(prev_action, dtype=np.int64))
    for name, values in (("goal", dist), ("waypoint", way_dist), ("path", path)):
        bad = ~(np.isfinite(values) & (values >= 0))
        if np.any(bad):
            raise ValueError(f"{name} distance must be finite and >= 0 m, got {values[bad][:3]}")
    if np.any((prev < NO_PREVIOUS_ACTION) | (prev >= NUM_ACTIONS)):
        raise ValueError(f"previous action must be -1 (none) or 0..{NUM_ACTIONS - 1}, got {prev.tolist()[:5]}")
    max_d = config.goal_max_distance_m
    clipped = np.minimum(dist, max_d)
    out = np.zeros((dist.shape[0], config.goal_features), dtype=np.float32)
    out[:, 0] = clipped / max_d
    out[:, 1] = np.log1p(clipped) / math.log1p(max_d)
    out[:, 2] = np.sin(bearing)
    out[:, 3] = np.cos(bearing)
    out[:, 4] = np.minimum(way_dist, max_d) / max_d
    out[:, 5] = np.sin(way_bearing)
    out[:, 6] = np.cos(way_bearing)
    out[:, 7] = np.minimum(path, max_d) / max_d
    out[:, 8] = np.minimum(path, NEAR_RANGE_M) / NEAR_RANGE_M
    out[:, 9] = np.minimum(dist, NEAR_RANGE_M) / NEAR_RANGE_M
    out[np.arange(dist.shape[0]), 10 + prev + 1] = 1.0
    return out[0] if scalar else out
