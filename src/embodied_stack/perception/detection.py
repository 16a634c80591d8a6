"""2D detections and the interface every detector backend implements.

A :class:`Detection` says *where* in the image (a mask, precomputed pixel indices, or a box),
*what* (``label``) and *how sure* (``score`` in [0, 1]). The pipeline lifts it to 3D with the
depth image. Backends: the simulator's semantic sensor (:mod:`.semantic_sensor`), an
open-vocabulary detector (:mod:`.owlv2`) and detections from any other detector
(:mod:`.external`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from embodied_stack.perception.errors import DetectionFormatError


@dataclass(frozen=True, eq=False)
class Detection:
    """One object in one image.

    Attributes:
        label: category, a lower-case noun phrase (``"coffee table"``).
        score: detector confidence in [0, 1].
        mask: HxW bool mask of the object's pixels, or None.
        box: ``(x0, y0, x1, y1)`` pixels (x right, y down; x1/y1 exclusive), or None. Used when
            there is neither mask nor pixels: the object's pixels are then found by depth.
        instance_key: an identity the backend knows (the simulator's instance id, a tracker's
            id); fusion treats it as a strong hint that two sightings are the same object.
        room: the room id holding the object when the backend knows it.
        pixels: optional flat (row-major) indices of the object's pixels, a cheaper form of
            ``mask`` that the semantic sensor fills.
    """

    label: str
    score: float
    mask: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    instance_key: int | str | None = None
    room: str | None = None
    pixels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise DetectionFormatError(f"expected a non-empty string, got {self.label!r}", field="label")
        if isinstance(self.score, bool) or not isinstance(self.score, (int, float)) or not (
            math.isfinite(self.score) and 0.0 <= self.score <= 1.0
        ):
            raise DetectionFormatError(f"expected a number in [0, 1], got {self.score!r}", field="score")
        if self.mask is None and self.box is None and self.pixels is None:
            raise DetectionFormatError("a detection needs a mask, pixels or a box", field="mask")
        if self.mask is not None and (not isinstance(self.mask, np.ndarray) or self.mask.ndim != 2):
            raise DetectionFormatError("expected an HxW boolean array", field="mask")
        if self.box is not None:
            if len(self.box) != 4 or not all(math.isfinite(float(v)) for v in self.box):
                raise DetectionFormatError(f"expected 4 finite numbers x0, y0, x1, y1, got {self.box!r}", field="box")
            x0, y0, x1, y1 = (float(v) for v in self.box)
            if x1 <= x0 or y1 <= y0:
                raise DetectionFormatError(f"expected x1 > x0 and y1 > y0, got {self.box!r}", field="box")
            object.__setattr__(self, "box", (x0, y0, x1, y1))

    @property
    def category(self) -> str:
        """The label normalised as the memory stores categories (stripped, lower case)."""
        return " ".join(self.label.strip().lower().split())

    def pixel_indices(self, height: int, width: int) -> np.ndarray | None:
        """Flat (row-major) indices of this detection's pixels in an ``height`` x ``width`` image.

        Returns None for a box-only detection: its box still holds background, which
        :func:`~embodied_stack.perception.geometry.box_foreground` separates by depth.

        Raises:
            DetectionFormatError: when the mask's size differs from the image's.
        """
        if self.pixels is not None:
            pixels = np.asarray(self.pixels, dtype=np.int64).reshape(-1)
            if pixels.size and (pixels.min() < 0 or pixels.max() >= height * width):
                raise DetectionFormatError(
                    f"pixel indices span [{pixels.min()}, {pixels.max()}], expected [0, {height * width})",
                    field="pixels",
                )
            return pixels
        if self.mask is not None:
            if self.mask.shape != (height, width):
                raise DetectionFormatError(
                    f"mask is {self.mask.shape}, the image is {(height, width)}", field="mask"
                )
            return np.flatnonzero(self.mask)
        return None

    def box_pixels(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The box clipped to the image as integer ``(row0, row1, col0, col1)``, ends exclusive."""
        if self.box is None:
            return (0, 0, 0, 0)
        x0, y0, x1, y1 = self.box
        c0, c1 = max(0, math.floor(x0)), min(width, math.ceil(x1))
        r0, r1 = max(0, math.floor(y0)), min(height, math.ceil(y1))
        return (r0, max(r0, r1), c0, max(c0, c1))


@runtime_checkable
class Detector(Protocol):
    """A detector backend: image (and registered depth, metres, 0 = invalid) in, detections out.

    A backend that reads the simulator's instance/semantic images sets
    ``uses_segmentation = True`` and accepts them as keyword arguments ``instance`` and
    ``semantic``; the pipeline then passes them.
    """

    def detect(self, rgb: np.ndarray, depth_m: np.ndarray) -> list[Detection]: ...
