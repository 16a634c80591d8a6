"""rosbag2 (MCAP / sqlite3) and ROS 1 bags in and out, through the PyPI package ``rosbags``.

Reading: :class:`BagReader` opens any bag; :func:`read_rgbd` yields synchronised colour + depth +
intrinsics + camera pose samples (pose from /tf + /tf_static, interpolated, or from odometry);
malformed messages are skipped with a reason. Writing: :class:`BagWriter` writes ROS 2 bags
that ``ros2 bag play`` and Foxglove open; :class:`SimRecorder` records simulator runs.
Pure-numpy pieces (:mod:`.images`, :mod:`.tf`) do not need ``rosbags``; the reader and writer
import it when a bag is opened.
"""

from embodied_stack.bags.errors import (
    BagConfigError,
    BagError,
    BagOpenError,
    BagWriteError,
    DisconnectedFramesError,
    ExtrapolationError,
    InvalidTransformError,
    MalformedMessageError,
    MissingTopicError,
    TopicTypeError,
    TransformError,
    UnknownFrameError,
)
from embodied_stack.bags.reader import BagMessage, BagReader, SkipLog, load_transforms
from embodied_stack.bags.rgbd import RgbdConfig, RgbdSample, RgbdStats, read_rgbd
from embodied_stack.bags.tf import TransformBuffer
from embodied_stack.bags.writer import BagWriter

__all__ = [
    "BagConfigError",
    "BagError",
    "BagMessage",
    "BagOpenError",
    "BagReader",
    "BagWriteError",
    "BagWriter",
    "DisconnectedFramesError",
    "ExtrapolationError",
    "InvalidTransformError",
    "MalformedMessageError",
    "MissingTopicError",
    "RgbdConfig",
    "RgbdSample",
    "RgbdStats",
    "SkipLog",
    "TopicTypeError",
    "TransformBuffer",
    "TransformError",
    "UnknownFrameError",
    "load_transforms",
    "read_rgbd",
]
