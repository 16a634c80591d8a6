"""Demonstration buffers: episodes, windows, npz round trip; oracle demonstrations in the simulator."""

from __future__ import annotations

import numpy as np
import pytest
from policy_helpers import hash_embed, open_room_scene, tiny_config

from embodied_stack.policy.dataset import DemoBuffer, EpisodeRecord
from embodied_stack.policy.errors import TrainingError


def _record(text: str, n: int, start: int) -> EpisodeRecord:
    record = EpisodeRecord(text)
    for i in range(n):
        record.add(np.full((4, 6, 3), start + i, np.uint8), np.full((4, 6), 1.5, np.float32),
                   np.full(9, start + i, np.float32), (start + i) % 4, (0.5, 0.0))
    return record


def test_buffer_windows_stay_inside_one_episode_and_mask_padding() -> None:
    buffer = DemoBuffer()
    buffer.add_episode(_record("go to the sofa", 10, 0))
    buffer.add_episode(_record("find a plant", 3, 100))
    assert len(buffer) == 13 and buffer.offsets.tolist() == [0, 10, 13]
    index, mask = buffer.sample_windows(np.random.default_rng(0), batch=64, length=5)
    goal = buffer.arrays()["goal"][index, 0]
    in_first = goal < 100
    assert np.all(np.diff(goal[in_first].reshape(-1, 5), axis=1) == 1), "windows are consecutive steps"
    short = goal[~in_first].reshape(-1, 5)
    assert np.all(mask[~in_first.all(axis=1)].sum(axis=1) == 3)
    assert np.all(short[:, 3:] == 102), "padding repeats the last step"


def test_buffer_round_trip_and_extend(tmp_path) -> None:
    buffer = DemoBuffer()
    buffer.add_episode(_record("go to the sofa", 4, 0))
    other = DemoBuffer()
    other.add_episode(_record("find a plant", 2, 50))
    other.add_episode(_record("go to the sofa", 3, 70))
    buffer.extend(other)
    assert buffer.instructions == ["go to the sofa", "find a plant"]
    assert buffer.arrays()["instruction"].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0]
    loaded = DemoBuffer.load(buffer.save(tmp_path / "demos.npz"))
    assert loaded.lengths == [4, 2, 3] and loaded.instructions == buffer.instructions
    for name, array in buffer.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], array)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(TrainingError):
        DemoBuffer.load(tmp_path / "bad.npz")


def test_oracle_demonstrations_reach_the_goal_and_dagger_needs_a_policy() -> None:
    pytest.importorskip("open3d")
    from embodied_stack.policy.demos import CollectConfig, DemoCollector

    config = tiny_config()
    collector = DemoCollector([open_room_scene()], config, embed=hash_embed)
    demos, stats = collector.collect(CollectConfig(episodes_per_scene=3, noise_prob=0.2, min_distance_m=1.5),
                                     np.random.default_rng(0))
    assert stats["episodes"] == 3 and stats["success"] == 1.0
    arrays = demos.arrays()
    assert arrays["rgb"].shape[1:] == (config.image_height, config.image_width, 3)
    ends = demos.offsets[1:] - 1
    assert np.all(arrays["action"][ends] == 0), "every demonstration ends with the oracle's STOP"
    assert set(np.unique(arrays["action"][arrays["action"] != 0])) <= {1, 2, 3}
    with pytest.raises(ValueError, match="policy"):
        collector.collect(CollectConfig(episodes_per_scene=1, beta=0.5), np.random.default_rng(0))
