"""Observation validation and the observations JSONL format."""

from __future__ import annotations

import json
import math

import pytest

from embodied_stack.memory.errors import InvalidObservationError
from embodied_stack.memory.types import (
    Observation,
    read_observations_jsonl,
    write_observations_jsonl,
)


@pytest.mark.parametrize(("changes", "field"), [
    ({"position": (math.nan, 0.0, 0.0)}, "position"),
    ({"position": (0.0, math.inf, 0.0)}, "position"),
    ({"category": "   "}, "category"),
    ({"category": ""}, "category"),
    ({"extent": (500.0, 1.0, 1.0)}, "extent"),
    ({"extent": (-0.1, 1.0, 1.0)}, "extent"),
    ({"confidence": 1.5}, "confidence"),
    ({"timestamp": -1.0}, "timestamp"),
    ({"frame_id": "odom"}, "frame_id"),
    ({"source_pose": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0)}, "source_pose"),
])
def test_bad_observations_are_rejected_naming_the_field(changes: dict, field: str) -> None:
    base = {"category": "mug", "position": (1.0, 2.0, 0.5)}
    with pytest.raises(InvalidObservationError, match=field):
        Observation(**{**base, **changes})


def test_jsonl_round_trip_and_line_numbers(tmp_path) -> None:
    observations = [Observation("mug", (1.0, 2.0, 0.5), caption="a red mug", timestamp=3.0, object_id="t1"),
                    Observation("bed", (4.0, 1.0, 0.3), extent=(2.0, 1.6, 0.6), room="bedroom_1")]
    path = tmp_path / "obs.jsonl"
    assert write_observations_jsonl(path, observations) == 2
    assert list(read_observations_jsonl(path)) == observations
    lines = path.read_text().splitlines()
    lines.insert(1, json.dumps({"category": "sofa", "position": [1, 2]}))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidObservationError, match=r"obs.jsonl:2.*position"):
        list(read_observations_jsonl(path))


def test_unknown_fields_are_errors() -> None:
    with pytest.raises(InvalidObservationError, match="posiiton"):
        Observation.from_dict({"category": "mug", "position": [0, 0, 0], "posiiton": [1, 1, 1]})
