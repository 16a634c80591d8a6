"""Reading real third-party bags: MCAP and sqlite3 rosbag2, ROS 1; malformed messages never crash."""

from __future__ import annotations

import numpy as np
import pytest
from bags_helpers import ALLTYPES_BAGS, ARUCO_BAG, TURTLEBOT_MCAP, need

from embodied_stack.bags.camera import intrinsics_from_camera_info, scale_intrinsics
from embodied_stack.bags.errors import (
    BagOpenError,
    MalformedMessageError,
    MissingTopicError,
    TopicTypeError,
)
from embodied_stack.bags.reader import BagReader, SkipLog
from embodied_stack.bags.rgbd import (
    RgbdConfig,
    RgbdStats,
    decode_color_message,
    decode_depth_message,
    pair_nearest,
    read_rgbd,
)

pytest.importorskip("rosbags")

IMAGE = "/test/sensor_msgs/image"
COMPRESSED = "/test/sensor_msgs/compressed_image"
INFO = "/test/sensor_msgs/camera_info"
TF = "/test/tf2_msgs/tf_message"


@pytest.mark.parametrize("path", ALLTYPES_BAGS, ids=["mcap", "sqlite3"])
def test_alltypes_bag_images_are_rejected_per_message_with_a_reason(path):
    with BagReader(need(path)) as bag:
        assert bag.topics[IMAGE] == "sensor_msgs/msg/Image"
        assert len(bag.topics) == 94
        reasons = []
        for item in bag.messages([IMAGE, COMPRESSED]):
            decode = decode_color_message if item.topic == COMPRESSED else decode_depth_message
            for fn in (decode_color_message, decode):
                with pytest.raises(MalformedMessageError) as info:
                    fn(item.msgtype, item.msg)
                reasons.append((item.topic, info.value.reason))
        assert bag.skips.total == 0
    image_reasons = {r for topic, r in reasons if topic == IMAGE}
    assert "data has 30 bytes, expected step*height = 1920*480 = 921600 for a 640x480 rgb8 image" in image_reasons
    assert any("not a depth encoding" in r for r in image_reasons)
    compressed = [r for topic, r in reasons if topic == COMPRESSED]
    assert len(compressed) == 4 and all("cannot be decoded (10 bytes)" in r for r in compressed)


@pytest.mark.parametrize("path", ALLTYPES_BAGS, ids=["mcap", "sqlite3"])
@pytest.mark.parametrize(("rgb", "depth"), [(IMAGE, COMPRESSED), (COMPRESSED, IMAGE)])
def test_alltypes_bag_through_the_rgbd_reader_skips_and_counts(path, rgb, depth):
    config = RgbdConfig(rgb, depth, INFO, frame="test_frame", tf_topic=TF, sync_tolerance_s=0.05)
    stats = RgbdStats()
    with BagReader(need(path)) as bag:
        samples = list(read_rgbd(bag, config, stats=stats))
        skips = bag.skips.as_dict()
    assert samples == []
    assert stats.rgb_messages == 2 and stats.info_messages == 2 and stats.pairs == 2
    assert skips[f"{rgb}: malformed"]["count"] == 2
    example = skips[f"{rgb}: malformed"]["example"]
    assert example.startswith(f"{rgb} @ t=")
    assert ("30 bytes" in example) if rgb == IMAGE else ("cannot be decoded" in example)


@pytest.mark.parametrize("path", ALLTYPES_BAGS, ids=["mcap", "sqlite3"])
def test_alltypes_camera_info_and_odometry_are_read(path):
    with BagReader(need(path)) as bag:
        infos = [intrinsics_from_camera_info(item.msg) for item in bag.messages([INFO])]
        odoms = [item.msg for item in bag.messages(["/test/nav_msgs/odometry"])]
    assert len(infos) == 2
    assert (infos[0].width, infos[0].height, infos[0].fx, infos[0].cx, infos[0].cy) == (640, 480, 525.0, 320.0, 240.0)
    assert len(odoms) == 2 and odoms[0].child_frame_id == "base_link"


def test_ros1_bag_real_jpeg_and_camera_info():
    with BagReader(need(ARUCO_BAG)) as bag:
        assert bag.is_ros1
        topics = bag.topics
        assert topics["/raspicam_node/image/compressed"] == "sensor_msgs/msg/CompressedImage"
        images = [decode_color_message(i.msgtype, i.msg) for i in bag.messages(["/raspicam_node/image/compressed"])]
        infos = [intrinsics_from_camera_info(i.msg) for i in bag.messages(["/raspicam_node/camera_info"])]
    assert len(images) == 1
    rgb = images[0]
    assert rgb.shape == (960, 1280, 3) and rgb.dtype == np.uint8
    assert 20 < rgb.mean() < 235 and rgb.std() > 10  # a real photograph, not a blank frame
    assert len(infos) == 15
    assert infos[0].fx == pytest.approx(1014.3, abs=0.1) and infos[0].cy == pytest.approx(469.6, abs=0.1)


def test_missing_topics_list_what_the_bag_has():
    with BagReader(need(TURTLEBOT_MCAP)) as bag:
        with pytest.raises(MissingTopicError) as info:
            list(read_rgbd(bag, RgbdConfig("/camera/color", "/camera/depth", "/camera/info")))
        with pytest.raises(TopicTypeError, match="/odom has type nav_msgs/msg/Odometry"):
            bag.require_topics({"/odom": ("sensor_msgs/msg/Image",)})
    text = str(info.value)
    assert "['/camera/color', '/camera/depth', '/camera/info']" in text
    assert "/odom (nav_msgs/msg/Odometry)" in text and "/tf_static (tf2_msgs/msg/TFMessage)" in text


def test_bag_open_errors(tmp_path):
    with pytest.raises(BagOpenError, match="no such file"):
        BagReader(tmp_path / "nope.mcap")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagOpenError, match="unrecognised suffix '.txt'"):
        BagReader(tmp_path / "notes.txt")
    (tmp_path / "garbage.mcap").write_bytes(b"\x00" * 64)
    with pytest.raises(BagOpenError, match="cannot be read as a bag"):
        BagReader(tmp_path / "garbage.mcap").open()
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagOpenError, match="without metadata.yaml and 0 storage files"):
        BagReader(tmp_path / "empty")


def test_skip_log_counts_and_keeps_the_first_reason(caplog):
    log = SkipLog(max_logged=1)
    for k in range(3):
        log.record("/cam: malformed", f"reason {k}")
    assert log.total == 3
    assert log.as_dict() == {"/cam: malformed": {"count": 3, "example": "reason 0"}}
    assert sum("reason" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1


def test_pair_nearest_respects_tolerance():
    a = np.array([0.0, 1.0, 2.0, 3.5])
    b = np.array([2.01, 0.98, 10.0])
    np.testing.assert_array_equal(pair_nearest(a, b, 0.05), [-1, 1, 0, -1])
    np.testing.assert_array_equal(pair_nearest(a, np.array([]), 1.0), [-1, -1, -1, -1])


def test_camera_info_validation_and_scaling():
    from types import SimpleNamespace

    def info(k, width=640, height=480):
        return SimpleNamespace(k=np.asarray(k, dtype=float), width=width, height=height)

    intr = intrinsics_from_camera_info(info([500, 0, 319.5, 0, 500, 239.5, 0, 0, 1]))
    half = scale_intrinsics(intr, 320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == (250.0, 250.0, 159.5, 119.5)
    with pytest.raises(MalformedMessageError, match="another aspect ratio"):
        scale_intrinsics(intr, 640, 360)
    with pytest.raises(MalformedMessageError, match="uncalibrated"):
        intrinsics_from_camera_info(info([0] * 9))
    with pytest.raises(MalformedMessageError, match="9 finite numbers"):
        intrinsics_from_camera_info(info([500, 0, np.nan, 0, 500, 240, 0, 0, 1]))
    with pytest.raises(MalformedMessageError, match="zero size"):
        intrinsics_from_camera_info(info([500, 0, 320, 0, 500, 240, 0, 0, 1], width=0))


@pytest.mark.parametrize("path", ALLTYPES_BAGS, ids=["mcap", "sqlite3"])
def test_alltypes_unknown_world_or_camera_frame_fails_once_with_known_frames(path):
    from embodied_stack.bags.errors import UnknownFrameError

    with BagReader(need(path)) as bag:
        with pytest.raises(UnknownFrameError) as info:
            list(read_rgbd(bag, RgbdConfig(IMAGE, COMPRESSED, INFO, frame="map", tf_topic=TF)))
        assert "frame 'map'" in str(info.value) and "child_frame, test_frame" in str(info.value)
        with pytest.raises(UnknownFrameError, match="--camera-frame"):
            list(read_rgbd(bag, RgbdConfig(IMAGE, COMPRESSED, INFO, frame="test_frame", tf_topic=TF,
                                           camera_frame="kinect_optical")))
