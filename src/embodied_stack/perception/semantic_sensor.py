"""Detections from a simulator's semantic sensor: instance ids plus a category table.

Works with the embedded simulator (``Frame.instance`` and ``Env.instances``) and with Habitat
(semantic sensor ids and the scene's semantic annotations). Pixels are grouped by instance id
with one sort, never a Python loop over pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from embodied_stack.perception.detection import Detection
from embodied_stack.perception.errors import BadFrameError
from embodied_stack.types import InstanceInfo

logger = logging.getLogger(__name__)


def group_pixels(labels: np.ndarray, *, ignore_below: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group the flat pixel indices of an integer label image by label.

    Args:
        labels: HxW integer image.
        ignore_below: labels smaller than this (background, -1) are left out.

    Returns:
        (ids, pixels): the distinct labels in increasing order, and for each the flat
        (row-major) indices of its pixels.
    """
    flat = labels.ravel()
    idx = np.flatnonzero(flat >= ignore_below)
    if idx.size == 0:
        return np.empty(0, dtype=flat.dtype), []
    order = np.argsort(flat[idx], kind="stable")
    sorted_idx = idx[order]
    ids, starts = np.unique(flat[sorted_idx], return_index=True)
    return ids, np.split(sorted_idx, starts[1:])


class SemanticSensorDetector:
    """Ground-truth detections from instance (and optionally semantic) images.

    Args:
        instances: instance id -> :class:`InstanceInfo` (category, object id, room).
        categories: the category table that semantic images index (``Env.categories``); used
            for instance ids missing from ``instances`` (majority semantic class of the
            instance's pixels) and, without an instance image, to split each class into
            connected components.

    Every detection has score 1.0 and ``instance_key`` = the instance id (None for connected
    components, which carry no identity).
    """

    uses_segmentation = True

    def __init__(
        self,
        instances: Mapping[int, InstanceInfo] | None = None,
        categories: Sequence[str] | None = None,
    ) -> None:
        self.instances = dict(instances or {})
        self.categories = list(categories or [])

    def detect(
        self,
        rgb: np.ndarray,
        depth_m: np.ndarray,
        *,
        instance: np.ndarray | None = None,
        semantic: np.ndarray | None = None,
    ) -> list[Detection]:
        """Detections for one frame.

        Raises:
            BadFrameError: ``segmentation_missing`` when the frame has neither an instance image
                nor (with a category table) a semantic image.
        """
        if instance is not None:
            return self._from_instances(instance, semantic)
        if semantic is not None and self.categories:
            return self._from_semantic(semantic)
        raise BadFrameError(
            "segmentation_missing",
            "the semantic-sensor detector needs an instance image (or a semantic image and a "
            "category table); the frame has none",
        )

    def _from_instances(self, instance: np.ndarray, semantic: np.ndarray | None) -> list[Detection]:
        ids, pixels = group_pixels(instance)
        unknown = [i for i, key in enumerate(ids.tolist()) if key not in self.instances]
        fallback: dict[int, str] = {}
        if unknown and semantic is not None and self.categories:
            fallback = self._majority_categories(ids, pixels, unknown, semantic)
        detections = []
        for i, key in enumerate(ids.tolist()):
            info = self.instances.get(key)
            label = info.category if info is not None else fallback.get(i)
            if not label:
                logger.debug("instance id %d is not in the instance table; skipped", key)
                continue
            room = info.room if info is not None else None
            detections.append(Detection(label, 1.0, pixels=pixels[i], instance_key=key, room=room))
        return detections

    def _majority_categories(
        self, ids: np.ndarray, pixels: list[np.ndarray], rows: list[int], semantic: np.ndarray
    ) -> dict[int, str]:
        flat_sem = semantic.ravel()
        n_cat = len(self.categories)
        result = {}
        for i in rows:
            classes = flat_sem[pixels[i]]
            classes = classes[(classes >= 0) & (classes < n_cat)]
            if classes.size:
                result[i] = self.categories[int(np.bincount(classes, minlength=n_cat).argmax())]
        return result

    def _from_semantic(self, semantic: np.ndarray) -> list[Detection]:
        detections: list[Detection] = []
        for cls in np.unique(semantic[(semantic >= 0) & (semantic < len(self.categories))]).tolist():
            components, _ = ndimage.label(semantic == cls)
            _, pixels = group_pixels(components, ignore_below=1)
            detections.extend(Detection(self.categories[cls], 1.0, pixels=p) for p in pixels)
        return detections
