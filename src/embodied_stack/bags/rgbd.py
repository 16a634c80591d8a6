"""Synchronised RGB-D + intrinsics + camera pose samples from a bag.

Two passes over the bag: the first reads the transform tree (/tf + /tf_static, or an odometry
topic + /tf_static), the CameraInfo messages and the header stamps of the colour and depth
images; each colour image is paired with the depth image of nearest stamp (within
``sync_tolerance_s``). The second pass decodes only the paired images, looks up the camera
pose at the colour stamp (interpolated) and yields :class:`RgbdSample`. Malformed images,
unpaired frames and failed pose lookups are skipped with their reason in ``bag.skips``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from embodied_stack.bags.camera import intrinsics_from_camera_info, scale_intrinsics
from embodied_stack.bags.errors import (
    BagConfigError,
    BagError,
    DisconnectedFramesError,
    MalformedMessageError,
    TransformError,
    UnknownFrameError,
)
from embodied_stack.bags.images import (
    decode_compressed_depth,
    decode_compressed_rgb,
    decode_depth,
    decode_labels,
    decode_rgb,
)
from embodied_stack.bags.reader import BagMessage, BagReader, load_transforms, stamp_ns
from embodied_stack.bags.tf import TransformBuffer
from embodied_stack.types import CameraIntrinsics

logger = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)


@dataclass(frozen=True)
class RgbdConfig:
    """Which topics to read and how to pair them.

    ``frame`` is the world frame the camera poses are expressed in (``map`` with a localised
    robot; the odometry frame, e.g. ``odom``, with ``odom_topic``). ``camera_frame`` overrides
    the colour image's ``header.frame_id``; it must be the camera's optical frame (REP-103:
    z forward, x right, y down). ``min_interval_s`` thins the stream (0 = every pair).
    ``instance_topic`` (optional) is a ``32SC1`` instance-id image paired like depth (recorded
    simulator runs carry one, for the semantic-sensor backend).
    """

    rgb_topic: str
    depth_topic: str
    info_topic: str
    instance_topic: str | None = None
    frame: str = "map"
    odom_topic: str | None = None
    camera_frame: str | None = None
    tf_topic: str = "/tf"
    tf_static_topic: str = "/tf_static"
    sync_tolerance_s: float = 0.05
    tf_tolerance_s: float = 0.1
    min_interval_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rgb_topic", "depth_topic", "info_topic", "frame"):
            if not str(getattr(self, name)).strip():
                raise BagConfigError(f"{name} must be non-empty, got {getattr(self, name)!r}")
        topics = [self.rgb_topic, self.depth_topic, self.info_topic] + ([self.instance_topic] if self.instance_topic else [])
        if len(set(topics)) != len(topics):
            raise BagConfigError(f"the rgb, depth, info and instance topics must differ, got {topics}")
        for name in ("sync_tolerance_s", "tf_tolerance_s", "min_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise BagConfigError(f"{name} must be finite and >= 0, got {value!r}")


@dataclass
class RgbdSample:
    """One synchronised reading, in the conventions of :class:`embodied_stack.sim.env.Frame`.

    ``rgb`` (H, W, 3) uint8; ``depth`` (H, W) float32 metres (0 = no reading);
    ``camera_pose`` 4x4 ``T_frame_camera`` of the optical frame at ``timestamp_s`` (the colour
    image's header stamp, seconds); ``instance`` (H, W) int32 ids when an instance topic is read.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    camera_pose: np.ndarray
    timestamp_s: float
    camera_frame: str
    frame: str
    instance: np.ndarray | None = None


@dataclass
class RgbdStats:
    """Counts of one read: messages seen, pairs found, samples yielded, pairs thinned out."""

    rgb_messages: int = 0
    depth_messages: int = 0
    info_messages: int = 0
    pairs: int = 0
    samples: int = 0
    thinned: int = 0


def decode_color_message(msgtype: str, msg: Any) -> np.ndarray:
    """An Image or CompressedImage as (H, W, 3) uint8 RGB (raises MalformedMessageError)."""
    return decode_compressed_rgb(msg) if msgtype == COMPRESSED_TYPE else decode_rgb(msg)


def decode_depth_message(msgtype: str, msg: Any) -> np.ndarray:
    """An Image or CompressedImage as (H, W) float32 metres (raises MalformedMessageError)."""
    return decode_compressed_depth(msg) if msgtype == COMPRESSED_TYPE else decode_depth(msg)


def _header_stamp_s(item: BagMessage) -> float:
    ns = stamp_ns(item.msg.header.stamp)
    return (ns if ns > 0 else item.log_time_ns) / 1e9


class _Index:
    """First-pass record of image stamps (in topic order) and valid CameraInfo messages."""

    def __init__(self, bag: BagReader, config: RgbdConfig, stats: RgbdStats) -> None:
        self.bag, self.config, self.stats = bag, config, stats
        self.stamps: dict[str, list[float]] = defaultdict(list)
        self.frames: Counter[str] = Counter()
        self.info_stamps: list[float] = []
        self.infos: list[CameraIntrinsics] = []
        self._info_sorted: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, item: BagMessage) -> None:
        if item.topic == self.config.info_topic:
            self.stats.info_messages += 1
            try:
                self.infos.append(intrinsics_from_camera_info(item.msg))
            except MalformedMessageError as err:
                self.bag.skips.record(f"{item.topic}: malformed", err.at(item.topic, item.log_time_ns))
                return
            self.info_stamps.append(_header_stamp_s(item))
            return
        self.stamps[item.topic].append(_header_stamp_s(item))
        if item.topic == self.config.rgb_topic:
            self.frames[str(item.msg.header.frame_id).lstrip("/")] += 1

    def nearest_info(self, t_s: float) -> CameraIntrinsics:
        """The valid CameraInfo of nearest stamp (CameraInfo may be published rarely or latched)."""
        if self._info_sorted is None or self._info_sorted[0].size != len(self.info_stamps):
            stamps = np.asarray(self.info_stamps, dtype=np.float64)
            order = np.argsort(stamps, kind="stable")
            self._info_sorted = (stamps[order], order)
        sorted_s, order = self._info_sorted
        upper = min(int(np.searchsorted(sorted_s, t_s)), sorted_s.size - 1)
        lower = max(upper - 1, 0)
        pick = lower if abs(sorted_s[lower] - t_s) <= abs(sorted_s[upper] - t_s) else upper
        return self.infos[int(order[pick])]


def pair_nearest(a_s: np.ndarray, b_s: np.ndarray, tolerance_s: float) -> np.ndarray:
    """For each stamp in ``a_s``, the index into ``b_s`` of the nearest stamp, -1 beyond tolerance."""
    a_s, b_s = np.asarray(a_s, dtype=np.float64), np.asarray(b_s, dtype=np.float64)
    if b_s.size == 0:
        return np.full(a_s.size, -1, dtype=np.intp)
    order = np.argsort(b_s, kind="stable")
    sorted_b = b_s[order]
    upper = np.clip(np.searchsorted(sorted_b, a_s), 0, sorted_b.size - 1)
    lower = np.clip(upper - 1, 0, sorted_b.size - 1)
    pick = np.where(np.abs(sorted_b[lower] - a_s) <= np.abs(sorted_b[upper] - a_s), lower, upper)
    nearest = order[pick]
    return np.where(np.abs(b_s[nearest] - a_s) <= tolerance_s, nearest, -1)


def _check_frames(buffer: TransformBuffer, config: RgbdConfig, index: _Index) -> None:
    """Fail once, before decoding, when the world or camera frame cannot be reached at all."""
    known = buffer.frames
    camera_frames = [config.camera_frame] if config.camera_frame else list(index.frames)
    for name in [config.frame, *camera_frames]:
        if name not in known:
            hint = "" if name == config.frame else " (pass the camera's optical frame with --camera-frame)"
            raise UnknownFrameError(
                f"frame {name!r} is not in the bag's transform tree{hint}; known frames: "
                f"{', '.join(sorted(known)) or 'none'}"
            )
        if buffer.root_of(name) != buffer.root_of(config.frame):
            raise DisconnectedFramesError(
                f"camera frame {name!r} (tree root {buffer.root_of(name)!r}) is not connected to "
                f"{config.frame!r} (tree root {buffer.root_of(config.frame)!r})"
            )


def require_rgbd_topics(bag: BagReader, config: RgbdConfig) -> list[str]:
    """Check the image and CameraInfo topics exist with usable types; returns the partner topics.

    Raises:
        MissingTopicError, TopicTypeError.
    """
    partners = [config.depth_topic] + ([config.instance_topic] if config.instance_topic else [])
    wanted: dict[str, tuple[str, ...]] = {config.rgb_topic: IMAGE_TYPES, config.info_topic: (CAMERA_INFO_TYPE,)}
    wanted.update({topic: IMAGE_TYPES if topic == config.depth_topic else (IMAGE_TYPE,) for topic in partners})
    bag.require_topics(wanted)
    return partners


def read_rgbd(
    bag: BagReader,
    config: RgbdConfig,
    *,
    progress: Callable[[float], None] | None = None,
    stats: RgbdStats | None = None,
) -> Iterator[RgbdSample]:
    """Yield synchronised samples from an open bag (see the module docstring).

    Args:
        progress: called with the bag time (seconds since its start) of each message in the
            second pass, for a progress bar.
        stats: filled with the counts of this read.

    Raises:
        MissingTopicError, TopicTypeError: a topic is absent or has an unusable type.
        UnknownFrameError, DisconnectedFramesError: the world or camera frame is unreachable.
        BagError: no usable CameraInfo message.
    """
    stats = stats if stats is not None else RgbdStats()
    partners = require_rgbd_topics(bag, config)
    index = _Index(bag, config, stats)
    buffer = load_transforms(
        bag,
        tf_topic=None if config.odom_topic else config.tf_topic,
        tf_static_topic=config.tf_static_topic,
        odom_topic=config.odom_topic,
        extrapolation_tolerance_s=config.tf_tolerance_s,
        on_message=index.add,
        extra_topics=(config.rgb_topic, config.info_topic, *partners),
    )
    if not index.infos:
        raise BagError(
            f"{bag.path}: no usable CameraInfo on {config.info_topic} "
            f"({stats.info_messages} messages, all skipped)"
        )
    _check_frames(buffer, config, index)
    rgb_stamps = np.asarray(index.stamps[config.rgb_topic])
    stats.rgb_messages, stats.depth_messages = rgb_stamps.size, len(index.stamps[config.depth_topic])
    pairs = {
        topic: pair_nearest(rgb_stamps, np.asarray(index.stamps[topic]), config.sync_tolerance_s)
        for topic in partners
    }
    complete = np.all(np.stack([pairs[t] >= 0 for t in partners]), axis=0)
    stats.pairs = int(np.count_nonzero(complete))
    for topic in partners:
        for unpaired in np.flatnonzero(pairs[topic] < 0).tolist():
            bag.skips.record(
                f"{config.rgb_topic}: no {topic}",
                f"no {topic} image within {config.sync_tolerance_s} s of t={rgb_stamps[unpaired]:.6f} s",
            )
    join = _Join(pairs, complete)
    last_emitted = -math.inf
    start_ns = bag.start_ns
    for item in bag.messages((config.rgb_topic, *partners), record_skips=False):
        if progress is not None:
            progress((item.log_time_ns - start_ns) / 1e9)
        for i, rgb, found in join.add(item, is_rgb=item.topic == config.rgb_topic):
            stamp = float(rgb_stamps[i])
            if stamp - last_emitted < config.min_interval_s:
                stats.thinned += 1
                continue
            sample = _make_sample(bag, buffer, config, index, stamp, rgb, found)
            if sample is not None:
                last_emitted = stamp
                stats.samples += 1
                yield sample


class _Join:
    """Streaming join of colour images with their paired partner images (depth, instance).

    ``pairs[topic][i]`` is the index (in topic order) of colour image ``i``'s partner on
    ``topic``. Messages are held only until every member of their pairs has arrived.
    """

    def __init__(self, pairs: dict[str, np.ndarray], complete: np.ndarray) -> None:
        self.pairs, self.complete = pairs, complete
        self.ordinal: Counter[str] = Counter()
        self.refs: Counter[tuple[str, int]] = Counter(
            (topic, int(j)) for topic, idx in pairs.items() for j in idx[complete]
        )
        self.store: dict[tuple[str, int], BagMessage] = {}
        self.pending: dict[int, BagMessage] = {}
        self.waiting: dict[tuple[str, int], list[int]] = defaultdict(list)

    def add(self, item: BagMessage, *, is_rgb: bool) -> Iterator[tuple[int, BagMessage, dict[str, BagMessage]]]:
        k = self.ordinal[item.topic]
        self.ordinal[item.topic] += 1
        if is_rgb:
            if k >= self.complete.size or not self.complete[k]:
                return
            self.pending[k] = item
            missing = [key for key in self._keys(k) if key not in self.store]
            for key in missing:
                self.waiting[key].append(k)
            if not missing:
                yield self._release(k)
            return
        key = (item.topic, k)
        if self.refs[key] <= 0:
            return
        self.store[key] = item
        for i in self.waiting.pop(key, []):
            if i in self.pending and all(other in self.store for other in self._keys(i)):
                yield self._release(i)

    def _keys(self, i: int) -> list[tuple[str, int]]:
        return [(topic, int(idx[i])) for topic, idx in self.pairs.items()]

    def _release(self, i: int) -> tuple[int, BagMessage, dict[str, BagMessage]]:
        rgb = self.pending.pop(i)
        found = {}
        for key in self._keys(i):
            found[key[0]] = self.store[key]
            self.refs[key] -= 1
            if self.refs[key] <= 0:
                del self.store[key]
        return i, rgb, found


def _make_sample(
    bag: BagReader,
    buffer: TransformBuffer,
    config: RgbdConfig,
    index: _Index,
    stamp_s: float,
    rgb: BagMessage,
    found: dict[str, BagMessage],
) -> RgbdSample | None:
    """Decode one colour image and its partners, look up the pose; None (reason in ``bag.skips``) on failure."""
    depth = found[config.depth_topic]
    try:
        color = decode_color_message(rgb.msgtype, rgb.msg)
    except MalformedMessageError as err:
        bag.skips.record(f"{rgb.topic}: malformed", err.at(rgb.topic, rgb.log_time_ns))
        return None
    try:
        depth_m = decode_depth_message(depth.msgtype, depth.msg)
    except MalformedMessageError as err:
        bag.skips.record(f"{depth.topic}: malformed", err.at(depth.topic, depth.log_time_ns))
        return None
    instance = None
    if config.instance_topic:
        labels = found[config.instance_topic]
        try:
            instance = decode_labels(labels.msg)
        except MalformedMessageError as err:
            bag.skips.record(f"{labels.topic}: malformed", err.at(labels.topic, labels.log_time_ns))
            return None
    height, width = color.shape[:2]
    for name, image in ((config.depth_topic, depth_m), (config.instance_topic, instance)):
        if image is not None and image.shape != (height, width):
            bag.skips.record(
                f"{name}: size mismatch",
                f"{name} is {image.shape[1]}x{image.shape[0]} but colour is {width}x{height} at "
                f"t={stamp_s:.6f} s; an image registered to the colour camera is needed",
            )
            return None
    try:
        intrinsics = scale_intrinsics(index.nearest_info(stamp_s), width, height)
    except MalformedMessageError as err:
        bag.skips.record(f"{config.info_topic}: size mismatch", err.at(rgb.topic, rgb.log_time_ns))
        return None
    camera_frame = config.camera_frame or str(rgb.msg.header.frame_id).lstrip("/")
    try:
        pose = buffer.lookup(config.frame, camera_frame, stamp_s)
    except TransformError as err:
        bag.skips.record(f"{rgb.topic}: no transform", err)
        return None
    return RgbdSample(color, depth_m, intrinsics, pose, stamp_s, camera_frame, config.frame, instance)
