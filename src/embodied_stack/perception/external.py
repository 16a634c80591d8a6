"""Detections from any other detector: boxes or masks with labels and scores.

Accepted inputs (one frame each):

* a list of plain records ``{"label": "chair", "score": 0.8, "box": [x0, y0, x1, y1]}``,
  with ``"mask"`` instead of (or as well as) ``"box"``: a COCO uncompressed RLE
  ``{"size": [H, W], "counts": [...]}`` (column-major runs, starting with background) or, in
  process, an HxW bool array; optional ``"instance_key"`` and ``"room"``;
* a ROS ``vision_msgs/Detection2DArray`` as a dict (``message_to_dict`` style):
  ``{"detections": [{"bbox": {"center": {"position": {"x": .., "y": ..}}, "size_x": ..,
  "size_y": ..}, "results": [{"hypothesis": {"class_id": "chair", "score": 0.8}}],
  "id": "7"}]}``; the best hypothesis wins, a non-empty ``id`` becomes ``instance_key``.
  The older layout (``center.x``/``center.y``, flat ``results[].id``/``score``) also reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embodied_stack.perception.detection import Detection
from embodied_stack.perception.errors import DetectionFormatError


def decode_coco_rle(rle: Any, *, where: str = "mask") -> np.ndarray:
    """Decode a COCO uncompressed RLE (``{"size": [H, W], "counts": [...]}``) to an HxW bool mask."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise DetectionFormatError("expected {'size': [H, W], 'counts': [...]}", path=where, field="mask")
    size, counts = rle["size"], rle["counts"]
    if (
        not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise DetectionFormatError(f"size must be [H, W] positive integers, got {size!r}", path=where, field="mask")
    if not isinstance(counts, list) or not all(isinstance(c, int) and c >= 0 for c in counts):
        raise DetectionFormatError(
            "counts must be a list of run lengths (integers >= 0); compressed RLE strings are not read",
            path=where,
            field="mask",
        )
    height, width = size
    if sum(counts) != height * width:
        raise DetectionFormatError(
            f"run lengths sum to {sum(counts)}, expected H*W = {height * width}", path=where, field="mask"
        )
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def _number(value: Any, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DetectionFormatError(f"expected a number, got {value!r}", path=where, field=field)
    return float(value)


def _from_record(item: dict[str, Any], where: str) -> Detection:
    known = {"label", "score", "box", "mask", "instance_key", "room"}
    unknown = sorted(set(item) - known)
    if unknown:
        raise DetectionFormatError(f"unknown field(s) {unknown}; expected some of {sorted(known)}", path=where)
    if "label" not in item:
        raise DetectionFormatError("is required", path=where, field="label")
    box = item.get("box")
    if box is not None:
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise DetectionFormatError(f"expected [x0, y0, x1, y1], got {box!r}", path=where, field="box")
        box = tuple(_number(v, where, "box") for v in box)
    mask = item.get("mask")
    if mask is not None and not isinstance(mask, np.ndarray):
        mask = decode_coco_rle(mask, where=where)
    elif mask is not None:
        mask = mask.astype(bool, copy=False)
    try:
        return Detection(
            label=item["label"],
            score=_number(item.get("score", 1.0), where, "score"),
            mask=mask,
            box=box,
            instance_key=item.get("instance_key"),
            room=item.get("room"),
        )
    except DetectionFormatError as err:
        raise DetectionFormatError(str(err), path=where) from err


def _from_vision_msg(item: dict[str, Any], where: str) -> Detection | None:
    results = item.get("results") or []
    best: tuple[float, str] | None = None
    for result in results:
        hyp = result.get("hypothesis", result) if isinstance(result, dict) else None
        if not isinstance(hyp, dict):
            raise DetectionFormatError("expected objects in results", path=where, field="results")
        label = hyp.get("class_id", hyp.get("id"))
        score = _number(hyp.get("score", 0.0), where, "results.score")
        if isinstance(label, (str, int)) and (best is None or score > best[0]):
            best = (score, str(label))
    if best is None:
        return None
    bbox = item.get("bbox")
    if not isinstance(bbox, dict) or not isinstance(bbox.get("center"), dict):
        raise DetectionFormatError("expected bbox with center, size_x, size_y", path=where, field="bbox")
    center = bbox["center"].get("position", bbox["center"])
    cx = _number(center.get("x"), where, "bbox.center.x")
    cy = _number(center.get("y"), where, "bbox.center.y")
    sx = _number(bbox.get("size_x"), where, "bbox.size_x")
    sy = _number(bbox.get("size_y"), where, "bbox.size_y")
    key = item.get("id") or None
    try:
        return Detection(
            best[1], min(max(best[0], 0.0), 1.0), box=(cx - sx / 2, cy - sy / 2, cx + sx / 2, cy + sy / 2),
            instance_key=key,
        )
    except DetectionFormatError as err:
        raise DetectionFormatError(str(err), path=where) from err


def parse_detections(data: Any, *, where: str = "detections") -> list[Detection]:
    """Detections of one frame from plain records or a Detection2DArray-like dict (module docstring).

    Raises:
        DetectionFormatError: naming ``where``, the item index and the field at fault.
    """
    if isinstance(data, dict) and "detections" in data:
        items = data["detections"]
        if not isinstance(items, list):
            raise DetectionFormatError("expected a list", path=where, field="detections")
        parsed = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise DetectionFormatError("expected an object", path=f"{where}[{i}]")
            det = _from_vision_msg(item, f"{where}[{i}]")
            if det is not None:
                parsed.append(det)
        return parsed
    if not isinstance(data, list):
        raise DetectionFormatError(
            f"expected a list of detections or a Detection2DArray-like object, got {type(data).__name__}",
            path=where,
        )
    out = []
    for i, item in enumerate(data):
        if isinstance(item, Detection):
            out.append(item)
        elif isinstance(item, dict):
            out.append(_from_record(item, f"{where}[{i}]"))
        else:
            raise DetectionFormatError(f"expected an object, got {type(item).__name__}", path=f"{where}[{i}]")
    return out


def load_detections_json(path: str | Path) -> list[Detection]:
    """Read one frame's detections from a JSON file (either form of :func:`parse_detections`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DetectionFormatError(f"cannot read ({err.strerror})", path=str(path)) from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DetectionFormatError(f"not valid JSON ({err})", path=str(path)) from err
    return parse_detections(data, where=str(path))


class ExternalDetector:
    """A :class:`~embodied_stack.perception.detection.Detector` fed from outside, one frame at a time.

    Call :meth:`feed` with a frame's detections (in any form :func:`parse_detections` reads)
    before processing that frame; :meth:`detect` hands them out once.
    """

    def __init__(self) -> None:
        self._pending: list[Detection] = []

    def feed(self, detections: Sequence[Detection] | dict[str, Any] | list[Any]) -> None:
        self._pending = parse_detections(detections if isinstance(detections, dict) else list(detections))

    def detect(self, rgb: np.ndarray, depth_m: np.ndarray) -> list[Detection]:
        pending, self._pending = self._pending, []
        return pending
