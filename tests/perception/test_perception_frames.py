"""Frame validation: encodings, and every bad frame turned into a BadFrameError with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from embodied_stack.perception import BadFrameError, validate_frame
from embodied_stack.types import CameraIntrinsics

H, W = 12, 16
CAMERA = CameraIntrinsics(W, H, 10.0, 10.0, 7.5, 5.5)


def _good() -> dict:
    return {
        "rgb": np.zeros((H, W, 3), dtype=np.uint8),
        "depth": np.full((H, W), 2.0, dtype=np.float32),
        "intrinsics": CAMERA,
        "T_map_camera": np.eye(4),
        "timestamp": 1.0,
    }


def test_uint16_millimetres_become_metres_and_invalid_pixels_are_zeroed() -> None:
    raw = _good()
    depth = np.full((H, W), 1500, dtype=np.uint16)
    depth[0, 0] = 0
    raw["depth"] = depth
    frame = validate_frame(**raw)
    assert frame.depth_m.dtype == np.float32
    assert frame.depth_m[1, 1] == pytest.approx(1.5)
    assert not frame.valid[0, 0] and frame.valid[1, 1]


def test_nan_inf_and_out_of_range_float_depth_is_invalid() -> None:
    raw = _good()
    raw["depth"][0, :4] = [np.nan, np.inf, 0.05, 25.0]
    frame = validate_frame(**raw, depth_min_m=0.1, depth_max_m=10.0)
    assert not frame.valid[0, :4].any()
    assert np.all(frame.depth_m[0, :4] == 0.0)
    assert frame.valid.sum() == H * W - 4


def test_a_3x3_k_matrix_is_accepted_for_intrinsics() -> None:
    raw = _good()
    raw["intrinsics"] = CAMERA.matrix()
    frame = validate_frame(**raw)
    assert (frame.intrinsics.width, frame.intrinsics.height, frame.intrinsics.fx) == (W, H, 10.0)


def test_source_pose_is_xyz_and_xyzw_quaternion() -> None:
    raw = _good()
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("z", 0.7).as_matrix()
    T[:3, 3] = (1.0, 2.0, 0.5)
    raw["T_map_camera"] = T
    pose = validate_frame(**raw).source_pose()
    assert pose[:3] == pytest.approx((1.0, 2.0, 0.5))
    assert pose[3:] == pytest.approx((0.0, 0.0, np.sin(0.35), np.cos(0.35)))


def _case(name: str) -> dict:
    raw = _good()
    if name == "depth_size_mismatch":
        raw["depth"] = np.full((H, W + 1), 2.0, dtype=np.float32)
    elif name == "depth_all_invalid":
        raw["depth"] = np.full((H, W), np.nan, dtype=np.float32)
    elif name == "depth_unknown_encoding":
        raw["depth"] = np.full((H, W), 2, dtype=np.int32)
    elif name == "pose_not_finite":
        raw["T_map_camera"] = np.eye(4)
        raw["T_map_camera"][0, 3] = np.nan
    elif name == "pose_not_rigid":
        raw["T_map_camera"] = np.diag([2.0, 1.0, 1.0, 1.0])
    elif name == "pose_bad_shape":
        raw["T_map_camera"] = np.eye(3)
    elif name == "rgb_bad_dtype":
        raw["rgb"] = np.zeros((H, W, 3), dtype=np.float32)
    elif name == "rgb_bad_shape":
        raw["rgb"] = np.zeros((H, W), dtype=np.uint8)
    elif name == "intrinsics_size_mismatch":
        raw["intrinsics"] = CameraIntrinsics(W * 2, H * 2, 10.0, 10.0, 7.5, 5.5)
    elif name == "timestamp_invalid":
        raw["timestamp"] = float("nan")
    elif name == "instance_size_mismatch":
        raw["instance"] = np.zeros((H + 1, W), dtype=np.int32)
    return raw


@pytest.mark.parametrize(
    "reason",
    [
        "depth_size_mismatch",
        "depth_all_invalid",
        "depth_unknown_encoding",
        "pose_not_finite",
        "pose_not_rigid",
        "pose_bad_shape",
        "rgb_bad_dtype",
        "rgb_bad_shape",
        "intrinsics_size_mismatch",
        "timestamp_invalid",
        "instance_size_mismatch",
    ],
)
def test_bad_frames_raise_with_their_reason(reason: str) -> None:
    with pytest.raises(BadFrameError) as info:
        validate_frame(**_case(reason))
    assert info.value.reason == reason
    assert reason in str(info.value)


def test_all_zero_depth_is_all_invalid() -> None:
    raw = _good()
    raw["depth"] = np.zeros((H, W), dtype=np.uint16)
    with pytest.raises(BadFrameError, match="depth_all_invalid"):
        validate_frame(**raw)
