"""Open any bag through ``rosbags`` and iterate its messages, skipping malformed ones.

Accepted paths: a rosbag2 directory (``metadata.yaml`` with MCAP or sqlite3 storage), a bare
``.mcap`` or ``.db3`` file, a directory holding exactly one of those without
``metadata.yaml``, or a ROS 1 ``.bag`` file. Messages that do not deserialise are counted in a
:class:`SkipLog` with their reason and never stop the iteration.
"""

from __future__ import annotations

import importlib
import logging
import struct
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, NamedTuple

from embodied_stack._deps import require
from embodied_stack.bags.errors import (
    BagOpenError,
    MalformedMessageError,
    MissingTopicError,
    TopicTypeError,
)
from embodied_stack.bags.tf import TransformBuffer

logger = logging.getLogger(__name__)

TF_TYPES = ("tf2_msgs/msg/TFMessage", "tf/msg/tfMessage")  # the second: old ROS 1 tf
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"
STORAGE_SUFFIXES = (".mcap", ".db3")


class BagMessage(NamedTuple):
    """One deserialised message: its topic, type, log time (ns) and the message object."""

    topic: str
    msgtype: str
    log_time_ns: int
    msg: Any


@dataclass
class SkipLog:
    """What was skipped and why, counted by category (``"<topic>: <kind>"``).

    The first ``max_logged`` of each category are logged as warnings with their full reason,
    the rest at debug level, so a long bag with a systematic fault does not flood the log.
    """

    max_logged: int = 3
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, category: str, err: Exception | str) -> None:
        self.counts[category] += 1
        text = str(err)
        self.examples.setdefault(category, text)
        level = logging.WARNING if self.counts[category] <= self.max_logged else logging.DEBUG
        logger.log(level, "skipped (%s): %s", category, text)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """``{category: {"count": n, "example": first reason}}`` for JSON reports."""
        return {k: {"count": n, "example": self.examples[k]} for k, n in sorted(self.counts.items())}


def rosbags_module(name: str) -> ModuleType:
    """Import ``rosbags.<name>``; when rosbags is missing the error names the pip extra."""
    require("rosbags")
    return importlib.import_module(f"rosbags.{name}")


def stamp_ns(stamp: Any) -> int:
    """A ``builtin_interfaces/Time`` as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def resolve_bag_path(path: str | Path) -> Path:
    """The path ``rosbags`` should open for ``path`` (see the module docstring).

    Raises:
        BagOpenError: the path does not exist or holds no recognisable bag.
    """
    path = Path(path)
    expected = (
        "expected a rosbag2 directory with metadata.yaml, a .mcap or .db3 file, "
        "or a ROS 1 .bag file"
    )
    if not path.exists():
        raise BagOpenError(f"{path}: no such file or directory; {expected}")
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return path
        files = sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
        if len(files) == 1:
            logger.info("%s has no metadata.yaml; reading %s directly", path, files[0].name)
            return files[0]
        raise BagOpenError(f"{path}: directory without metadata.yaml and {len(files)} storage files; {expected}")
    if path.suffix in STORAGE_SUFFIXES + (".bag",):
        return path
    raise BagOpenError(f"{path}: unrecognised suffix {path.suffix!r}; {expected}")


class BagReader:
    """A bag opened for reading (a context manager).

    Attributes:
        path: the path as given. ``topics``: topic -> message type (ROS 2 names, e.g.
        ``sensor_msgs/msg/Image``, also for ROS 1 bags). ``skips``: messages that could not
        be deserialised.
    """

    def __init__(self, path: str | Path, *, skips: SkipLog | None = None) -> None:
        self.path = Path(path)
        self.skips = skips if skips is not None else SkipLog()
        self._resolved = resolve_bag_path(self.path)
        self.is_ros1 = self._resolved.suffix == ".bag"
        self._reader: Any = None
        self._errors: tuple[type[BaseException], ...] = ()

    def open(self) -> BagReader:
        highlevel, typesys = rosbags_module("highlevel"), rosbags_module("typesys")
        rosbag1, rosbag2 = rosbags_module("rosbag1"), rosbags_module("rosbag2")
        store = typesys.Stores.ROS1_NOETIC if self.is_ros1 else typesys.Stores.ROS2_HUMBLE
        self._errors = (
            highlevel.AnyReaderError,
            rosbag1.ReaderError,
            rosbag2.ReaderError,
            typesys.TypesysError,
            OSError,
            KeyError,
            ValueError,
            struct.error,
        )
        try:
            reader = highlevel.AnyReader([self._resolved], default_typestore=typesys.get_typestore(store))
            reader.open()
            _register_missing(reader.typestore, typesys)
        except self._errors as err:
            raise BagOpenError(f"{self.path}: cannot be read as a bag: {err}") from err
        self._reader = reader
        return self

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagReader:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def _open_reader(self) -> Any:
        if self._reader is None:
            raise BagOpenError(f"{self.path}: the bag is not open (use 'with BagReader(path) as bag')")
        return self._reader

    @property
    def topics(self) -> dict[str, str]:
        return {c.topic: c.msgtype for c in self._open_reader.connections}

    @property
    def start_ns(self) -> int:
        return int(self._open_reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self._open_reader.end_time)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def message_count(self) -> int:
        return int(self._open_reader.message_count)

    def require_topics(self, wanted: Mapping[str, Collection[str]]) -> None:
        """Check that each topic exists with one of the allowed types.

        Raises:
            MissingTopicError: listing every missing topic and the topics the bag has.
            TopicTypeError: a topic has a type outside its allowed set.
        """
        topics = self.topics
        missing = [t for t in wanted if t not in topics]
        if missing:
            raise MissingTopicError(str(self.path), missing, topics)
        for topic, allowed in wanted.items():
            if topics[topic] not in allowed:
                raise TopicTypeError(
                    f"{self.path}: topic {topic} has type {topics[topic]}, expected one of "
                    f"{', '.join(sorted(allowed))}"
                )

    def messages(self, topics: Collection[str], *, record_skips: bool = True) -> Iterator[BagMessage]:
        """Deserialised messages of ``topics`` in log-time order.

        Messages that do not deserialise are skipped (and counted in ``skips`` unless
        ``record_skips`` is False: a second pass over the same topics should not count twice).
        """
        reader = self._open_reader
        connections = [c for c in reader.connections if c.topic in set(topics)]
        if not connections:
            return
        for connection, log_time_ns, raw in reader.messages(connections=connections):
            try:
                msg = reader.deserialize(raw, connection.msgtype)
            except self._errors + (IndexError, TypeError) as err:
                reason = MalformedMessageError(
                    f"cannot deserialise {connection.msgtype} ({len(raw)} bytes): {err}",
                    topic=connection.topic,
                    timestamp_ns=log_time_ns,
                )
                if record_skips:
                    self.skips.record(f"{connection.topic}: undeserialisable", reason)
                continue
            yield BagMessage(connection.topic, connection.msgtype, log_time_ns, msg)


def _register_missing(typestore: Any, typesys: Any) -> None:
    """Add our interface types the bag does not define itself (older sqlite3 bags carry none)."""
    from embodied_stack.bags.messages import INTERFACE_DEFINITIONS

    types: dict[str, Any] = {}
    for name, text in INTERFACE_DEFINITIONS.items():
        if name not in typestore.types:
            types.update(typesys.get_types_from_msg(text, name))
    if types:
        typestore.register(types)


def load_transforms(
    bag: BagReader,
    *,
    tf_topic: str | None = "/tf",
    tf_static_topic: str | None = "/tf_static",
    odom_topic: str | None = None,
    extrapolation_tolerance_s: float = 0.1,
    on_message: Callable[[BagMessage], None] | None = None,
    extra_topics: Collection[str] = (),
) -> TransformBuffer:
    """Read the transform tree of a bag into a :class:`TransformBuffer`.

    Uses ``tf_topic`` and ``tf_static_topic`` when the bag has them, and ``odom_topic``
    (``nav_msgs/Odometry``, as ``header.frame_id -> child_frame_id``) when given. Rejected
    transforms are counted in ``bag.skips``. Messages of ``extra_topics`` read in the same
    pass are handed to ``on_message`` (the RGB-D reader uses this to index image stamps).

    Raises:
        MissingTopicError: ``odom_topic`` is given but absent, or no transform source exists.
        TopicTypeError: a transform topic has the wrong type.
    """
    topics = bag.topics
    wanted: dict[str, Collection[str]] = {}
    for topic in (tf_topic, tf_static_topic):
        if topic and topic in topics:
            wanted[topic] = TF_TYPES
    if odom_topic:
        wanted[odom_topic] = (ODOMETRY_TYPE,)
    if not wanted:
        sources = [t for t in (tf_topic, tf_static_topic) if t]
        raise MissingTopicError(str(bag.path), sources, topics)
    bag.require_topics(wanted)
    buffer = TransformBuffer(extrapolation_tolerance_s)
    for item in bag.messages(set(wanted) | set(extra_topics)):
        if item.topic in (tf_topic, tf_static_topic) and item.topic in wanted:
            for err in buffer.add_tf_message(item.msg, static=item.topic == tf_static_topic):
                bag.skips.record(f"{item.topic}: invalid transform", err.at(item.topic, item.log_time_ns))
        elif item.topic == odom_topic:
            try:
                buffer.add_odometry(item.msg)
            except MalformedMessageError as err:
                bag.skips.record(f"{item.topic}: invalid odometry", err.at(item.topic, item.log_time_ns))
        if item.topic in extra_topics and on_message is not None:
            on_message(item)
    return buffer
