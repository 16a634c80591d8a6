"""Fusion of repeated sightings into leaves."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.types import Observation


@pytest.fixture()
def memory(hash_embedder) -> SemanticMemory:
    return SemanticMemory(embedder=hash_embedder)


def _obs(category="mug", pos=(1.0, 1.0, 0.5), **kw) -> Observation:
    return Observation(category=category, position=pos, **{"extent": (0.1, 0.1, 0.1), **kw})


def test_repeated_sightings_merge_into_one_leaf(memory: SemanticMemory) -> None:
    report = memory.ingest([_obs(pos=(1.0, 1.0, 0.5), timestamp=10.0, confidence=1.0, caption="a red mug"),
                            _obs(pos=(1.1, 1.0, 0.5), timestamp=5.0, confidence=1.0, caption="a red mug")])
    report2 = memory.ingest([_obs(pos=(1.2, 1.0, 0.5), timestamp=20.0, confidence=0.5, caption="a red mug")])
    assert (report.new_leaves, report.merged, report2.new_leaves, report2.merged) == (1, 1, 0, 1)
    leaves = memory.leaves
    assert leaves.n == 1 and leaves.count[0] == 3
    assert (leaves.first_seen[0], leaves.last_seen[0]) == (5.0, 20.0)
    # confidence-weighted running mean: (1.0 * 1.0 + 1.0 * 1.1 + 0.5 * 1.2) / 2.5
    assert leaves.position[0, 0] == pytest.approx(1.08)
    assert memory.sightings.n == 3 and set(memory.sightings.leaf[:3].tolist()) == {0}


def test_distinct_things_stay_apart(memory: SemanticMemory) -> None:
    memory.ingest([
        _obs(pos=(1.0, 1.0, 0.5), caption="a photo frame"),
        _obs(pos=(1.45, 1.0, 0.5), caption="a photo frame"),  # small things 45 cm apart: two
        _obs(category="bowl", pos=(1.0, 1.0, 0.5)),  # another category at the same place
        _obs(pos=(5.0, 1.0, 0.5)),  # far away
    ])
    assert memory.leaves.n == 4
    memory.ingest([Observation("sofa", (3.0, 5.0, 0.4), extent=(2.2, 0.9, 0.9)),
                   Observation("sofa", (3.8, 5.0, 0.4), extent=(2.2, 0.9, 0.9))])
    assert memory.leaves.n == 5  # a big thing seen 80 cm apart is still one


def test_track_id_forces_fusion_and_blank_caption_is_upgraded(memory: SemanticMemory) -> None:
    memory.ingest([_obs(pos=(1.0, 1.0, 0.5), object_id="track_1")])
    memory.ingest([_obs(pos=(3.0, 1.0, 0.5), object_id="track_1", caption="a green mug")])
    assert memory.leaves.n == 1 and memory.leaves.count[0] == 2
    assert memory.vocab.captions[int(memory.leaves.caption[0])] == "a green mug"
    vector = memory.embedder.embed([memory.knowledge.leaf_text("mug", "a green mug")])[0]
    assert np.array_equal(memory.leaves.vectors(np.array([0]))[0], vector)
    _, ids = memory.index.search(vector, 1)
    assert ids.tolist() == [0] and memory.index.ntotal == 1


def test_bad_observations_do_not_poison_the_memory(memory: SemanticMemory) -> None:
    bypass = object.__new__(Observation)
    for name, value in {"category": "mug", "position": (float("nan"), 0.0, 0.0), "extent": (0.1, 0.1, 0.1),
                        "caption": "", "confidence": 1.0, "timestamp": 0.0, "frame_id": "map", "object_id": None,
                        "source_pose": None, "room": None, "attributes": {}}.items():
        object.__setattr__(bypass, name, value)
    report = memory.ingest([
        _obs(),
        {"category": "", "position": [0, 0, 0]},
        {"category": "sofa", "position": [0, 0, 0], "extent": [1e6, 1, 1]},
        bypass,
        "not an observation",
    ])
    assert report.accepted == 1 and [r.index for r in report.rejected] == [1, 2, 3, 4]
    assert "category" in report.rejected[0].reason and "extent" in report.rejected[1].reason
    assert "position" in report.rejected[2].reason
    assert memory.leaves.n == 1 and memory.sightings.n == 1
    assert np.all(np.isfinite(memory.leaves.position[:1]))
