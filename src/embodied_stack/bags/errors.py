"""Errors of the rosbag2 subpackage.

A bag as a whole can fail to open (:class:`BagOpenError`) or lack a topic
(:class:`MissingTopicError`); single messages inside a readable bag can be malformed
(:class:`MalformedMessageError`), and those are skipped and counted, never fatal.
Transform lookups fail with :class:`TransformError` subclasses naming the frames and times.
"""

from __future__ import annotations

from collections.abc import Iterable

from embodied_stack.errors import EmbodiedStackError


class BagError(EmbodiedStackError):
    """Base class of the errors of ``embodied_stack.bags``."""


class BagConfigError(BagError, ValueError):
    """A reading or recording setting is out of range; the message quotes the setting and value."""


class BagOpenError(BagError):
    """The path is not a bag this package can read (or it is damaged)."""


class BagWriteError(BagError):
    """A bag cannot be written (the output exists, a value cannot be serialised, ...)."""


class MissingTopicError(BagError):
    """A requested topic is not in the bag; the message lists the topics that are."""

    def __init__(self, path: str, missing: Iterable[str], available: dict[str, str]) -> None:
        self.missing = sorted(missing)
        self.available = dict(available)
        listing = ", ".join(f"{name} ({msgtype})" for name, msgtype in sorted(available.items()))
        super().__init__(
            f"{path}: topic(s) {self.missing} not in the bag; it has: {listing or 'no topics'}"
        )


class MalformedMessageError(BagError, ValueError):
    """One message cannot be used; ``reason`` says why, in words a user can act on.

    Args:
        reason: What is wrong and what was expected (``"data has 30 bytes, expected ..."``).
        topic: The topic it came from, when known.
        timestamp_ns: Its stamp in nanoseconds, when known.
    """

    def __init__(
        self, reason: str, *, topic: str | None = None, timestamp_ns: int | None = None
    ) -> None:
        self.reason = reason
        self.topic = topic
        self.timestamp_ns = timestamp_ns
        where = []
        if topic:
            where.append(topic)
        if timestamp_ns is not None:
            where.append(f"t={timestamp_ns / 1e9:.9f} s")
        super().__init__(f"{' @ '.join(where)}: {reason}" if where else reason)

    def at(self, topic: str, timestamp_ns: int) -> MalformedMessageError:
        """The same error with the topic and stamp it came from (the type is kept)."""
        return type(self)(self.reason, topic=topic, timestamp_ns=timestamp_ns)


class InvalidTransformError(MalformedMessageError):
    """A transform is unusable: NaN, a non-unit quaternion, an empty or self-referencing frame."""


class TransformError(BagError):
    """A transform lookup failed."""


class UnknownFrameError(TransformError):
    """A frame was never published on /tf, /tf_static or the odometry topic."""


class DisconnectedFramesError(TransformError):
    """Both frames are known but lie in different trees (no common ancestor)."""


class ExtrapolationError(TransformError):
    """The requested time is outside the published stamps by more than the tolerance."""


class TopicTypeError(BagError):
    """A topic exists but carries a message type the caller cannot use."""
