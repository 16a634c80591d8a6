"""Observations: one sighting of one object, the unit the memory ingests.

JSONL format (``embodied-stack.observations/1``, one JSON object per line; see
docs/formats.md)::

    {"category": "fridge", "caption": "a white fridge, kitchen",
     "position": [3.6, 3.1, 0.9], "extent": [0.7, 0.7, 1.8], "confidence": 0.9,
     "timestamp": 12.5, "frame_id": "map", "object_id": "track_12",
     "source_pose": [1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0], "room": "kitchen_1"}

``position`` is the object's centre and ``extent`` its full axis-aligned size, both metres in
the ``frame_id`` frame (only ``map`` is accepted by the memory). ``timestamp`` is seconds (ROS
time as float). ``source_pose`` (optional) is the camera pose when the object was seen:
x, y, z, qx, qy, qz, qw (quaternion in xyzw order, as ROS messages). ``object_id`` (optional)
is a track id from perception fusion. ``room`` (optional) is a room id when known.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.errors import FormatError


class InvalidObservationError(FormatError):
    """An observation is malformed: NaN position, empty category, absurd extent, ..."""


OBSERVATIONS_FORMAT = "embodied-stack.observations/1"
MAP_FRAME = "map"
MAX_EXTENT_M = 50.0
MAX_ABS_COORD_M = 1.0e5
MAX_TEXT_CHARS = 1000


@dataclass(frozen=True)
class Observation:
    """One sighting of an object, in the ``map`` frame (metres, z up)."""

    category: str
    position: tuple[float, float, float]
    extent: tuple[float, float, float] = (0.1, 0.1, 0.1)
    caption: str = ""
    confidence: float = 1.0
    timestamp: float = 0.0
    frame_id: str = MAP_FRAME
    object_id: str | None = None
    source_pose: tuple[float, float, float, float, float, float, float] | None = None
    room: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_observation(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["position"] = list(self.position)
        data["extent"] = list(self.extent)
        if self.source_pose is not None:
            data["source_pose"] = list(self.source_pose)
        return {k: v for k, v in data.items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "observation") -> Observation:
        """Build from a JSON object; raises :class:`InvalidObservationError` naming the field."""
        if not isinstance(data, dict):
            raise InvalidObservationError(f"expected a JSON object, got {type(data).__name__}", path=where)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise InvalidObservationError(
                f"unknown field(s) {sorted(unknown)}; expected some of {sorted(known)}", path=where
            )
        for required in ("category", "position"):
            if required not in data:
                raise InvalidObservationError("is required", path=where, field=required)
        kwargs: dict[str, Any] = dict(data)
        for name, length in (("position", 3), ("extent", 3), ("source_pose", 7)):
            if name in kwargs and kwargs[name] is not None:
                kwargs[name] = _float_tuple(kwargs[name], length, where, name)
        for name in ("confidence", "timestamp"):
            if name in kwargs:
                kwargs[name] = _float(kwargs[name], where, name)
        for name in ("category", "caption", "frame_id", "object_id", "room"):
            if name in kwargs and kwargs[name] is not None and not isinstance(kwargs[name], str):
                raise InvalidObservationError(
                    f"expected a string, got {kwargs[name]!r}", path=where, field=name
                )
        if "attributes" in kwargs and not isinstance(kwargs["attributes"], dict):
            raise InvalidObservationError("expected an object of strings", path=where, field="attributes")
        try:
            return cls(**kwargs)
        except InvalidObservationError as err:
            raise InvalidObservationError(str(err), path=where) from err


def _float(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidObservationError(f"expected a number, got {value!r}", path=where, field=name)
    return float(value)


def _float_tuple(value: Any, length: int, where: str, name: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise InvalidObservationError(
            f"expected a list of {length} numbers, got {value!r}", path=where, field=name
        )
    return tuple(_float(v, where, name) for v in value)


def validate_observation(obs: Observation) -> None:
    """Reject observations that would poison the memory, with a message naming the field."""
    category = obs.category.strip() if isinstance(obs.category, str) else ""
    if not category:
        raise InvalidObservationError("must be a non-empty string", field="category")
    if len(obs.category) > MAX_TEXT_CHARS or len(obs.caption) > MAX_TEXT_CHARS:
        raise InvalidObservationError(f"text longer than {MAX_TEXT_CHARS} characters", field="caption")
    if obs.frame_id != MAP_FRAME:
        raise InvalidObservationError(
            f"unknown frame {obs.frame_id!r}; the memory stores observations in '{MAP_FRAME}' "
            "(transform them first)",
            field="frame_id",
        )
    if len(obs.position) != 3 or not all(math.isfinite(v) for v in obs.position):
        raise InvalidObservationError(f"expected 3 finite numbers, got {obs.position!r}", field="position")
    if any(abs(v) > MAX_ABS_COORD_M for v in obs.position):
        raise InvalidObservationError(
            f"{obs.position!r} is more than {MAX_ABS_COORD_M:g} m from the origin", field="position"
        )
    if len(obs.extent) != 3 or not all(math.isfinite(v) and 0.0 <= v <= MAX_EXTENT_M for v in obs.extent):
        raise InvalidObservationError(
            f"expected 3 sizes in [0, {MAX_EXTENT_M:g}] m, got {obs.extent!r}", field="extent"
        )
    if not (math.isfinite(obs.confidence) and 0.0 <= obs.confidence <= 1.0):
        raise InvalidObservationError(f"expected a value in [0, 1], got {obs.confidence!r}", field="confidence")
    if not math.isfinite(obs.timestamp) or obs.timestamp < 0.0:
        raise InvalidObservationError(
            f"expected finite seconds >= 0, got {obs.timestamp!r}", field="timestamp"
        )
    if obs.source_pose is not None:
        pose = obs.source_pose
        if len(pose) != 7 or not all(math.isfinite(v) for v in pose):
            raise InvalidObservationError(
                "expected 7 finite numbers x, y, z, qx, qy, qz, qw", field="source_pose"
            )
        norm = math.sqrt(sum(v * v for v in pose[3:]))
        if not 0.9 < norm < 1.1:
            raise InvalidObservationError(
                f"quaternion (xyzw) has norm {norm:.3f}, expected a unit quaternion", field="source_pose"
            )


def screen_observations(observations: list[Observation]) -> np.ndarray:
    """Which observations pass :func:`validate_observation`, checked for a whole batch at once.

    ``Observation`` validates itself on construction, so this only catches objects built around
    it (``object.__new__``); it is the cheap, vectorised guard ingest runs on every batch.
    Returns a bool mask; call :func:`validate_observation` on a False row for the reason.
    """
    count = len(observations)
    try:
        position = np.array([o.position for o in observations], dtype=np.float64).reshape(count, 3)
        extent = np.array([o.extent for o in observations], dtype=np.float64).reshape(count, 3)
        numbers = np.array([(o.confidence, o.timestamp) for o in observations], dtype=np.float64).reshape(count, 2)
        poses = [o.source_pose for o in observations]
        given = np.array([p is not None for p in poses], dtype=bool)
        pose = np.array([p if p is not None else (0.0,) * 6 + (1.0,) for p in poses], dtype=np.float64)
        pose = pose.reshape(count, 7)
    except (TypeError, ValueError):
        return np.array([_passes(o) for o in observations], dtype=bool)
    texts = np.array([isinstance(o.category, str) and bool(o.category.strip()) and len(o.category) <= MAX_TEXT_CHARS
                      and isinstance(o.caption, str) and len(o.caption) <= MAX_TEXT_CHARS and o.frame_id == MAP_FRAME
                      for o in observations], dtype=bool)
    with np.errstate(invalid="ignore"):
        norm = np.linalg.norm(pose[:, 3:], axis=1)
        return (texts & np.all(np.isfinite(position) & (np.abs(position) <= MAX_ABS_COORD_M), axis=1)
                & np.all(np.isfinite(extent) & (extent >= 0.0) & (extent <= MAX_EXTENT_M), axis=1)
                & np.isfinite(numbers[:, 0]) & (numbers[:, 0] >= 0.0) & (numbers[:, 0] <= 1.0)
                & np.isfinite(numbers[:, 1]) & (numbers[:, 1] >= 0.0)
                & (~given | (np.all(np.isfinite(pose), axis=1) & (norm > 0.9) & (norm < 1.1))))


def _passes(obs: Observation) -> bool:
    try:
        validate_observation(obs)
    except (InvalidObservationError, TypeError, ValueError):
        return False
    return True


def read_observations_jsonl(path: str | Path, *, bad: list[dict[str, str]] | None = None) -> Iterator[Observation]:
    """Yield observations from a JSONL file.

    A bad line raises :class:`InvalidObservationError` with its file and line number; with
    ``bad`` given, it is recorded there instead (``{"where", "reason"}``) and skipped.
    """
    path = Path(path)
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError as err:
        raise InvalidObservationError(f"cannot open: {err.strerror}", path=str(path)) from err
    with handle:
        lineno = 0
        while True:
            lineno += 1
            where = f"{path}:{lineno}"
            try:
                line = handle.readline()
            except UnicodeDecodeError as err:
                raise InvalidObservationError("not UTF-8 text", path=where) from err
            if not line:
                return
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as err:
                    raise InvalidObservationError(f"not valid JSON ({err.msg})", path=where) from err
                observation = Observation.from_dict(data, where=where)
            except InvalidObservationError as err:
                if bad is None:
                    raise
                bad.append({"where": where, "reason": str(err).removeprefix(f"{where}: ")})
                continue
            yield observation


def write_observations_jsonl(path: str | Path, observations: Iterable[Observation]) -> int:
    """Write observations as JSONL; returns how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for obs in observations:
            handle.write(json.dumps(obs.to_dict(), separators=(",", ":")) + "\n")
            count += 1
    return count
