"""Perception on the embedded simulator's frames of a real scene (AWS RoboMaker small house).

Skips where the shared test data or the simulator is missing. Checks what users rely on:
objects land where the scene says they are, one track per object, captions with colour and room.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from embodied_stack.perception import PerceptionConfig, PerceptionPipeline, SemanticSensorDetector

pytest.importorskip("open3d")
SCENE = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scene_aws_small_house" / "aws_small_house.scene.json"
)


@pytest.fixture(scope="module")
def sim_and_frames():
    if not SCENE.is_file():
        pytest.skip(f"shared test data not found: {SCENE}")
    scene_mod = pytest.importorskip("embodied_stack.sim.scene")
    embedded = pytest.importorskip("embodied_stack.sim.embedded")
    from embodied_stack.types import Pose2D

    scene = scene_mod.load_scene(SCENE)
    sim = embedded.EmbeddedSim(scene, embedded.SimConfig(width=320, height=240))
    rng = np.random.default_rng(0)
    frames = []
    for i, xy in enumerate(sim.navmap.sample_navigable(rng, 20)):
        for k in range(4):
            frame = sim.render_at(Pose2D(float(xy[0]), float(xy[1]), k * math.pi / 2))
            frame.timestamp = float(4 * i + k)
            frames.append(frame)
    return scene, sim, frames


def test_semantic_sensor_tracks_land_on_their_objects(sim_and_frames) -> None:
    scene, sim, frames = sim_and_frames
    rooms = {r.id: r.category for r in scene.rooms}
    pipeline = PerceptionPipeline(PerceptionConfig(), room_names=rooms)
    emitted = []
    for frame in frames:
        emitted += pipeline.process_frame(frame, sim.instances)
    final = {o.object_id: o for o in emitted + pipeline.flush()}  # the latest per track
    confirmed = pipeline.fusion.confirmed
    assert len(confirmed) >= 20
    errors = []
    for track in confirmed:
        obj = scene.object_by_id(sim.instances[track.instance_key].object_id)
        assert track.category == obj.category
        errors.append(np.linalg.norm(track.center - np.asarray(obj.center)))
    errors = np.asarray(errors)
    assert np.median(errors) < 0.05
    assert np.mean(errors < 0.25) >= 0.9  # the rest are objects only ever seen in part
    assert len(final) == len(confirmed)
    bed = next(o for o in final.values() if o.category == "bed")
    assert bed.caption == "a white bed, bedroom"


def test_fusion_without_instance_ids_gives_one_track_per_object(sim_and_frames) -> None:
    scene, sim, frames = sim_and_frames
    sensor = SemanticSensorDetector(sim.instances)
    pipeline = PerceptionPipeline(PerceptionConfig())
    for frame in frames:
        detections = [
            dataclasses.replace(d, instance_key=None)
            for d in sensor.detect(frame.rgb, frame.depth, instance=frame.instance)
        ]
        pipeline.process(frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose, frame.timestamp,
                         detections=detections)
    pipeline.flush()
    confirmed = pipeline.fusion.confirmed
    centers = np.array([o.center for o in scene.objects])
    nearest = Counter()
    for track in confirmed:
        same = [j for j, o in enumerate(scene.objects) if o.category == track.category]
        j = same[int(np.argmin(np.linalg.norm(centers[same] - track.center, axis=1)))]
        nearest[scene.objects[j].id] += 1
    duplicates = sum(n - 1 for n in nearest.values())
    assert len(confirmed) >= 20
    assert duplicates <= 0.1 * len(confirmed)
    assert pipeline.stats.detections_kept > 3 * len(confirmed)  # many sightings, few objects
