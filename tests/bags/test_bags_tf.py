"""TransformBuffer: interpolation, chaining, and every rejected-transform and failed-lookup case."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from bags_helpers import TURTLEBOT_MCAP, need, stamp, transform_stamped

from embodied_stack.bags.errors import (
    DisconnectedFramesError,
    ExtrapolationError,
    InvalidTransformError,
    UnknownFrameError,
)
from embodied_stack.bags.tf import (
    TransformBuffer,
    invert_transforms,
    matrix_to_quaternion,
    quaternion_to_matrix,
    slerp,
    transform_matrix,
)


def yaw_q(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def yaw_of(mat: np.ndarray) -> float:
    return math.atan2(mat[1, 0], mat[0, 0])


OPTICAL_Q = (-0.5, 0.5, -0.5, 0.5)  # camera_link -> optical: z forward, x right, y down


def chain_buffer(tolerance: float = 0.1) -> TransformBuffer:
    """map -> odom -> base_link -> camera_link -> camera_optical, plus base_link -> laser."""
    buf = TransformBuffer(tolerance)
    buf.add("map", "odom", 0.0, (1.0, 0.0, 0.0), yaw_q(0.0))
    buf.add("map", "odom", 10.0, (1.0, 1.0, 0.0), yaw_q(0.0))
    buf.add("odom", "base_link", 0.0, (0.0, 0.0, 0.0), yaw_q(0.0))
    buf.add("odom", "base_link", 2.0, (2.0, 0.0, 0.0), yaw_q(math.pi / 2))
    buf.add("odom", "base_link", 4.0, (2.0, 2.0, 0.0), yaw_q(math.pi))
    buf.add("base_link", "camera_link", 0.0, (0.1, 0.0, 0.8), yaw_q(0.0), static=True)
    buf.add("camera_link", "camera_optical", 0.0, (0.0, 0.0, 0.0), OPTICAL_Q, static=True)
    buf.add("base_link", "laser", 0.0, (0.0, 0.2, 0.3), yaw_q(math.pi), static=True)
    return buf


def test_exact_stamps_reproduce_the_samples():
    buf = chain_buffer()
    np.testing.assert_allclose(buf.lookup("odom", "base_link", 2.0), transform_matrix((2, 0, 0), yaw_q(math.pi / 2)), atol=1e-12)
    np.testing.assert_allclose(buf.lookup("odom", "base_link", 4.0), transform_matrix((2, 2, 0), yaw_q(math.pi)), atol=1e-12)


def test_linear_translation_and_slerp_rotation_between_stamps():
    buf = chain_buffer()
    mid = buf.lookup("odom", "base_link", 1.0)
    np.testing.assert_allclose(mid[:3, 3], (1.0, 0.0, 0.0), atol=1e-12)
    assert yaw_of(mid) == pytest.approx(math.pi / 4, abs=1e-12)
    quarter = buf.lookup("odom", "base_link", 0.5)
    # SLERP turns at constant rate: a quarter of the way is 22.5 deg (normalised lerp gives ~21.3)
    assert yaw_of(quarter) == pytest.approx(math.pi / 8, abs=1e-12)
    np.testing.assert_allclose(quarter[:3, 3], (0.5, 0.0, 0.0), atol=1e-12)


def test_chain_through_the_tree_matches_manual_composition():
    buf = chain_buffer()
    t = 3.0
    map_odom = transform_matrix((1.0, 0.3, 0.0), yaw_q(0.0))
    odom_base = transform_matrix((2.0, 1.0, 0.0), yaw_q(3 * math.pi / 4))
    base_cam = transform_matrix((0.1, 0.0, 0.8), yaw_q(0.0))
    cam_opt = transform_matrix((0, 0, 0), OPTICAL_Q)
    expected = map_odom @ odom_base @ base_cam @ cam_opt
    got = buf.lookup("map", "camera_optical", t)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # the optical z axis (viewing direction) is the robot's heading
    np.testing.assert_allclose(got[:3, 2], (math.cos(3 * math.pi / 4), math.sin(3 * math.pi / 4), 0.0), atol=1e-12)


def test_inverse_and_sibling_lookups():
    buf = chain_buffer()
    forward = buf.lookup("map", "camera_optical", 1.3)
    backward = buf.lookup("camera_optical", "map", 1.3)
    np.testing.assert_allclose(forward @ backward, np.eye(4), atol=1e-12)
    cam_laser = buf.lookup("camera_link", "laser", 1.3)
    expected = invert_transforms(transform_matrix((0.1, 0, 0.8), yaw_q(0))) @ transform_matrix((0, 0.2, 0.3), yaw_q(math.pi))
    np.testing.assert_allclose(cam_laser, expected, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("laser", "laser", 99.0), np.eye(4))


def test_lookup_many_equals_single_lookups():
    buf = chain_buffer()
    times = np.array([0.0, 0.7, 2.0, 3.99])
    many = buf.lookup_many("map", "camera_optical", times)
    for t, mat in zip(times, many, strict=True):
        np.testing.assert_allclose(mat, buf.lookup("map", "camera_optical", float(t)), atol=1e-12)


def test_extrapolation_within_tolerance_holds_the_end_sample_beyond_it_raises():
    buf = chain_buffer(tolerance=0.1)
    np.testing.assert_allclose(buf.lookup("odom", "base_link", 4.05), buf.lookup("odom", "base_link", 4.0))
    with pytest.raises(ExtrapolationError) as info:
        buf.lookup("map", "camera_optical", 4.5)
    text = str(info.value)
    assert "odom -> base_link" in text and "0.000000..4.000000" in text and "after the last" in text
    with pytest.raises(ExtrapolationError, match="before the first"):
        buf.lookup("odom", "base_link", -1.0)
    assert not buf.can_transform("map", "camera_optical", 4.5)
    assert buf.can_transform("map", "camera_optical", 3.5)


def test_single_dynamic_sample_is_valid_only_near_its_stamp():
    buf = TransformBuffer(0.2)
    buf.add("a", "b", 5.0, (1, 2, 3), yaw_q(0.3))
    np.testing.assert_allclose(buf.lookup("a", "b", 5.1)[:3, 3], (1, 2, 3))
    with pytest.raises(ExtrapolationError):
        buf.lookup("a", "b", 5.5)


def test_unknown_and_disconnected_frames():
    buf = chain_buffer()
    buf.add("world", "other_robot", 0.0, (0, 0, 0), yaw_q(0), static=True)
    with pytest.raises(UnknownFrameError) as info:
        buf.lookup("map", "kinect", 1.0)
    assert "'kinect'" in str(info.value) and "camera_optical" in str(info.value)
    with pytest.raises(DisconnectedFramesError) as info:
        buf.lookup("map", "other_robot", 1.0)
    assert "'world'" in str(info.value) and "'map'" in str(info.value)


def test_nan_transforms_in_a_message_are_rejected_one_by_one():
    buf = TransformBuffer()
    msg = SimpleNamespace(transforms=[
        transform_stamped("odom", "base_link", 1.0, (float("nan"), 0, 0), yaw_q(0)),
        transform_stamped("odom", "base_link", 2.0, (1, 0, 0), (0, 0, float("nan"), 1)),
        transform_stamped("odom", "base_link", 3.0, (3, 0, 0), yaw_q(0)),
    ])
    errors = buf.add_tf_message(msg)
    assert len(errors) == 2 and all(isinstance(e, InvalidTransformError) for e in errors)
    assert "finite" in errors[0].reason
    assert buf.time_range("base_link") == (3.0, 3.0)


@pytest.mark.parametrize(
    ("parent", "child", "q", "reason"),
    [
        ("odom", "base_link", (0, 0, 0, 2.0), "squared norm 4.0000"),
        ("odom", "base_link", (0, 0, 0, 0), "squared norm 0.0000"),
        ("odom", "odom", (0, 0, 0, 1), "to itself"),
        ("", "base_link", (0, 0, 0, 1), "empty frame id"),
    ],
)
def test_invalid_single_transforms(parent, child, q, reason):
    with pytest.raises(InvalidTransformError, match=reason):
        TransformBuffer().add(parent, child, 0.0, (0, 0, 0), q)


def test_slightly_denormalised_quaternion_is_normalised():
    buf = TransformBuffer()
    buf.add("a", "b", 0.0, (0, 0, 0), (0, 0, 0, 1.004))
    rot = buf.lookup("a", "b", 0.0)[:3, :3]
    np.testing.assert_allclose(rot, np.eye(3), atol=1e-12)


def test_tree_rules_reparent_cycle_and_static_dynamic_conflict():
    buf = chain_buffer()
    with pytest.raises(InvalidTransformError, match="already has parent 'odom'"):
        buf.add("map", "base_link", 1.0, (0, 0, 0), yaw_q(0))
    with pytest.raises(InvalidTransformError, match="cycle"):
        buf.add("camera_optical", "map", 1.0, (0, 0, 0), yaw_q(0))
    with pytest.raises(InvalidTransformError, match="published as static and now as dynamic"):
        buf.add("base_link", "camera_link", 1.0, (0, 0, 0), yaw_q(0))


def test_leading_slashes_and_odometry_source():
    buf = TransformBuffer()
    odom = SimpleNamespace(
        header=SimpleNamespace(stamp=stamp(2.5), frame_id="/odom"),
        child_frame_id="base_footprint",
        pose=SimpleNamespace(pose=SimpleNamespace(
            position=SimpleNamespace(x=1.0, y=-2.0, z=0.0),
            orientation=SimpleNamespace(x=0.0, y=0.0, z=math.sin(0.5), w=math.cos(0.5)),
        )),
    )
    buf.add_odometry(odom)
    mat = buf.lookup("odom", "/base_footprint", 2.5)
    np.testing.assert_allclose(mat[:3, 3], (1.0, -2.0, 0.0))
    assert yaw_of(mat) == pytest.approx(1.0)


def test_quaternion_helpers_round_trip_and_slerp_takes_the_short_way():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(20, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    mats = quaternion_to_matrix(q)
    back = np.stack([matrix_to_quaternion(m) for m in mats])
    np.testing.assert_allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-12)
    a, b = np.array([yaw_q(0.1)]), -np.array([yaw_q(0.3)])  # b is the same rotation as yaw 0.3
    mid = quaternion_to_matrix(slerp(a, b, np.array([0.5])))[0]
    assert yaw_of(mid) == pytest.approx(0.2, abs=1e-12)


def _turtlebot():
    from embodied_stack.bags.reader import BagReader, load_transforms

    with BagReader(need(TURTLEBOT_MCAP)) as bag:
        buf = load_transforms(bag, tf_topic="/tf", tf_static_topic="/tf_static")
        odom_buf = load_transforms(bag, tf_topic=None, tf_static_topic="/tf_static", odom_topic="/odom")
        samples = []
        for item in bag.messages(["/tf"]):
            for tr in item.msg.transforms:
                # map -> odom (AMCL) starts about 1 s after odom -> base_link; stay inside both
                if tr.child_frame_id == "base_link" and tr.header.stamp.sec >= 940 and len(samples) < 400:
                    samples.append(tr)
        assert bag.skips.total == 0
    return buf, odom_buf, samples


def test_turtlebot_bag_tf_tree_and_exact_samples():
    buf, odom_buf, samples = _turtlebot()
    chain = ["oakd_rgb_camera_optical_frame", "oakd_rgb_camera_frame", "oakd_link", "oakd_camera_bracket",
             "shell_link", "base_link", "odom", "map"]
    for child, parent in zip(chain, chain[1:], strict=False):
        assert buf.parent_of(child) == parent
    for tr in samples[::40]:
        t = tr.header.stamp.sec + tr.header.stamp.nanosec * 1e-9
        got = buf.lookup("odom", "base_link", t)
        p, r = tr.transform.translation, tr.transform.rotation
        np.testing.assert_allclose(got, transform_matrix((p.x, p.y, p.z), (r.x, r.y, r.z, r.w)), atol=1e-9)
        # /odom carries the same pose as /tf odom -> base_link in this recording
        np.testing.assert_allclose(odom_buf.lookup("odom", "base_link", t), got, atol=1e-9)


def test_turtlebot_camera_pose_matches_an_independent_scipy_composition():
    from scipy.spatial.transform import Rotation, Slerp

    buf, _, samples = _turtlebot()
    stamps = np.array([s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 for s in samples])
    rots = Rotation.from_quat([[s.transform.rotation.x, s.transform.rotation.y, s.transform.rotation.z,
                                s.transform.rotation.w] for s in samples])
    trans = np.array([[s.transform.translation.x, s.transform.translation.y, s.transform.translation.z]
                      for s in samples])
    times = np.linspace(stamps[1] + 0.013, stamps[-2] - 0.017, 9)
    interp = Slerp(stamps, rots)(times)
    base_optical = buf.lookup("base_link", "oakd_rgb_camera_optical_frame", 0.0)  # static part
    map_odom = buf.lookup_many("map", "odom", times)
    for k, t in enumerate(times):
        odom_base = np.eye(4)
        odom_base[:3, :3] = interp[k].as_matrix()
        odom_base[:3, 3] = [np.interp(t, stamps, trans[:, i]) for i in range(3)]
        expected = map_odom[k] @ odom_base @ base_optical
        np.testing.assert_allclose(buf.lookup("map", "oakd_rgb_camera_optical_frame", t), expected, atol=1e-9)
    # the OAK-D looks along the robot's +x, level, with image y pointing down
    np.testing.assert_allclose(base_optical[:3, 2], (1.0, 0.0, 0.0), atol=1e-6)
    np.testing.assert_allclose(base_optical[:3, 1], (0.0, 0.0, -1.0), atol=1e-6)
