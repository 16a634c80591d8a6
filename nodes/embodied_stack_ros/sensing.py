"""The sensing node's logic without ROS: pair images by stamp, build the detector and captioner
from their parameter specs, and decode one frame's messages.

Cameras publish colour, depth and (in simulation) instance images, or a robot's detector its
Detection2DArray, on separate topics with the same or nearly the same stamps;
:class:`FrameAssembler` keeps the last few of each and hands out the newest complete set,
dropping everything older (the node processes at most
``max_rate_hz`` frames per second, so most frames are skipped on purpose).
:class:`RobotMap` is the robot's own floor plan from those frames (depth and the tf pose
estimate) and, every ``rooms_period_s``, its rooms typed from the confirmed tracks, written to a
file the memory node reads (the same code as ``eval memory``: no scene-file knowledge).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.perception import BlipCaptioner, Captioner, Detector, TemplateCaptioner
from embodied_stack.perception.errors import BackendError
from embodied_stack_ros import conversions
from embodied_stack_ros.errors import ParameterError

KINDS = ("color", "depth")
EXTRA_KINDS = ("instance", "detections")


@dataclass
class FrameMessages:
    """One frame's messages: colour, depth, (or None) instance image and (or None) detections,
    and the colour stamp."""

    stamp_s: float
    color: Any
    depth: Any
    instance: Any | None = None
    detections: Any | None = None


class FrameAssembler:
    """Pairs each colour image with the depth (and instance) image nearest in time.

    Args:
        tolerance_s: largest stamp difference within one frame.
        need_instance: whether an instance image is part of a frame.
        keep: images kept per stream while waiting for partners.
        need_detections: whether a detection array (vision_msgs) is part of a frame.
    """

    def __init__(self, tolerance_s: float, need_instance: bool, keep: int = 10, *,
                 need_detections: bool = False) -> None:
        self.tolerance_s = tolerance_s
        self.kinds = KINDS + tuple(k for k, need in zip(EXTRA_KINDS, (need_instance, need_detections),
                                                        strict=True) if need)
        self._queues: dict[str, collections.deque[tuple[float, Any]]] = {
            kind: collections.deque(maxlen=keep) for kind in self.kinds
        }

    def add(self, kind: str, stamp_s: float, msg: Any) -> None:
        if kind in self._queues:
            self._queues[kind].append((stamp_s, msg))

    def pop(self) -> FrameMessages | None:
        """The newest complete frame, or None; it and everything older are removed."""
        for stamp, color in sorted(self._queues["color"], key=lambda item: item[0], reverse=True):
            partners: dict[str, tuple[float, Any]] = {}
            for kind in self.kinds[1:]:
                match = self._nearest(kind, stamp)
                if match is None:
                    break
                partners[kind] = match
            else:
                self._drop_through("color", stamp)
                for kind, (partner_stamp, _msg) in partners.items():
                    self._drop_through(kind, partner_stamp)
                extra = {kind: partners[kind][1] for kind in EXTRA_KINDS if kind in partners}
                return FrameMessages(stamp, color, partners["depth"][1], **extra)
        return None

    def _drop_through(self, kind: str, stamp: float) -> None:
        queue = self._queues[kind]
        self._queues[kind] = collections.deque((item for item in queue if item[0] > stamp), maxlen=queue.maxlen)

    def _nearest(self, kind: str, stamp: float) -> tuple[float, Any] | None:
        best = min(self._queues[kind], key=lambda item: abs(item[0] - stamp), default=None)
        return best if best is not None and abs(best[0] - stamp) <= self.tolerance_s else None


def decode_frame(frame: FrameMessages) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(rgb, depth metres, instance ids or None)``; MalformedMessageError says what is wrong."""
    rgb = conversions.rgb_from_ros(frame.color)
    depth = conversions.depth_from_ros(frame.depth)
    instance = conversions.instance_image_from_ros(frame.instance) if frame.instance is not None else None
    return rgb, depth, instance


def needs_instances(spec: str) -> bool:
    """Whether a ``detector`` spec reads the simulator's instance image and table: ``sim``,
    ``sim:PRESET`` (the simulated detector with realistic errors) and ``semantic`` (the oracle)."""
    return spec == "semantic" or spec == "sim" or spec.startswith("sim:")


def make_detector(spec: str, vocabulary: list[str]) -> Detector | None:
    """The detector a ``detector`` parameter names; None for 'sim[:PRESET]' and 'semantic' (they
    need the simulator's instance table, which arrives on a topic:
    :func:`embodied_stack.perception.simulator_detector` builds them then) and 'vision_msgs'
    (the detections arrive on a topic with each frame)."""
    if needs_instances(spec) or spec == "vision_msgs":
        return None
    from embodied_stack.perception.owlv2 import Owlv2Detector

    try:
        return Owlv2Detector(spec.split(":", 1)[1], vocabulary)
    except BackendError as err:
        raise ParameterError(f"sensing: parameter 'detector' is {spec!r}: {err}") from err


def make_captioner(spec: str) -> Captioner:
    """The captioner a ``captioner`` parameter names ('template' or 'blip:DIR')."""
    if spec == "template":
        return TemplateCaptioner()
    try:
        return BlipCaptioner(spec.split(":", 1)[1])
    except BackendError as err:
        raise ParameterError(f"sensing: parameter 'captioner' is {spec!r}: {err}") from err


class RobotMap:
    """The robot's floor plan from its depth frames and pose estimate, and the rooms in it.

    Args:
        camera_height_m: the camera's height above the floor (splits floor, furniture, walls).
        robot_radius_m: the robot's radius (navigable cells keep this clearance).
        embed: the text embedder that types rooms from their objects (None: votes only).
        resolution_m, size_m: the grid (centred on the first frame's camera position).
    """

    def __init__(self, camera_height_m: float, robot_radius_m: float,
                 embed: Callable[[list[str]], np.ndarray] | None = None, *, resolution_m: float = 0.05,
                 size_m: float = 60.0) -> None:
        self.camera_height_m = float(camera_height_m)
        self.robot_radius_m = float(robot_radius_m)
        self.embed = embed
        self.resolution_m = float(resolution_m)
        self.size_m = float(size_m)
        self.mapper: Any = None
        self._typer: Any = None
        self._written: tuple[int, int] | None = None

    def integrate(self, depth_m: np.ndarray, intrinsics: Any, T_map_camera: np.ndarray) -> None:
        """Add one depth frame seen from ``T_map_camera`` (the tf pose estimate at its stamp)."""
        from embodied_stack.perception.mapping import FloorPlanMapper

        if self.mapper is None:
            self.mapper = FloorPlanMapper(T_map_camera[:2, 3], size_m=self.size_m, resolution_m=self.resolution_m,
                                          camera_height_m=self.camera_height_m)
        self.mapper.integrate(depth_m, intrinsics, T_map_camera)

    def rooms(self, tracks: Sequence[Any]) -> tuple[Any, dict[str, Any]] | None:
        """(RoomMap, report) from the map so far and the confirmed ``tracks``; None before any
        floor was seen."""
        from embodied_stack.memory.errors import SpatialContextError
        from embodied_stack.memory.robot_rooms import build_room_map, room_objects
        from embodied_stack.memory.room_types import RoomTyper

        if self.mapper is None:
            return None
        space, walls, free = self.mapper.grids()
        if not free.any():
            return None
        if self._typer is None:
            self._typer = RoomTyper(self.embed)
        try:
            return build_room_map(space, walls, free, self.mapper.resolution_m, self.mapper.origin_xy,
                                  room_objects(tracks), robot_radius_m=self.robot_radius_m, typer=self._typer)
        except SpatialContextError:
            return None  # nothing navigable yet

    def write_rooms(self, tracks: Sequence[Any], path: str | Path) -> dict[str, Any] | None:
        """Segment and type the rooms and write them to ``path`` (a RoomMap ``.npz``, replaced
        atomically so the memory node never reads half a file); the report, or None (also when
        neither the map nor the tracks changed since the last write)."""
        state = (self.mapper.frames if self.mapper is not None else 0, len(tracks))
        if state == self._written:
            return None
        built = self.rooms(tracks)
        if built is None:
            return None
        room_map, info = built
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial.npz")
        room_map.save(partial)
        os.replace(partial, target)
        self._written = state
        return info
