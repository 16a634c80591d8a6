"""Writer round trip: synthetic frames written, read back pixel-exact, transforms equal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from embodied_stack.bags.errors import BagWriteError
from embodied_stack.bags.images import encode_compressed_rgb
from embodied_stack.bags.messages import SimpleMarkerNode
from embodied_stack.bags.reader import BagReader, load_transforms
from embodied_stack.bags.rgbd import RgbdConfig, RgbdStats, read_rgbd
from embodied_stack.bags.tf import transform_matrix
from embodied_stack.bags.writer import BagWriter
from embodied_stack.types import CameraIntrinsics

pytest.importorskip("rosbags")

INTR = CameraIntrinsics.from_hfov(40, 30, math.radians(79.0))
T_BASE_LINK = transform_matrix((0.1, 0.0, 0.9), (0.0, 0.0, 0.0, 1.0))
T_LINK_OPTICAL = transform_matrix((0.0, 0.0, 0.0), (-0.5, 0.5, -0.5, 0.5))


def base_pose(k: int) -> np.ndarray:
    yaw = 0.3 * k
    return transform_matrix((0.5 * k, 0.1 * k, 0.0), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))


def write_synthetic(path, n: int = 4, depth_encoding: str = "32FC1", **kwargs):
    """n frames at t = 1.0 + 0.5 k; tf written at the frame stamps; returns the frames written."""
    rng = np.random.default_rng(11)
    frames = []
    with BagWriter(path, **kwargs) as bag:
        bag.write_transforms([("map", "odom", np.eye(4)), ("camera_link", "camera_optical", T_LINK_OPTICAL)], 1.0,
                             static=True)
        for k in range(n):
            t = 1.0 + 0.5 * k
            rgb = rng.integers(0, 256, (INTR.height, INTR.width, 3), dtype=np.uint8)
            depth = rng.uniform(0.3, 8.0, (INTR.height, INTR.width)).astype(np.float32)
            depth[0, :5] = 0.0
            bag.write_clock(t)
            bag.write_transforms([("odom", "base_link", base_pose(k)), ("base_link", "camera_link", T_BASE_LINK)], t)
            bag.write_odometry("/odom", base_pose(k), t, linear_mps=(0.5, 0.0, 0.0), angular_radps=(0.0, 0.0, 0.6))
            bag.write_rgb("/cam/color", rgb, t, "camera_optical")
            bag.write_depth("/cam/depth", depth, t, "camera_optical", depth_encoding)
            bag.write_camera_info("/cam/info", INTR, t, "camera_optical")
            frames.append((t, rgb, depth))
        bag.write_markers("/memory/markers", [SimpleMarkerNode("leaf_1", 0, "white fridge", (1.0, 2.0, 0.9)),
                                              SimpleMarkerNode("zone_1", 1, "kitchen corner", (1.5, 2.0, 0.5))],
                          frames[-1][0])
    return frames


@pytest.mark.parametrize("name", ["run.mcap", "run.db3", "run_dir"])
def test_round_trip_pixel_exact_and_poses_equal(tmp_path, name):
    path = tmp_path / name
    frames = write_synthetic(path)
    assert path.is_file() == (name != "run_dir")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bagwriter")]  # temp dir cleaned
    stats = RgbdStats()
    with BagReader(path) as bag:
        samples = list(read_rgbd(bag, RgbdConfig("/cam/color", "/cam/depth", "/cam/info"), stats=stats))
        assert bag.skips.total == 0
    assert stats.samples == len(frames) == len(samples)
    expected_optical = T_BASE_LINK @ T_LINK_OPTICAL
    for k, ((t, rgb, depth), sample) in enumerate(zip(frames, samples, strict=True)):
        assert sample.timestamp_s == pytest.approx(t, abs=1e-9)
        np.testing.assert_array_equal(sample.rgb, rgb)
        np.testing.assert_array_equal(sample.depth, depth)
        assert sample.intrinsics == INTR
        assert sample.camera_frame == "camera_optical" and sample.frame == "map"
        np.testing.assert_allclose(sample.camera_pose, base_pose(k) @ expected_optical, atol=1e-9)


def test_directory_output_has_metadata_for_ros2_bag(tmp_path):
    path = tmp_path / "run"
    write_synthetic(path, n=2, storage="sqlite3")
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "sqlite3" and meta["version"] == 8
    assert meta["relative_file_paths"] == ["run.db3"]
    topics = {t["topic_metadata"]["name"]: t for t in meta["topics_with_message_count"]}
    assert topics["/cam/color"]["message_count"] == 2
    assert "durability: 1" in topics["/tf_static"]["topic_metadata"]["offered_qos_profiles"]  # transient local
    assert "durability: 2" in topics["/cam/color"]["topic_metadata"]["offered_qos_profiles"]  # volatile


def test_16uc1_depth_round_trip_is_millimetre_exact(tmp_path):
    frames = write_synthetic(tmp_path / "mm.mcap", n=2, depth_encoding="16UC1")
    with BagReader(tmp_path / "mm.mcap") as bag:
        samples = list(read_rgbd(bag, RgbdConfig("/cam/color", "/cam/depth", "/cam/info")))
    for (_, _, depth), sample in zip(frames, samples, strict=True):
        np.testing.assert_allclose(sample.depth, np.rint(depth * 1000) / 1000, atol=1e-6)


def test_transforms_odometry_markers_and_clock_read_back(tmp_path):
    path = tmp_path / "run.mcap"
    frames = write_synthetic(path, n=3)
    with BagReader(path) as bag:
        buffer = load_transforms(bag)
        odom_buffer = load_transforms(bag, tf_topic=None, odom_topic="/odom")
        odoms = [i.msg for i in bag.messages(["/odom"])]
        markers = [i.msg for i in bag.messages(["/memory/markers"])]
        clocks = [i.msg.clock for i in bag.messages(["/clock"])]
        assert set(bag.topics) == {"/tf_static", "/clock", "/tf", "/odom", "/cam/color", "/cam/depth", "/cam/info",
                                   "/memory/markers"}
    for k, (t, _, _) in enumerate(frames):
        np.testing.assert_allclose(buffer.lookup("map", "base_link", t), base_pose(k), atol=1e-12)
        np.testing.assert_allclose(odom_buffer.lookup("odom", "base_link", t), base_pose(k), atol=1e-12)
    np.testing.assert_allclose(buffer.lookup("camera_link", "camera_optical", 0.0), T_LINK_OPTICAL, atol=1e-12)
    assert odoms[1].twist.twist.linear.x == 0.5 and odoms[1].twist.twist.angular.z == 0.6
    assert odoms[1].header.frame_id == "odom" and odoms[1].child_frame_id == "base_link"
    assert [c.sec + c.nanosec * 1e-9 for c in clocks] == [1.0, 1.5, 2.0]
    (array,) = markers
    kinds = [(m.ns, m.id, m.type, m.action) for m in array.markers]
    assert kinds[0][3] == 3  # DELETEALL first
    assert kinds[1:] == [("memory/level_0", 0, 2, 0), ("memory/level_0", 1, 9, 0),
                         ("memory/level_1", 2, 2, 0), ("memory/level_1", 3, 9, 0)]
    assert array.markers[2].text == "white fridge"
    assert (array.markers[1].pose.position.x, array.markers[1].pose.position.y) == (1.0, 2.0)
    assert array.markers[3].scale.x > array.markers[1].scale.x  # clusters drawn larger than leaves


def test_compressed_rgb_and_interpolated_pose_between_tf_stamps(tmp_path):
    path = tmp_path / "c.mcap"
    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    with BagWriter(path) as bag:
        bag.write_transforms([("map", "cam", transform_matrix((0, 0, 0), (0, 0, 0, 1)))], 1.0)
        bag.write_transforms([("map", "cam", transform_matrix((2, 0, 0), (0, 0, 0, 1)))], 2.0)
        bag.write_compressed("/c", encode_compressed_rgb(rgb, "png"), 1.25, "cam")
        bag.write_depth("/d", np.ones((30, 40)), 1.25, "cam")
        bag.write_camera_info("/i", INTR, 1.0, "cam")
    with BagReader(path) as bag:
        (sample,) = read_rgbd(bag, RgbdConfig("/c", "/d", "/i"))
    np.testing.assert_array_equal(sample.rgb, rgb)
    np.testing.assert_allclose(sample.camera_pose[:3, 3], (0.5, 0.0, 0.0), atol=1e-12)
    assert sample.intrinsics.width == 40


def test_writer_refuses_to_overwrite_and_cleans_up_after_an_error(tmp_path):
    (tmp_path / "taken.mcap").write_bytes(b"x")
    with pytest.raises(BagWriteError, match="exists already"):
        BagWriter(tmp_path / "taken.mcap").open()
    with pytest.raises(ValueError, match="uint8 RGB"), BagWriter(tmp_path / "broken") as bag:
        bag.write_clock(1.0)
        bag.write_rgb("/c", np.zeros((4, 4)), 1.0, "cam")
    assert not (tmp_path / "broken").exists()
    with pytest.raises(BagWriteError, match="already carries"), BagWriter(tmp_path / "t.mcap") as bag:
        bag.write_clock(1.0, topic="/x")
        bag.write_depth("/x", np.ones((2, 2)), 1.0, "cam")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mcap"]
    with pytest.raises(BagWriteError, match="unknown storage"):
        BagWriter(tmp_path / "d", storage="rosbag1")
