"""A pure-numpy transform buffer: the tf2 tree rebuilt from /tf, /tf_static or odometry.

Each edge ``parent -> child`` holds ``T_parent_child`` samples (the transform that maps points
in ``child`` coordinates into ``parent`` coordinates, as ``geometry_msgs/TransformStamped``
carries it; quaternions in ROS xyzw order). A lookup ``T_target_source(t)`` walks both frames
up to their common ancestor, interpolates every dynamic edge at ``t`` (linear translation,
SLERP rotation between the two bracketing stamps) and chains the edges. Static edges hold for
all times. Like tf2 it does not extrapolate: a time outside an edge's stamps is answered with
the nearest sample only when it lies within ``extrapolation_tolerance_s`` of it, else
:class:`ExtrapolationError`. Times are seconds (float, the message stamp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied_stack.bags.errors import (
    DisconnectedFramesError,
    ExtrapolationError,
    InvalidTransformError,
    UnknownFrameError,
)

QUATERNION_NORM_TOLERANCE = 0.01  # on |q|^2 - 1, as tf2's TF_DENORMALIZED_QUATERNION check


def quaternion_to_matrix(q_xyzw: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` xyzw -> rotation matrices ``(..., 3, 3)``."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rot = np.empty(q.shape[:-1] + (3, 3), dtype=np.float64)
    rot[..., 0, 0] = 1.0 - 2.0 * (y * y + z * z)
    rot[..., 0, 1] = 2.0 * (x * y - z * w)
    rot[..., 0, 2] = 2.0 * (x * z + y * w)
    rot[..., 1, 0] = 2.0 * (x * y + z * w)
    rot[..., 1, 1] = 1.0 - 2.0 * (x * x + z * z)
    rot[..., 1, 2] = 2.0 * (y * z - x * w)
    rot[..., 2, 0] = 2.0 * (x * z - y * w)
    rot[..., 2, 1] = 2.0 * (y * z + x * w)
    rot[..., 2, 2] = 1.0 - 2.0 * (x * x + y * y)
    return rot


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """A rotation matrix ``(3, 3)`` -> unit quaternion ``(4,)`` xyzw with ``w >= 0``."""
    m = np.asarray(rot, dtype=np.float64)[:3, :3]
    trace = float(np.trace(m))
    if trace > 0.0:
        s = math.sqrt(trace + 1.0) * 2.0
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2.0
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2.0
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2.0
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    quat = np.asarray(q, dtype=np.float64)
    quat /= np.linalg.norm(quat)
    return -quat if quat[3] < 0.0 else quat


def slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions ``(N, 4)`` xyzw at fractions ``u (N,)``.

    Takes the short way round (``q1`` is flipped when ``q0 . q1 < 0``); nearly equal
    quaternions fall back to normalised linear interpolation.
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    close = sin_theta < 1e-6
    safe = np.where(close, 1.0, sin_theta)
    w0 = np.where(close, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    w1 = np.where(close, u, np.sin(u * theta) / safe)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def transform_matrix(translation: Sequence[float] | np.ndarray, q_xyzw: Sequence[float] | np.ndarray) -> np.ndarray:
    """Translation ``(3,)`` metres and quaternion ``(4,)`` xyzw -> homogeneous ``(4, 4)``."""
    mat = np.eye(4)
    mat[:3, :3] = quaternion_to_matrix(np.asarray(q_xyzw, dtype=np.float64))
    mat[:3, 3] = np.asarray(translation, dtype=np.float64)
    return mat


def invert_transforms(mats: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``(..., 4, 4)`` (rotation transposed, no general inverse)."""
    rot_t = np.swapaxes(mats[..., :3, :3], -1, -2)
    inv = np.zeros_like(mats)
    inv[..., :3, :3] = rot_t
    inv[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, mats[..., :3, 3])
    inv[..., 3, 3] = 1.0
    return inv


def _frame(name: Any) -> str:
    return str(name).lstrip("/")


def _stamp_s(stamp: Any) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


@dataclass
class _Edge:
    """Samples of ``T_parent_child``; sorted, de-duplicated arrays built on first lookup."""

    parent: str
    static: bool
    stamps: list[float] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    _arrays: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, stamp_s: float, value: np.ndarray) -> None:
        if self.static:
            self.stamps, self.values = [stamp_s], [value]
        else:
            self.stamps.append(stamp_s)
            self.values.append(value)
        self._arrays = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(stamps (M,), values (M, 7) = translation xyz + quaternion xyzw), sorted by time."""
        if self._arrays is None:
            stamps = np.asarray(self.stamps, dtype=np.float64)
            values = np.stack(self.values)
            order = np.argsort(stamps, kind="stable")
            stamps, values = stamps[order], values[order]
            keep = np.append(stamps[1:] != stamps[:-1], True)  # the last sample of equal stamps
            self._arrays = (stamps[keep], values[keep])
        return self._arrays


class TransformBuffer:
    """The transform tree of a recording, answering ``T_target_source`` at any stamp.

    Args:
        extrapolation_tolerance_s: how far (seconds) before the first or after the last sample
            of a dynamic edge a lookup may still use that sample; beyond it,
            :class:`ExtrapolationError`.
    """

    def __init__(self, extrapolation_tolerance_s: float = 0.1) -> None:
        if not (math.isfinite(extrapolation_tolerance_s) and extrapolation_tolerance_s >= 0.0):
            raise ValueError(
                f"extrapolation_tolerance_s must be finite and >= 0, got {extrapolation_tolerance_s}"
            )
        self.extrapolation_tolerance_s = float(extrapolation_tolerance_s)
        self._edges: dict[str, _Edge] = {}  # child frame -> edge to its parent

    @property
    def frames(self) -> set[str]:
        """Every frame seen as a parent or a child."""
        return set(self._edges) | {edge.parent for edge in self._edges.values()}

    def parent_of(self, frame: str) -> str | None:
        edge = self._edges.get(_frame(frame))
        return edge.parent if edge else None

    def time_range(self, child: str) -> tuple[float, float] | None:
        """First and last stamp (s) of the edge into ``child``; None when static or unknown."""
        edge = self._edges.get(_frame(child))
        if edge is None or edge.static:
            return None
        stamps, _ = edge.arrays()
        return float(stamps[0]), float(stamps[-1])

    def add(
        self,
        parent: str,
        child: str,
        stamp_s: float,
        translation: Sequence[float] | np.ndarray,
        rotation_xyzw: Sequence[float] | np.ndarray,
        *,
        static: bool = False,
    ) -> None:
        """Add one sample of ``T_parent_child`` (metres; quaternion xyzw, normalised here).

        Raises:
            InvalidTransformError: empty or equal frame names, non-finite values, a quaternion
                whose squared norm is off 1 by more than 0.01 (tf2's rule), a child that
                already has another parent, a cycle, or static and dynamic on one edge.
        """
        parent, child = _frame(parent), _frame(child)
        if not parent or not child:
            raise InvalidTransformError(f"empty frame id (parent {parent!r}, child {child!r})")
        if parent == child:
            raise InvalidTransformError(f"transform from frame {child!r} to itself")
        values = np.concatenate(
            [np.asarray(translation, dtype=np.float64).reshape(-1), np.asarray(rotation_xyzw, dtype=np.float64).reshape(-1)]
        )
        if values.size != 7 or not np.all(np.isfinite(values)) or not math.isfinite(stamp_s):
            raise InvalidTransformError(
                f"{parent} -> {child}: expected finite translation (3) and quaternion (4) at a "
                f"finite stamp, got {values.tolist()} at {stamp_s}"
            )
        norm2 = float(np.dot(values[3:], values[3:]))
        if abs(norm2 - 1.0) > QUATERNION_NORM_TOLERANCE:
            raise InvalidTransformError(
                f"{parent} -> {child}: quaternion (xyzw) {values[3:].tolist()} has squared norm "
                f"{norm2:.4f}, expected 1 +- {QUATERNION_NORM_TOLERANCE}"
            )
        values[3:] /= math.sqrt(norm2)
        edge = self._edges.get(child)
        if edge is not None and edge.parent != parent:
            raise InvalidTransformError(
                f"frame {child!r} already has parent {edge.parent!r}; a transform from "
                f"{parent!r} would give it two parents"
            )
        if edge is not None and edge.static != static:
            kinds = ("static", "dynamic") if edge.static else ("dynamic", "static")
            raise InvalidTransformError(
                f"{parent} -> {child} was published as {kinds[0]} and now as {kinds[1]}"
            )
        if edge is None:
            ancestor: str | None = parent
            while ancestor is not None:
                if ancestor == child:
                    raise InvalidTransformError(f"{parent} -> {child} would close a cycle in the tree")
                ancestor = self.parent_of(ancestor)
            edge = self._edges[child] = _Edge(parent, static)
        edge.add(float(stamp_s), values)

    def add_transform_stamped(self, msg: Any, *, static: bool = False) -> None:
        """Add a ``geometry_msgs/TransformStamped`` (raises :class:`InvalidTransformError`)."""
        tr, rot = msg.transform.translation, msg.transform.rotation
        self.add(
            msg.header.frame_id,
            msg.child_frame_id,
            _stamp_s(msg.header.stamp),
            (tr.x, tr.y, tr.z),
            (rot.x, rot.y, rot.z, rot.w),
            static=static,
        )

    def add_tf_message(self, msg: Any, *, static: bool = False) -> list[InvalidTransformError]:
        """Add every transform of a ``tf2_msgs/TFMessage``; returns the rejected ones' errors.

        One bad transform does not stop the others in the same message.
        """
        errors: list[InvalidTransformError] = []
        for transform in msg.transforms:
            try:
                self.add_transform_stamped(transform, static=static)
            except InvalidTransformError as err:
                errors.append(err)
        return errors

    def add_odometry(self, msg: Any) -> None:
        """Add the pose of a ``nav_msgs/Odometry`` as ``header.frame_id -> child_frame_id``."""
        pose = msg.pose.pose
        self.add(
            msg.header.frame_id,
            msg.child_frame_id,
            _stamp_s(msg.header.stamp),
            (pose.position.x, pose.position.y, pose.position.z),
            (pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w),
        )

    def root_of(self, frame: str) -> str:
        """The root of the tree holding ``frame`` (``frame`` itself when it has no parent)."""
        return self._chain(_frame(frame))[-1]

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while (parent := self.parent_of(chain[-1])) is not None:
            chain.append(parent)
        return chain

    def _edge_matrices(self, child: str, times: np.ndarray, target: str, source: str) -> np.ndarray:
        edge = self._edges[child]
        stamps, values = edge.arrays()
        if edge.static:
            return np.broadcast_to(transform_matrix(values[0, :3], values[0, 3:]), (times.size, 4, 4))
        gap = np.maximum(stamps[0] - times, 0.0) + np.maximum(times - stamps[-1], 0.0)
        bad = np.flatnonzero(gap > self.extrapolation_tolerance_s)
        if bad.size:
            t = float(times[bad[0]])
            side = "before the first" if t < stamps[0] else "after the last"
            raise ExtrapolationError(
                f"cannot transform {source!r} into {target!r} at t={t:.6f} s: edge "
                f"{edge.parent} -> {child} has stamps {stamps[0]:.6f}..{stamps[-1]:.6f} s "
                f"({stamps.size} samples); the request is {gap[bad[0]]:.3f} s {side} "
                f"(tolerance {self.extrapolation_tolerance_s:.3f} s)"
            )
        if stamps.size == 1:
            sample = values[np.zeros(times.size, dtype=np.intp)]
            mats = np.zeros((times.size, 4, 4))
            mats[:, :3, :3] = quaternion_to_matrix(sample[:, 3:])
            mats[:, :3, 3] = sample[:, :3]
            mats[:, 3, 3] = 1.0
            return mats
        upper = np.clip(np.searchsorted(stamps, times, side="right"), 1, stamps.size - 1)
        lower = upper - 1
        u = np.clip((times - stamps[lower]) / (stamps[upper] - stamps[lower]), 0.0, 1.0)
        trans = values[lower, :3] + u[:, None] * (values[upper, :3] - values[lower, :3])
        quat = slerp(values[lower, 3:], values[upper, 3:], u)
        mats = np.zeros((times.size, 4, 4))
        mats[:, :3, :3] = quaternion_to_matrix(quat)
        mats[:, :3, 3] = trans
        mats[:, 3, 3] = 1.0
        return mats

    def _to_ancestor(self, chain: list[str], times: np.ndarray, target: str, source: str) -> np.ndarray:
        """``T_ancestor_chain[0]`` where the ancestor is the frame after the last edge of ``chain``."""
        result = np.broadcast_to(np.eye(4), (times.size, 4, 4)).copy()
        for child in chain:
            result = self._edge_matrices(child, times, target, source) @ result
        return result

    def lookup_many(self, target: str, source: str, times_s: Sequence[float] | np.ndarray) -> np.ndarray:
        """``T_target_source`` at each time: ``(N, 4, 4)``, mapping ``source`` points into ``target``.

        Raises:
            UnknownFrameError: a frame was never published (the message lists known frames).
            DisconnectedFramesError: the frames have no common ancestor.
            ExtrapolationError: a time is outside an edge's stamps beyond the tolerance.
        """
        target, source = _frame(target), _frame(source)
        times = np.asarray(times_s, dtype=np.float64).reshape(-1)
        if target == source:
            return np.broadcast_to(np.eye(4), (times.size, 4, 4)).copy()
        known = self.frames
        for name in (target, source):
            if name not in known:
                listing = ", ".join(sorted(known)) or "none"
                raise UnknownFrameError(f"unknown frame {name!r}; known frames: {listing}")
        up_source, up_target = self._chain(source), self._chain(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise DisconnectedFramesError(
                f"frames {source!r} (tree root {up_source[-1]!r}) and {target!r} (tree root "
                f"{up_target[-1]!r}) are not connected; a transform between the two trees is missing"
            )
        source_edges = up_source[: up_source.index(common)]
        target_edges = up_target[: up_target.index(common)]
        t_common_source = self._to_ancestor(source_edges, times, target, source)
        t_common_target = self._to_ancestor(target_edges, times, target, source)
        return invert_transforms(t_common_target) @ t_common_source

    def lookup(self, target: str, source: str, t_s: float) -> np.ndarray:
        """``T_target_source`` ``(4, 4)`` at ``t_s`` seconds (see :meth:`lookup_many`)."""
        return self.lookup_many(target, source, [t_s])[0]

    def can_transform(self, target: str, source: str, t_s: float) -> bool:
        """True when :meth:`lookup` would succeed."""
        try:
            self.lookup(target, source, t_s)
        except (UnknownFrameError, DisconnectedFramesError, ExtrapolationError):
            return False
        return True
