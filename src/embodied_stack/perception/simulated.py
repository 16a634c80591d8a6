"""A simulated detector that makes the mistakes a real one makes: the default in simulation.

It reads the simulator's instance image and instance table (the only place ground truth is
used), and reports what an open-vocabulary detector would: masks with a label and a
confidence, *without* the instance id (``instance_key`` is always None: identities never leave
the sensor; fusion has to work them out from geometry and labels). The errors, all drawn from
one seeded generator so a run is reproducible:

- **misses**: an instance is dropped with probability
  ``miss_base + miss_per_m * max(0, depth - near_m) + miss_occlusion * occluded + miss_small * smallness``,
  where ``occluded`` is the share of the mask's outline that borders something nearer (or the
  image edge, a truncated view) and ``smallness`` rises linearly from 0 at ``small_area_px`` to
  1 at no pixels;
- **label confusion**: with probability ``confusion_rate`` the label is replaced by one of the
  categories :data:`~embodied_stack.perception.labels.CONFUSIONS` lists for it (with a lower
  confidence);
- **false positives**: a Poisson number per frame (mean ``false_positives_per_frame``) of
  blobs on whatever is there (a patch of wall, part of an object) with a label from
  :data:`~embodied_stack.perception.labels.FALSE_POSITIVE_LABELS` and a low confidence;
- **mask errors**: each mask is eroded or dilated by up to ``mask_jitter_px`` pixels;
- **confidence**: high for close, fully visible objects, lower with occlusion and distance,
  plus Gaussian noise.

Presets: ``clean`` (no errors, still no identities), ``realistic`` (the default) and ``hard``.
:attr:`SimulatedDetector.stats` counts what it did; the evaluation prints the rates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from embodied_stack.perception.detection import Detection
from embodied_stack.perception.errors import BadFrameError, ConfigError
from embodied_stack.perception.labels import CONFUSIONS, FALSE_POSITIVE_LABELS
from embodied_stack.perception.semantic_sensor import group_pixels
from embodied_stack.types import InstanceInfo

DETECTOR_PRESETS = ("clean", "realistic", "hard")
MIN_VISIBLE_PX = 20
"""Instances with fewer pixels than this are not visible at all (not counted as misses)."""


@dataclass(frozen=True)
class DetectorErrors:
    """Error rates of :class:`SimulatedDetector` (see the module docstring for the model)."""

    miss_base: float = 0.0
    miss_per_m: float = 0.0
    near_m: float = 2.0
    miss_occlusion: float = 0.0
    miss_small: float = 0.0
    small_area_px: int = 400
    confusion_rate: float = 0.0
    false_positives_per_frame: float = 0.0
    mask_jitter_px: int = 0
    score_noise: float = 0.0
    occluder_margin_m: float = 0.05

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ConfigError(f"DetectorErrors.{name} must be a finite number >= 0, got {value!r}")
        if self.confusion_rate > 1:
            raise ConfigError(f"DetectorErrors.confusion_rate must be in [0, 1], got {self.confusion_rate!r}")

    @classmethod
    def preset(cls, name: str) -> DetectorErrors:
        """``clean``, ``realistic`` or ``hard``; anything else is a :class:`ConfigError`."""
        if name == "clean":
            return cls()
        if name == "realistic":
            return cls(miss_base=0.05, miss_per_m=0.08, miss_occlusion=0.35, miss_small=0.5, small_area_px=400,
                       confusion_rate=0.08, false_positives_per_frame=0.15, mask_jitter_px=2, score_noise=0.05)
        if name == "hard":
            return cls(miss_base=0.15, miss_per_m=0.15, near_m=1.5, miss_occlusion=0.5, miss_small=0.7,
                       small_area_px=800, confusion_rate=0.2, false_positives_per_frame=0.5, mask_jitter_px=3,
                       score_noise=0.1)
        raise ConfigError(f"detector preset {name!r} is unknown; expected one of {DETECTOR_PRESETS}")


@dataclass
class DetectorStats:
    """What the detector did: visible instances, detections, misses by main cause, confusions,
    false positives and mask edits."""

    frames: int = 0
    visible: int = 0
    detected: int = 0
    missed: Counter[str] = None  # type: ignore[assignment]
    confused: int = 0
    false_positives: int = 0
    masks_eroded: int = 0
    masks_dilated: int = 0

    def __post_init__(self) -> None:
        if self.missed is None:
            self.missed = Counter()

    def to_dict(self) -> dict[str, Any]:
        missed = sum(self.missed.values())
        return {
            "frames": self.frames, "visible": self.visible, "detected": self.detected,
            "missed": missed, "missed_by": dict(self.missed), "confused": self.confused,
            "false_positives": self.false_positives,
            "miss_rate": round(missed / self.visible, 4) if self.visible else None,
            "confusion_rate": round(self.confused / self.detected, 4) if self.detected else None,
            "false_positives_per_frame": round(self.false_positives / self.frames, 4) if self.frames else None,
            "masks_eroded": self.masks_eroded, "masks_dilated": self.masks_dilated,
        }


class SimulatedDetector:
    """Detections with realistic errors from a simulator's instance image (see module docstring).

    Args:
        instances: instance id -> :class:`InstanceInfo` (the simulator's table; only categories
            are read).
        errors: the error model, or a preset name (default ``realistic``).
        seed: seed of the error draws.
        confusions: the confusion table (default :data:`CONFUSIONS`).
        keep_identities: pass the simulator's instance id on as ``instance_key`` (the
            ``identities`` oracle of an ablation; off by default).
    """

    uses_segmentation = True

    def __init__(self, instances: Mapping[int, InstanceInfo], errors: DetectorErrors | str = "realistic", *,
                 seed: int = 0, confusions: Mapping[str, tuple[str, ...]] = CONFUSIONS,
                 keep_identities: bool = False) -> None:
        self.instances = dict(instances)
        self.errors = DetectorErrors.preset(errors) if isinstance(errors, str) else errors
        self.preset = errors if isinstance(errors, str) else "custom"
        self.confusions = dict(confusions)
        self.keep_identities = keep_identities
        self.rng = np.random.default_rng(seed)
        self.stats = DetectorStats()

    def with_errors(self, **changes: Any) -> SimulatedDetector:
        """A copy with some error rates changed (same table, seed restarted)."""
        return SimulatedDetector(self.instances, replace(self.errors, **changes), confusions=self.confusions,
                                 keep_identities=self.keep_identities)

    def detect(self, rgb: np.ndarray, depth_m: np.ndarray, *, instance: np.ndarray | None = None,
               semantic: np.ndarray | None = None) -> list[Detection]:
        """Detections for one frame.

        Raises:
            BadFrameError: ``segmentation_missing`` without an instance image.
        """
        if instance is None:
            raise BadFrameError("segmentation_missing", "the simulated detector needs the simulator's instance image")
        self.stats.frames += 1
        height, width = instance.shape
        depth = np.where(np.isfinite(depth_m), depth_m, 0.0).astype(np.float64)
        ids, pixels = group_pixels(instance)
        occluded = _occluded_share(instance, depth, self.errors.occluder_margin_m)
        detections: list[Detection] = []
        err, rng = self.errors, self.rng
        for key, pix in zip(ids.tolist(), pixels, strict=True):
            info = self.instances.get(key)
            if info is None or pix.size < MIN_VISIBLE_PX:
                continue
            self.stats.visible += 1
            d = depth.ravel()[pix]
            d = float(d[d > 0].mean()) if np.any(d > 0) else 0.0
            occ = occluded.get(key, 0.0)
            terms = {
                "base": err.miss_base,
                "distance": err.miss_per_m * max(0.0, d - err.near_m),
                "occlusion": err.miss_occlusion * occ,
                "small": err.miss_small * max(0.0, 1.0 - pix.size / err.small_area_px) if err.small_area_px else 0.0,
            }
            if rng.random() < min(0.98, sum(terms.values())):
                self.stats.missed[max(terms, key=terms.__getitem__)] += 1
                continue
            label = info.category
            score = 0.95 - 0.3 * occ - 0.05 * max(0.0, d - err.near_m)
            alternatives = self.confusions.get(label, ())
            if alternatives and err.confusion_rate and rng.random() < err.confusion_rate:
                label = alternatives[min(int(rng.geometric(0.6)) - 1, len(alternatives) - 1)]
                score *= 0.85
                self.stats.confused += 1
            score = float(np.clip(score + (rng.normal(0.0, err.score_noise) if err.score_noise else 0.0), 0.3, 1.0))
            pix = self._jitter_mask(pix, height, width)
            if pix.size == 0:
                continue
            self.stats.detected += 1
            detections.append(Detection(label, score, pixels=pix,
                                        instance_key=key if self.keep_identities else None))
        detections.extend(self._false_positives(depth))
        return detections

    def _jitter_mask(self, pix: np.ndarray, height: int, width: int) -> np.ndarray:
        steps = int(self.rng.integers(-self.errors.mask_jitter_px, self.errors.mask_jitter_px + 1)) \
            if self.errors.mask_jitter_px else 0
        if steps == 0:
            return pix
        rows, cols = np.divmod(pix, width)
        pad = abs(steps) + 1
        r0, c0 = max(rows.min() - pad, 0), max(cols.min() - pad, 0)
        r1, c1 = min(rows.max() + pad + 1, height), min(cols.max() + pad + 1, width)
        crop = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        crop[rows - r0, cols - c0] = True
        if steps < 0:
            crop = ndimage.binary_erosion(crop, iterations=-steps)
            self.stats.masks_eroded += 1
        else:
            crop = ndimage.binary_dilation(crop, iterations=steps)
            self.stats.masks_dilated += 1
        rr, cc = np.nonzero(crop)
        return (rr + r0) * width + (cc + c0)

    def _false_positives(self, depth: np.ndarray) -> list[Detection]:
        rate = self.errors.false_positives_per_frame
        count = int(self.rng.poisson(rate)) if rate else 0
        height, width = depth.shape
        valid = np.flatnonzero(depth.ravel() > 0)
        found = []
        for _ in range(count if valid.size else 0):
            centre = int(valid[self.rng.integers(valid.size)])
            row, col = divmod(centre, width)
            half = int(self.rng.integers(8, 30))
            r0, r1 = max(row - half, 0), min(row + half, height)
            c0, c1 = max(col - half, 0), min(col + half, width)
            patch = depth[r0:r1, c0:c1]
            near = np.abs(patch - depth[row, col]) < 0.3
            rr, cc = np.nonzero(near)
            if rr.size < MIN_VISIBLE_PX:
                continue
            label = FALSE_POSITIVE_LABELS[int(self.rng.integers(len(FALSE_POSITIVE_LABELS)))]
            score = float(self.rng.uniform(0.3, 0.55))
            found.append(Detection(label, score, pixels=(rr + r0) * width + (cc + c0)))
            self.stats.false_positives += 1
        return found


def _occluded_share(instance: np.ndarray, depth: np.ndarray, margin_m: float) -> dict[int, float]:
    """Per instance id, the share of its outline pixels that border something nearer than it
    (by ``margin_m``) or the image edge: how much of it is likely hidden. Vectorised over the
    image with four shifted comparisons."""
    height, width = instance.shape
    pad_inst = np.pad(instance, 1, constant_values=-2)
    pad_depth = np.pad(depth, 1, constant_values=0.0)
    centre_inst, centre_depth = pad_inst[1:-1, 1:-1], pad_depth[1:-1, 1:-1]
    edge = np.zeros(instance.shape, dtype=bool)
    hidden = np.zeros(instance.shape, dtype=bool)
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        n_inst = pad_inst[1 + dr:1 + dr + height, 1 + dc:1 + dc + width]
        n_depth = pad_depth[1 + dr:1 + dr + height, 1 + dc:1 + dc + width]
        differs = n_inst != centre_inst
        edge |= differs
        hidden |= differs & ((n_inst == -2) | ((n_depth > 0) & (n_depth < centre_depth - margin_m)))
    keep = (instance >= 0) & edge
    ids = instance[keep]
    if ids.size == 0:
        return {}
    top = int(ids.max()) + 1
    total = np.bincount(ids, minlength=top)
    occluded = np.bincount(ids, weights=hidden[keep].astype(np.float64), minlength=top)
    present = np.flatnonzero(total)
    return {int(i): float(occluded[i] / total[i]) for i in present}


def simulator_detector(backend: str, instances: Mapping[int, InstanceInfo], *, seed: int = 0) -> Any:
    """The detector a simulator-fed node runs, by name: ``sim`` / ``sim:PRESET`` (the simulated
    detector, default ``realistic``: the no-oracle path) or ``semantic`` (the simulator's
    ground-truth instance table: the ``categories`` + ``identities`` oracle)."""
    from embodied_stack.perception.semantic_sensor import SemanticSensorDetector

    kind, _, preset = backend.partition(":")
    if kind == "sim":
        return SimulatedDetector(instances, preset or "realistic", seed=seed)
    if kind == "semantic" and not preset:
        return SemanticSensorDetector(instances=instances)
    raise ConfigError(f"detector backend {backend!r}: expected 'sim', 'sim:clean|realistic|hard' or 'semantic'")
