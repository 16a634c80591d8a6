"""Write ROS 2 bags that ``ros2 bag play``, ``ros2 bag info`` and Foxglove open.

The output form follows the path:

- ``run.mcap``: one bare MCAP file (what Foxglove opens; ``ros2 bag play run.mcap`` reads it
  through the mcap storage plugin, which takes the metadata from the file's summary);
- ``run.db3``: one bare sqlite3 file;
- anything else, e.g. ``run/``: a rosbag2 directory (``metadata.yaml`` + ``run.mcap``, or
  ``run.db3`` with ``storage="sqlite3"``), the layout ``ros2 bag record`` produces.

Metadata is rosbag2 format version 8 with QoS profiles in the integer form every distro from
Humble on reads; message definitions are Humble's (wire-identical to Jazzy's for the types
written here). /tf_static and the topics named in ``latched_topics`` (the memory markers) are
offered transient-local (latched), every other topic reliable + volatile. A writer that exits on an exception removes its partial output.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from embodied_stack.bags import messages as m
from embodied_stack.bags.errors import BagWriteError
from embodied_stack.bags.images import (
    CompressedFields,
    depth_to_image,
    labels_to_image,
    rgb_to_image,
)
from embodied_stack.bags.reader import rosbags_module
from embodied_stack.types import CameraIntrinsics

logger = logging.getLogger(__name__)

BAG_VERSION = 8
LATCHED_TOPICS = ("/tf_static",)
STORAGES = ("mcap", "sqlite3")


class BagWriter:
    """A ROS 2 bag open for writing (a context manager). Stamps are seconds >= 0.

    Args:
        path: output path; its suffix chooses the form (see the module docstring).
        storage: ``mcap`` or ``sqlite3`` for a directory output (ignored for a bare file).
        latched_topics: topics offered transient-local in addition to ``/tf_static``.
        compress: zstd-compress MCAP chunks (as ``ros2 bag record`` does by default; Foxglove
            and rosbag2's mcap plugin read them); sqlite3 storage is never compressed.
    """

    def __init__(self, path: str | Path, *, storage: str = "mcap", latched_topics: Sequence[str] = (),
                 compress: bool = True) -> None:
        self.path = Path(path)
        self.compress = compress
        if storage not in STORAGES:
            raise BagWriteError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
        if self.path.suffix in (".mcap", ".db3"):
            storage = "mcap" if self.path.suffix == ".mcap" else "sqlite3"
            self.bare_file = True
        else:
            self.bare_file = False
        self.storage = storage
        self.latched_topics = tuple(LATCHED_TOPICS) + tuple(latched_topics)
        self._writer: Any = None
        self._store: Any = None
        self._tmpdir: Path | None = None
        self._connections: dict[str, tuple[str, Any]] = {}
        self.message_count = 0

    def open(self) -> BagWriter:
        if self.path.exists():
            raise BagWriteError(f"{self.path} exists already; choose a new output path (nothing is overwritten)")
        rosbag2, typesys = rosbags_module("rosbag2"), rosbags_module("typesys")
        self._store = typesys.get_typestore(typesys.Stores.ROS2_HUMBLE)
        plugin = rosbag2.StoragePlugin.MCAP if self.storage == "mcap" else rosbag2.StoragePlugin.SQLITE3
        target = self.path
        if self.bare_file:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmpdir = Path(tempfile.mkdtemp(prefix=".bagwriter-", dir=self.path.parent))
            target = self._tmpdir / self.path.stem
        try:
            self._writer = rosbag2.Writer(target, version=BAG_VERSION, storage_plugin=plugin)
            if self.storage == "mcap" and self.compress:
                self._writer.set_compression(rosbag2.CompressionMode.STORAGE, rosbag2.CompressionFormat.ZSTD)
            self._writer.open()
        except (rosbag2.WriterError, OSError) as err:
            self._cleanup()
            raise BagWriteError(f"{self.path}: cannot create the bag: {err}") from err
        return self

    def close(self) -> None:
        """Finish the bag (index, metadata) and move a bare file into place."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
        except BaseException:
            self._writer = writer
            self.abort()
            raise
        if self.bare_file and self._tmpdir is not None:
            suffix = ".mcap" if self.storage == "mcap" else ".db3"
            produced = self._tmpdir / self.path.stem / f"{self.path.stem}{suffix}"
            produced.replace(self.path)
            self._cleanup()
        logger.info("wrote %d messages to %s", self.message_count, self.path)

    def abort(self) -> None:
        """Stop writing and remove the partial output."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
            if not self.bare_file:
                shutil.rmtree(self.path, ignore_errors=True)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _qos(self, topic: str) -> list[Any]:
        interfaces = rosbags_module("interfaces")
        latched = topic in self.latched_topics
        never = interfaces.QosTime(sec=0, nsec=0)
        return [
            interfaces.Qos(
                history=interfaces.QosHistory.KEEP_LAST,
                depth=1 if latched else 10,
                reliability=interfaces.QosReliability.RELIABLE,
                durability=(
                    interfaces.QosDurability.TRANSIENT_LOCAL if latched else interfaces.QosDurability.VOLATILE
                ),
                deadline=never,
                lifespan=never,
                liveliness=interfaces.QosLiveliness.AUTOMATIC,
                liveliness_lease_duration=never,
                avoid_ros_namespace_conventions=False,
            )
        ]

    def write_message(self, topic: str, msgtype: str, msg: Any, stamp_s: float) -> None:
        """Serialise ``msg`` (a ``rosbags`` message of ``msgtype``) on ``topic`` at ``stamp_s``.

        The log time is the stamp, so a replay follows the recorded (simulated) clock.
        """
        if self._writer is None:
            raise BagWriteError(f"{self.path}: the bag is not open (use 'with BagWriter(path) as bag')")
        known = self._connections.get(topic)
        if known is not None and known[0] != msgtype:
            raise BagWriteError(f"topic {topic} already carries {known[0]}, cannot also write {msgtype}")
        if known is None:
            connection = self._writer.add_connection(
                topic, msgtype, typestore=self._store, offered_qos_profiles=self._qos(topic)
            )
            known = self._connections[topic] = (msgtype, connection)
        log_time_ns = int(round(float(stamp_s) * 1e9))
        if log_time_ns < 0:
            raise BagWriteError(f"topic {topic}: stamp {stamp_s} s is negative")
        data = self._store.serialize_cdr(msg, msgtype)
        self._writer.write(known[1], log_time_ns, data)
        self.message_count += 1

    def write_rgb(self, topic: str, rgb: np.ndarray, stamp_s: float, frame_id: str) -> None:
        """``(H, W, 3) uint8`` RGB as an ``rgb8`` sensor_msgs/Image."""
        self.write_message(topic, m.IMAGE, m.image_msg(self._store, rgb_to_image(rgb), stamp_s, frame_id), stamp_s)

    def write_depth(
        self, topic: str, depth_m: np.ndarray, stamp_s: float, frame_id: str, encoding: str = "32FC1"
    ) -> None:
        """``(H, W)`` metres as a ``32FC1`` (metres) or ``16UC1`` (millimetres) sensor_msgs/Image."""
        fields = depth_to_image(depth_m, encoding)
        self.write_message(topic, m.IMAGE, m.image_msg(self._store, fields, stamp_s, frame_id), stamp_s)

    def write_labels(self, topic: str, labels: np.ndarray, stamp_s: float, frame_id: str) -> None:
        """``(H, W)`` integer ids (simulator instance ids, -1 = none) as a ``32SC1`` Image."""
        fields = labels_to_image(labels)
        self.write_message(topic, m.IMAGE, m.image_msg(self._store, fields, stamp_s, frame_id), stamp_s)

    def write_string(self, topic: str, text: str, stamp_s: float) -> None:
        """A ``std_msgs/String`` (e.g. a JSON side table such as the simulator's instance table)."""
        self.write_message(topic, m.STRING, self._store.types[m.STRING](data=text), stamp_s)

    def write_compressed(self, topic: str, fields: CompressedFields, stamp_s: float, frame_id: str) -> None:
        msg = m.compressed_image_msg(self._store, fields, stamp_s, frame_id)
        self.write_message(topic, m.COMPRESSED_IMAGE, msg, stamp_s)

    def write_camera_info(self, topic: str, intrinsics: CameraIntrinsics, stamp_s: float, frame_id: str) -> None:
        msg = m.camera_info_msg(self._store, intrinsics, stamp_s, frame_id)
        self.write_message(topic, m.CAMERA_INFO, msg, stamp_s)

    def write_transforms(
        self, transforms: Iterable[tuple[str, str, np.ndarray]], stamp_s: float, *, static: bool = False
    ) -> None:
        """``(parent, child, T_parent_child)`` triples on /tf (or /tf_static when ``static``).

        Write all static transforms in one call: /tf_static is latched with depth 1, so a
        late subscriber of a replay only gets its last message.
        """
        topic = "/tf_static" if static else "/tf"
        self.write_message(topic, m.TF_MESSAGE, m.tf_message(self._store, transforms, stamp_s), stamp_s)

    def write_odometry(
        self,
        topic: str,
        pose: np.ndarray,
        stamp_s: float,
        frame_id: str = "odom",
        child_frame_id: str = "base_link",
        linear_mps: Sequence[float] = (0.0, 0.0, 0.0),
        angular_radps: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> None:
        msg = m.odometry_msg(self._store, pose, stamp_s, frame_id, child_frame_id, linear_mps, angular_radps)
        self.write_message(topic, m.ODOMETRY, msg, stamp_s)

    def write_markers(self, topic: str, nodes: Iterable[m.MarkerNode], stamp_s: float, frame_id: str = "map") -> None:
        """Memory nodes as a MarkerArray (spheres + labels; see :func:`messages.marker_array_msg`)."""
        msg = m.marker_array_msg(self._store, nodes, stamp_s, frame_id)
        self.write_message(topic, m.MARKER_ARRAY, msg, stamp_s)

    def write_clock(self, stamp_s: float, topic: str = "/clock") -> None:
        self.write_message(topic, m.CLOCK, m.clock_msg(self._store, stamp_s), stamp_s)
