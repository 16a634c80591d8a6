"""Open-vocabulary detection with OWLv2 (``transformers``), from a local model directory.

Prompted with a category vocabulary (``"a photo of a {category}"``); the best-scoring prompt
labels each predicted box. OWLv2 pads the image to a square at the bottom/right before
resizing, so its normalised boxes are scaled by the longer image side, then clipped.
Nothing is downloaded: the directory must hold the model and processor (``save_pretrained``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embodied_stack._deps import require
from embodied_stack.perception.detection import Detection
from embodied_stack.perception.errors import BackendError

logger = logging.getLogger(__name__)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of boxes (N, 4: x0, y0, x1, y1) kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        lo = np.maximum(boxes[i, :2], boxes[rest, :2])
        hi = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class Owlv2Detector:
    """OWLv2 (``Owlv2ForObjectDetection`` + ``Owlv2Processor``) prompted with a vocabulary.

    Args:
        model_dir: local directory written by ``save_pretrained`` (model and processor).
        vocabulary: category names to look for (lower-case noun phrases).
        score_threshold: minimum sigmoid score of a box.
        nms_iou: IoU above which a lower-scoring box of the same label is suppressed.
        prompt_template: how a category becomes a text query.
        device: torch device string.

    Raises:
        BackendError: missing directory, empty vocabulary, or a model that does not load.
    """

    def __init__(
        self,
        model_dir: str | Path,
        vocabulary: Sequence[str],
        *,
        score_threshold: float = 0.1,
        nms_iou: float = 0.5,
        prompt_template: str = "a photo of a {}",
        device: str = "cpu",
    ) -> None:
        self.model_dir = Path(model_dir)
        self.vocabulary = [" ".join(v.strip().lower().split()) for v in vocabulary if v.strip()]
        if not self.vocabulary:
            raise BackendError("the OWLv2 detector needs a non-empty vocabulary of category names")
        if not (self.model_dir / "config.json").is_file():
            raise BackendError(
                f"detector model directory {self.model_dir} has no config.json; expected a local "
                "OWLv2 model saved with save_pretrained (nothing is downloaded at run time)"
            )
        transformers = require("transformers")
        self._torch = require("torch")
        try:
            self.processor = transformers.Owlv2Processor.from_pretrained(self.model_dir, local_files_only=True)
            self.model = transformers.Owlv2ForObjectDetection.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise BackendError(f"cannot load OWLv2 from {self.model_dir}: {err}") from err
        self.model.to(device).eval()
        self.device = device
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        prompts = [prompt_template.format(v) for v in self.vocabulary]
        max_length = int(self.model.config.text_config.max_position_embeddings)
        self._text = self.processor(
            text=[prompts], return_tensors="pt", padding="max_length", truncation=True, max_length=max_length
        )

    def detect(self, rgb: np.ndarray, depth_m: np.ndarray) -> list[Detection]:
        """Boxes of vocabulary categories in ``rgb`` (HxWx3 uint8); depth is not used."""
        torch = self._torch
        height, width = rgb.shape[:2]
        pixels = self.processor.image_processor(images=rgb, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            out = self.model(
                input_ids=self._text["input_ids"].to(self.device),
                attention_mask=self._text["attention_mask"].to(self.device),
                pixel_values=pixels.to(self.device),
            )
        logits = out.logits[0].float().cpu().numpy()
        boxes_cxcywh = out.pred_boxes[0].float().cpu().numpy()
        labels = logits.argmax(axis=1)
        scores = 1.0 / (1.0 + np.exp(-logits.max(axis=1)))
        keep = scores >= self.score_threshold
        side = float(max(height, width))
        cxcy, wh = boxes_cxcywh[keep, :2] * side, boxes_cxcywh[keep, 2:] * side
        boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1)
        boxes = np.clip(boxes, 0.0, [width, height, width, height])
        scores, labels = scores[keep], labels[keep]
        valid = (boxes[:, 2] - boxes[:, 0] >= 1.0) & (boxes[:, 3] - boxes[:, 1] >= 1.0)
        boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
        detections = []
        for label in np.unique(labels).tolist():
            rows = np.flatnonzero(labels == label)
            for i in rows[nms(boxes[rows], scores[rows], self.nms_iou)]:
                detections.append(
                    Detection(self.vocabulary[label], float(scores[i]), box=tuple(boxes[i].tolist()))
                )
        return detections
