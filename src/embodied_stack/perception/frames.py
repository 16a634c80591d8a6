"""Validation of raw RGB-D frames (from the simulator, ROS topics or bags) into :class:`RGBDFrame`.

Everything that can be wrong with a sensor frame is turned into a :class:`BadFrameError` with a
reason code, so the pipeline can skip the frame, log why and keep going.

Depth encodings (as ROS ``sensor_msgs/Image``): ``uint16`` is millimetres (``16UC1``), floating
point is metres (``32FC1``). NaN, inf, 0 and values outside the configured range are invalid.
Depth is planar z-depth in the optical frame of ``T_map_camera`` (+z forward, +x right, +y down)
and registered to the RGB image (same size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from embodied_stack.perception.errors import BadFrameError
from embodied_stack.types import CameraIntrinsics

RIGID_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class RGBDFrame:
    """A validated frame.

    ``rgb`` HxWx3 uint8; ``depth_m`` HxW float32 metres with every invalid pixel set to 0;
    ``valid`` HxW bool (depth usable); ``T_map_camera`` 4x4 float64 rigid transform of the
    optical frame; ``timestamp`` seconds; ``instance``/``semantic`` HxW integer images or None.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    valid: np.ndarray
    intrinsics: CameraIntrinsics
    T_map_camera: np.ndarray
    timestamp: float
    instance: np.ndarray | None = None
    semantic: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth_m.shape  # type: ignore[return-value]

    def source_pose(self) -> tuple[float, float, float, float, float, float, float]:
        """Camera pose as x, y, z, qx, qy, qz, qw (xyzw, as ROS messages) in ``map``."""
        quat = Rotation.from_matrix(self.T_map_camera[:3, :3]).as_quat()
        t = self.T_map_camera[:3, 3]
        return (float(t[0]), float(t[1]), float(t[2]), *(float(q) for q in quat))  # type: ignore[return-value]


def depth_to_metres(depth: np.ndarray) -> np.ndarray:
    """Convert a depth image to float32 metres by its dtype (uint16 = mm, float = m).

    Raises:
        BadFrameError: ``depth_unknown_encoding`` for any other dtype.
    """
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * np.float32(0.001)
    if np.issubdtype(depth.dtype, np.floating):
        return depth.astype(np.float32, copy=False)
    raise BadFrameError(
        "depth_unknown_encoding",
        f"depth dtype {depth.dtype} is not an encoding we read; expected uint16 millimetres "
        "(16UC1) or float metres (32FC1)",
    )


def _check_image(name: str, image: object, ndim: int) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise BadFrameError(f"{name}_bad_shape", f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and ndim == 2 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != ndim or image.shape[0] == 0 or image.shape[1] == 0:
        expected = "HxWx3" if ndim == 3 else "HxW"
        raise BadFrameError(f"{name}_bad_shape", f"{name} has shape {image.shape}, expected {expected}")
    return image


def _intrinsics(intrinsics: CameraIntrinsics | np.ndarray, width: int, height: int) -> CameraIntrinsics:
    if isinstance(intrinsics, CameraIntrinsics):
        if (intrinsics.width, intrinsics.height) != (width, height):
            raise BadFrameError(
                "intrinsics_size_mismatch",
                f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the image is {width}x{height}",
            )
        values = (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy)
        if not all(math.isfinite(v) for v in values):
            raise BadFrameError("intrinsics_invalid", f"intrinsics have non-finite values {values}")
        return intrinsics
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise BadFrameError("intrinsics_invalid", f"expected CameraIntrinsics or a finite 3x3 K, got shape {k.shape}")
    try:
        return CameraIntrinsics(width, height, float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))
    except ValueError as err:
        raise BadFrameError("intrinsics_invalid", str(err)) from err


def _pose(T_map_camera: object) -> np.ndarray:
    try:
        T = np.asarray(T_map_camera, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise BadFrameError("pose_bad_shape", f"T_map_camera is not numeric ({err})") from err
    if T.shape != (4, 4):
        raise BadFrameError("pose_bad_shape", f"T_map_camera has shape {T.shape}, expected 4x4")
    if not np.all(np.isfinite(T)):
        raise BadFrameError("pose_not_finite", "T_map_camera contains NaN or inf")
    R = T[:3, :3]
    ortho_err = float(np.abs(R.T @ R - np.eye(3)).max())
    if ortho_err > RIGID_TOLERANCE or np.linalg.det(R) < 0 or np.abs(T[3] - (0, 0, 0, 1)).max() > RIGID_TOLERANCE:
        raise BadFrameError(
            "pose_not_rigid",
            f"T_map_camera is not a rigid transform (|R^T R - I| = {ortho_err:.2g}, det R = "
            f"{np.linalg.det(R):.3f}, last row {T[3].tolist()}); expected a rotation and a translation",
        )
    return T


def _label_image(name: str, image: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if image is None:
        return None
    image = _check_image(name, image, 2)
    if not np.issubdtype(image.dtype, np.integer):
        raise BadFrameError(f"{name}_bad_dtype", f"{name} image has dtype {image.dtype}, expected integer ids")
    if image.shape != shape:
        raise BadFrameError(f"{name}_size_mismatch", f"{name} image is {image.shape}, the depth is {shape}")
    return image


def validate_frame(
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsics: CameraIntrinsics | np.ndarray,
    T_map_camera: np.ndarray,
    timestamp: float,
    *,
    instance: np.ndarray | None = None,
    semantic: np.ndarray | None = None,
    depth_min_m: float = 0.1,
    depth_max_m: float = 10.0,
) -> RGBDFrame:
    """Check a raw frame and convert it; see the module docstring for the conventions.

    Raises:
        BadFrameError: with a reason code for every way the frame can be unusable.
    """
    rgb = _check_image("rgb", rgb, 3)
    if rgb.shape[2] != 3:
        raise BadFrameError("rgb_bad_shape", f"rgb has {rgb.shape[2]} channels, expected 3 (RGB)")
    if rgb.dtype != np.uint8:
        raise BadFrameError("rgb_bad_dtype", f"rgb has dtype {rgb.dtype}, expected uint8")
    depth = _check_image("depth", depth, 2)
    if depth.shape != rgb.shape[:2]:
        raise BadFrameError(
            "depth_size_mismatch", f"depth is {depth.shape} but rgb is {rgb.shape[:2]}; expected registered images"
        )
    depth_m = depth_to_metres(depth)
    height, width = depth.shape
    camera = _intrinsics(intrinsics, width, height)
    T = _pose(T_map_camera)
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float, np.floating, np.integer)) or not (
        math.isfinite(float(timestamp)) and float(timestamp) >= 0.0
    ):
        raise BadFrameError("timestamp_invalid", f"timestamp {timestamp!r} is not finite seconds >= 0")
    instance = _label_image("instance", instance, depth.shape)
    semantic = _label_image("semantic", semantic, depth.shape)
    with np.errstate(invalid="ignore"):
        valid = (depth_m >= depth_min_m) & (depth_m <= depth_max_m)
    if not valid.any():
        raise BadFrameError(
            "depth_all_invalid",
            f"no pixel has a finite depth in [{depth_min_m}, {depth_max_m}] m (NaN, inf and 0 are invalid)",
        )
    depth_m = np.where(valid, depth_m, np.float32(0.0))
    return RGBDFrame(rgb, depth_m, valid, camera, T, float(timestamp), instance, semantic)
