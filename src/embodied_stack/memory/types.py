"""Observations, the unit the memory ingests; defined on the ground floor
(:mod:`embodied_stack.types.observations`) and re-exported here."""

from __future__ import annotations

from embodied_stack.types.observations import (
    MAP_FRAME,
    MAX_ABS_COORD_M,
    MAX_EXTENT_M,
    MAX_TEXT_CHARS,
    OBSERVATIONS_FORMAT,
    InvalidObservationError,
    Observation,
    read_observations_jsonl,
    screen_observations,
    validate_observation,
    write_observations_jsonl,
)

__all__ = [
    "MAP_FRAME",
    "MAX_ABS_COORD_M",
    "MAX_EXTENT_M",
    "MAX_TEXT_CHARS",
    "OBSERVATIONS_FORMAT",
    "InvalidObservationError",
    "Observation",
    "read_observations_jsonl",
    "screen_observations",
    "validate_observation",
    "write_observations_jsonl",
]
