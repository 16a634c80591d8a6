"""vision_msgs detections from a robot's own detector: ``Detection2DArray`` (boxes in the image,
lifted to 3D by the sensing node with the depth image) and ``Detection3DArray`` (boxes in any tf
frame, moved into the map). vision_msgs 4.x layout (Humble, Jazzy): each detection holds
``results[].hypothesis.class_id/score``, a ``bbox`` and a tracker ``id``; the best-scoring
hypothesis names the object.
"""

from __future__ import annotations

import math
from typing import Any

from embodied_stack.perception.detection import Detection
from embodied_stack.perception.errors import DetectionFormatError
from embodied_stack.types.observations import MAP_FRAME, InvalidObservationError, Observation
from embodied_stack_ros.conversions.base import header_from_ros
from embodied_stack_ros.conversions.geometry import point_from_ros, transform_box, vector3_from_ros
from embodied_stack_ros.conversions.memory import ToMap

__all__ = ["best_hypothesis", "detections_2d_from_ros", "detections_3d_from_ros"]


def best_hypothesis(detection: Any) -> tuple[str, float]:
    """``(class_id, score)`` of the best-scoring result; ValueError when there is none usable."""
    best: tuple[str, float] | None = None
    for result in detection.results:
        label, score = str(result.hypothesis.class_id).strip(), float(result.hypothesis.score)
        if label and math.isfinite(score) and (best is None or score > best[1]):
            best = (label, score)
    if best is None:
        raise ValueError("no result with a class_id and a finite score")
    return best[0], min(max(best[1], 0.0), 1.0)


def detections_2d_from_ros(msg: Any) -> tuple[list[Detection], list[str]]:
    """``Detection2DArray`` -> ``(detections with pixel boxes, one reason per refused one)``.

    The box is ``bbox.center.position`` +- half of ``size_x``/``size_y`` (pixels, x right, y
    down); ``id`` becomes the detection's ``instance_key`` (a tracker's identity helps fusion).
    """
    detections: list[Detection] = []
    refused: list[str] = []
    for index, item in enumerate(msg.detections):
        try:
            label, score = best_hypothesis(item)
            cx, cy = float(item.bbox.center.position.x), float(item.bbox.center.position.y)
            w, h = float(item.bbox.size_x), float(item.bbox.size_y)
            if not (w > 0.0 and h > 0.0):
                raise ValueError(f"bbox size {w} x {h} pixels; expected positive sizes")
            box = (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
            detections.append(Detection(label, score, box=box, instance_key=str(item.id) or None))
        except (ValueError, DetectionFormatError) as err:
            refused.append(f"detections[{index}]: {err}")
    return detections, refused


def detections_3d_from_ros(msg: Any, map_frame: str, to_map: ToMap | None) -> tuple[list[Observation], list[str]]:
    """``Detection3DArray`` -> ``(observations in map, one reason per refused detection)``.

    Each box (centre pose, size) in its header's frame (the array's when the detection's is
    empty) is moved into ``map_frame`` with ``to_map`` as the axis-aligned box that holds it.
    """
    array_frame, array_stamp = header_from_ros(msg.header)
    observations: list[Observation] = []
    refused: list[str] = []
    for index, item in enumerate(msg.detections):
        frame, stamp = header_from_ros(item.header)
        frame, stamp = frame or array_frame, stamp or array_stamp
        try:
            label, score = best_hypothesis(item)
            center, extent = point_from_ros(item.bbox.center.position), vector3_from_ros(item.bbox.size)
            if frame != map_frame:
                if to_map is None:
                    raise ValueError(f"frame {frame!r} is not {map_frame!r} and no transform is available")
                center, extent = transform_box(to_map(frame, stamp), center, extent)
            observations.append(Observation(
                category=label, position=center, extent=tuple(abs(v) for v in extent),  # type: ignore[arg-type]
                confidence=score, timestamp=stamp, frame_id=MAP_FRAME, object_id=str(item.id) or None,
            ))
        except (ValueError, InvalidObservationError) as err:
            refused.append(f"detections[{index}] in {frame!r}: {err}")
    return observations, refused
