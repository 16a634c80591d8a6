"""Build a memory from a robot's recording: bag -> RGB-D samples -> perception -> memory.

The detector backend is chosen by a spec string:

- ``semantic``: the simulator's ground-truth segmentation, from a recorded simulator run
  (instance images on ``instance_topic`` and the instance table on ``instance_table_topic``,
  as ``embodied-stack sim record`` writes them);
- ``owlv2:DIR``: the OWLv2 open-vocabulary detector from a local model directory, prompted with
  a vocabulary (a file, or the memory's commonsense categories by default).

Observations are handed to the memory in batches; the perception pipeline's tracks are flushed
at the end so the last sightings are not lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embodied_stack.bags.errors import BagError, MissingTopicError
from embodied_stack.bags.messages import INSTANCE_INFO_ARRAY
from embodied_stack.bags.reader import BagReader
from embodied_stack.bags.record import instance_table_from_json
from embodied_stack.bags.rgbd import RgbdConfig, RgbdStats, read_rgbd
from embodied_stack.types import InstanceInfo
from embodied_stack.types.observations import Observation

logger = logging.getLogger(__name__)

BACKENDS = ("semantic", "owlv2:DIR")
STRING_TYPE = "std_msgs/msg/String"


@dataclass
class BuildResult:
    """What a build did: samples read, observations produced and ingested, what was skipped."""

    rgbd: RgbdStats
    observations: int = 0
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)
    perception: dict[str, Any] = field(default_factory=dict)
    bag_duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.rgbd.samples,
            "rgb_messages": self.rgbd.rgb_messages,
            "pairs": self.rgbd.pairs,
            "thinned": self.rgbd.thinned,
            "observations": self.observations,
            "skipped": self.skipped,
            "perception": self.perception,
            "bag_duration_s": round(self.bag_duration_s, 6),
        }


INSTANCE_TABLE_TOPICS = ("/sim/instances", "/camera/instances")
"""Where the instance table is looked for when no topic is given: ``sim record``'s JSON table,
then the ROS simulator bridge's latched ``InstanceInfoArray`` (a bag recorded from sim.launch.py)."""


def read_instance_table(bag: BagReader, topic: str | None = None) -> tuple[dict[int, Any], list[str]]:
    """The simulator's instance table recorded on ``topic`` (the last message wins).

    Reads either form: a ``std_msgs/String`` with the ``embodied-stack.instances/1`` JSON
    (``embodied-stack sim record``) or an ``embodied_stack_interfaces/InstanceInfoArray`` (the
    ROS simulator bridge). ``topic`` None: the first of :data:`INSTANCE_TABLE_TOPICS` in the bag.

    Raises:
        MissingTopicError: the topic is absent (the bag is not a recorded simulator run).
        BagError: the table is malformed.
    """
    if topic is None:
        topic = next((t for t in INSTANCE_TABLE_TOPICS if t in bag.topics), INSTANCE_TABLE_TOPICS[0])
    bag.require_topics({topic: (STRING_TYPE, INSTANCE_INFO_ARRAY)})
    last = None
    for item in bag.messages([topic]):
        last = item.msg
    if last is None:
        raise BagError(f"{bag.path}: topic {topic} holds no readable message")
    if bag.topics[topic] == STRING_TYPE:
        return instance_table_from_json(str(last.data), where=f"{bag.path}:{topic}")
    instances = {
        int(i.instance_id): InstanceInfo(int(i.instance_id), str(i.object_id), str(i.category), str(i.room) or None)
        for i in last.instances
    }
    return instances, sorted({info.category for info in instances.values()})


def load_vocabulary(path: str | Path | None) -> list[str]:
    """Detector vocabulary: a JSON list or one category per line; default the memory's categories."""
    if path is None:
        from embodied_stack.memory.knowledge import Knowledge

        return sorted(Knowledge.load().categories)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise BagError(f"{path}: cannot read the vocabulary ({err.strerror})") from err
    if text.lstrip().startswith("["):
        try:
            words = json.loads(text)
        except json.JSONDecodeError as err:
            raise BagError(f"{path}: not a JSON list of categories ({err.msg})") from err
    else:
        words = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        raise BagError(f"{path}: expected a non-empty list of category names")
    return words


def make_detector(spec: str, bag: BagReader, *, instance_table_topic: str | None, vocabulary: Sequence[str] | None) -> Any:
    """The detector a backend spec names (see the module docstring).

    Raises:
        BagError: unknown spec; MissingTopicError: ``semantic`` on a bag without the table.
    """
    if spec == "semantic":
        from embodied_stack.perception.semantic_sensor import SemanticSensorDetector

        try:
            instances, categories = read_instance_table(bag, instance_table_topic)
        except MissingTopicError as err:
            raise BagError(
                "--backend semantic needs the simulator's instance table and instance images, which "
                f"'embodied-stack sim record' writes; use --backend owlv2:DIR for other bags. {err}"
            ) from err
        return SemanticSensorDetector(instances=instances, categories=categories)
    if spec.startswith("owlv2:") and len(spec) > len("owlv2:"):
        from embodied_stack.perception.owlv2 import Owlv2Detector

        return Owlv2Detector(spec[len("owlv2:"):], list(vocabulary or load_vocabulary(None)))
    raise BagError(f"unknown detector backend {spec!r}; expected one of {', '.join(BACKENDS)}")


def build_from_bag(
    bag: BagReader,
    config: RgbdConfig,
    pipeline: Any,
    ingest: Callable[[list[Observation]], object],
    *,
    progress: Callable[[float], None] | None = None,
    batch_size: int = 256,
) -> BuildResult:
    """Run ``pipeline`` (a :class:`~embodied_stack.perception.PerceptionPipeline`) over the bag.

    Args:
        ingest: receives observations in batches of at least ``batch_size`` (the last may be
            smaller), e.g. ``SemanticMemory.ingest``.
        progress: bag time (s since start) of each message read, for a progress bar.
    """
    stats = RgbdStats()
    result = BuildResult(stats, bag_duration_s=bag.duration_s)
    pending: list[Observation] = []

    def hand_over(observations: Iterable[Observation], *, final: bool = False) -> None:
        pending.extend(observations)
        if pending and (final or len(pending) >= batch_size):
            ingest(list(pending))
            result.observations += len(pending)
            pending.clear()

    for sample in read_rgbd(bag, config, progress=progress, stats=stats):
        hand_over(pipeline.process(sample.rgb, sample.depth, sample.intrinsics, sample.camera_pose,
                                   sample.timestamp_s, instance=sample.instance))
    hand_over(pipeline.flush(), final=True)
    result.skipped = bag.skips.as_dict()
    result.perception = pipeline.stats.to_dict()
    if stats.samples == 0:
        logger.warning("no usable RGB-D sample in %s; see the skipped counts", bag.path)
    return result
