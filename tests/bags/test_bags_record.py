"""Recording the embedded simulator and reading it back: frames, poses and perception round-trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embodied_stack.bags.reader import BagReader, load_transforms
from embodied_stack.bags.record import (
    EpisodeRun,
    RecordConfig,
    SimRecorder,
    instance_table_from_json,
    pose2d_matrix,
)
from embodied_stack.bags.rgbd import RgbdConfig, RgbdStats, read_rgbd
from embodied_stack.bags.writer import BagWriter
from embodied_stack.types import Action, Pose2D

pytest.importorskip("rosbags")


class ScriptedAgent:
    """Turns left, moves forward twice, turns right, then stops (an Agent without planning)."""

    def __init__(self) -> None:
        self.plan: list[Action] = []

    def reset(self, instruction: str, goal_xy: np.ndarray) -> None:
        self.plan = [Action.TURN_LEFT, Action.MOVE_FORWARD, Action.MOVE_FORWARD, Action.TURN_RIGHT, Action.STOP]

    def act(self, inp) -> Action:
        return self.plan.pop(0)


@pytest.fixture(scope="module")
def sim():
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig
    from embodied_stack.sim.generate import generate_scene

    return EmbeddedSim(generate_scene(3, kind="home", rooms=4), SimConfig(width=64, height=48))


@pytest.fixture(scope="module")
def recording(sim, tmp_path_factory):
    """Two scripted episodes recorded to an MCAP file, with the frames the simulator rendered."""
    path = tmp_path_factory.mktemp("rec") / "run.mcap"
    rendered = []

    def keep(frame, t):
        rendered.append((t, frame))
        return None

    starts = [sim.navmap.sample_navigable(np.random.default_rng(k), 1)[0] for k in range(2)]
    runs = [EpisodeRun(f"e{k}", Pose2D(float(xy[0]), float(xy[1]), 0.3 * k), xy + 1.0, "go") for k, xy in enumerate(starts)]
    with BagWriter(path) as writer:
        recorder = SimRecorder(writer, sim, RecordConfig(step_period_s=0.5), on_frame=keep)
        summaries = [recorder.record_episode(run, ScriptedAgent()) for run in runs]
    return path, rendered, summaries, recorder.stats


def test_recording_holds_ros_topics_and_every_frame(recording):
    path, rendered, summaries, stats = recording
    assert [s["steps"] for s in summaries] == [4, 4] and all(s["stopped"] for s in summaries)
    assert stats.frames == len(rendered) == 10
    with BagReader(path) as bag:
        topics = bag.topics
        counts = {}
        for item in bag.messages(list(topics)):
            counts[item.topic] = counts.get(item.topic, 0) + 1
    assert topics["/camera/color/image_raw"] == "sensor_msgs/msg/Image"
    assert topics["/odom"] == "nav_msgs/msg/Odometry" and topics["/tf"] == "tf2_msgs/msg/TFMessage"
    assert topics["/clock"] == "rosgraph_msgs/msg/Clock" and topics["/sim/instances"] == "std_msgs/msg/String"
    for topic in ("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw", "/camera/color/camera_info",
                  "/camera/instance/image_raw", "/odom", "/tf", "/clock"):
        assert counts[topic] == 10, topic
    assert counts["/tf_static"] == 1 and counts["/sim/instances"] == 1


def test_read_back_is_pixel_exact_with_equal_poses(recording, sim):
    path, rendered, _, _ = recording
    stats = RgbdStats()
    with BagReader(path) as bag:
        config = RgbdConfig("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw",
                            "/camera/color/camera_info", instance_topic="/camera/instance/image_raw")
        samples = list(read_rgbd(bag, config, stats=stats))
        buffer = load_transforms(bag)
        table, categories = instance_table_from_json(next(bag.messages(["/sim/instances"])).msg.data)
        assert bag.skips.total == 0
    assert len(samples) == len(rendered)
    for (t, frame), sample in zip(rendered, samples, strict=True):
        assert sample.timestamp_s == pytest.approx(t, abs=1e-9)
        np.testing.assert_array_equal(sample.rgb, frame.rgb)
        np.testing.assert_array_equal(sample.depth, frame.depth)
        np.testing.assert_array_equal(sample.instance, frame.instance)
        assert sample.intrinsics == frame.intrinsics
        np.testing.assert_allclose(sample.camera_pose, frame.camera_pose, atol=1e-9)
        np.testing.assert_allclose(buffer.lookup("map", "base_link", t), pose2d_matrix(frame.agent_pose), atol=1e-9)
    assert table == sim.instances and categories == sim.categories
    # between two recorded frames the pose is interpolated: half way through the first left turn
    t0, f0 = rendered[0]
    t1, f1 = rendered[1]
    mid = buffer.lookup("odom", "base_link", 0.5 * (t0 + t1))
    yaw = math.atan2(mid[1, 0], mid[0, 0])
    expected = f0.agent_pose.yaw + 0.5 * ((f1.agent_pose.yaw - f0.agent_pose.yaw + math.pi) % (2 * math.pi) - math.pi)
    assert yaw == pytest.approx(math.atan2(math.sin(expected), math.cos(expected)), abs=1e-9)


def test_perception_on_the_bag_equals_perception_on_the_simulator(recording, sim):
    from embodied_stack.bags.build import build_from_bag, make_detector
    from embodied_stack.perception import PerceptionPipeline, SemanticSensorDetector

    path, rendered, _, _ = recording
    # the bag's clock runs on across episodes (the simulator's restarts at each reset)
    direct = PerceptionPipeline(detector=SemanticSensorDetector(sim.instances, sim.categories))
    expected = []
    for t, frame in rendered:
        expected.extend(direct.process(frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose, t,
                                       instance=frame.instance))
    expected.extend(direct.flush())
    got: list = []
    with BagReader(path) as bag:
        detector = make_detector("semantic", bag, instance_table_topic="/sim/instances", vocabulary=None)
        config = RgbdConfig("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw",
                            "/camera/color/camera_info", instance_topic="/camera/instance/image_raw")
        from_bag = PerceptionPipeline(detector=detector)
        result = build_from_bag(bag, config, from_bag, got.extend, batch_size=3)
    assert result.rgbd.samples == len(rendered) and result.observations == len(got)
    assert len(expected) > 0
    # each pipeline numbers its tracks under its own random prefix (ids never repeat across pipelines)
    def numbered(observations: list, pipeline: PerceptionPipeline) -> list:
        prefix = pipeline.fusion.id_prefix
        assert all(o.object_id.startswith(prefix) for o in observations)
        return [(o.category, o.object_id[len(prefix):], o.timestamp) for o in observations]

    assert numbered(got, from_bag) == numbered(expected, direct)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a.position, b.position, atol=1e-6)
        np.testing.assert_allclose(a.extent, b.extent, atol=1e-6)


def test_odometry_source_gives_the_same_camera_poses(recording):
    """Pose from /odom + /tf_static (base_link -> camera mount) instead of /tf."""
    path, rendered, _, _ = recording
    with BagReader(path) as bag:
        config = RgbdConfig("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw",
                            "/camera/color/camera_info", frame="odom", odom_topic="/odom")
        samples = list(read_rgbd(bag, config))
    assert len(samples) == len(rendered)
    for (_, frame), sample in zip(rendered, samples, strict=True):
        assert sample.frame == "odom"
        np.testing.assert_allclose(sample.camera_pose, frame.camera_pose, atol=1e-9)


def test_a_camera_moving_on_its_mount_is_refused(sim, tmp_path):
    from dataclasses import replace

    from embodied_stack.bags.errors import BagError

    frame = sim.reset(Pose2D(*sim.navmap.sample_navigable(np.random.default_rng(9), 1)[0], 0.0))
    tilt = math.radians(10.0)  # the camera pitches 10 degrees on its mount
    rot_x = np.array([[1, 0, 0, 0], [0, math.cos(tilt), -math.sin(tilt), 0],
                      [0, math.sin(tilt), math.cos(tilt), 0], [0, 0, 0, 1]])
    lifted = frame.camera_pose @ rot_x
    with pytest.raises(BagError, match="camera moved relative to base_link"), BagWriter(tmp_path / "x.mcap") as w:
        recorder = SimRecorder(w, sim, RecordConfig(camera_height_m=sim.config.camera_height_m))
        recorder.write_frame(frame)
        recorder.write_frame(replace(frame, camera_pose=lifted, agent_pose=frame.agent_pose))
    assert not (tmp_path / "x.mcap").exists()
