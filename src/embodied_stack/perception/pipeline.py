"""The perception pipeline: RGB-D frame + camera pose -> object observations for the memory.

Per frame: validate the frame (bad frames are skipped, logged and counted, never raised),
detect objects (any :class:`~embodied_stack.perception.detection.Detector`, the simulator's
semantic sensor, or detections handed in), lift each detection to a cleaned 3D box in ``map``,
filter far/tiny/unsure ones, fuse them into tracks with stable ids, and turn the tracks that
are due into :class:`~embodied_stack.memory.types.Observation` s.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied_stack.perception.captioner import Captioner, TemplateCaptioner, room_label
from embodied_stack.perception.color import color_word
from embodied_stack.perception.config import PerceptionConfig
from embodied_stack.perception.detection import Detection, Detector
from embodied_stack.perception.errors import BadFrameError, DetectionFormatError, PerceptionError
from embodied_stack.perception.external import parse_detections
from embodied_stack.perception.frames import RGBDFrame, validate_frame
from embodied_stack.perception.fusion import ObjectFusion, Sighting, Track
from embodied_stack.perception.labels import LabelSimilarity
from embodied_stack.perception.geometry import box_foreground, even_subsample, object_geometry
from embodied_stack.perception.semantic_sensor import SemanticSensorDetector
from embodied_stack.types import CameraIntrinsics, Frame, InstanceInfo
from embodied_stack.types.observations import MAX_EXTENT_M, Observation

logger = logging.getLogger(__name__)


@dataclass
class PerceptionStats:
    """Running tallies: frames processed/skipped (by reason), detections kept/filtered (by reason),
    current and confirmed tracks, tracks merged into others (``fusion.merged`` maps their ids to
    the survivors'), and emitted observations."""

    frames_processed: int = 0
    frames_skipped: int = 0
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    detections: int = 0
    detections_kept: int = 0
    filtered_reasons: Counter[str] = field(default_factory=Counter)
    tracks: int = 0
    confirmed_tracks: int = 0
    tracks_merged: int = 0
    tracks_split: int = 0
    observations_emitted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames_processed": self.frames_processed,
            "frames_skipped": self.frames_skipped,
            "skipped_reasons": dict(self.skipped_reasons),
            "detections": self.detections,
            "detections_kept": self.detections_kept,
            "filtered_reasons": dict(self.filtered_reasons),
            "tracks": self.tracks,
            "confirmed_tracks": self.confirmed_tracks,
            "tracks_merged": self.tracks_merged,
            "tracks_split": self.tracks_split,
            "observations_emitted": self.observations_emitted,
        }


class PerceptionPipeline:
    """RGB-D frames in, fused object observations out.

    Args:
        config: settings (defaults: :class:`PerceptionConfig`).
        detector: the detector backend; optional when every call passes ``detections`` or uses
            :meth:`process_frame` with an instance table.
        captioner: defaults to :class:`TemplateCaptioner` (``"a white fridge, kitchen"``).
        room_names: room id -> words for captions (``{"kitchen_1": "kitchen"}``); without an
            entry the id's numeric suffix is dropped (``living_room_1`` -> ``living room``).
        similarity: how alike two labels are, for fusion (default: the confusion table only;
            give one with the memory's text embedder to compare labels by meaning).
    """

    def __init__(
        self,
        config: PerceptionConfig | None = None,
        detector: Detector | None = None,
        captioner: Captioner | None = None,
        *,
        room_names: Mapping[str, str] | None = None,
        similarity: LabelSimilarity | None = None,
    ) -> None:
        self.config = config or PerceptionConfig()
        self.detector = detector
        self.captioner: Captioner = captioner or TemplateCaptioner()
        self.room_names = dict(room_names or {})
        self.fusion = ObjectFusion(self.config, similarity)
        self.stats = PerceptionStats()
        self._table: Mapping[int, InstanceInfo] | Sequence[str] | None = None
        self._table_detector: SemanticSensorDetector | None = None

    def process(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        intrinsics: CameraIntrinsics | np.ndarray,
        T_map_camera: np.ndarray,
        timestamp: float,
        instance: np.ndarray | None = None,
        semantic: np.ndarray | None = None,
        *,
        detections: Sequence[Detection] | list[Any] | dict[str, Any] | None = None,
        detector: Detector | None = None,
    ) -> list[Observation]:
        """Process one raw frame (ROS, bag or simulator) and return the observations now due.

        Args:
            rgb: HxWx3 uint8.
            depth: HxW registered depth, uint16 millimetres or float metres (0/NaN/inf invalid).
            intrinsics: :class:`CameraIntrinsics` or a 3x3 K matrix (pixels).
            T_map_camera: 4x4 pose of the camera optical frame in ``map``.
            timestamp: seconds.
            instance, semantic: optional simulator segmentation images (HxW integers).
            detections: this frame's detections from outside (``Detection`` s, plain records or
                a Detection2DArray-like dict); when given the detector is not called.
            detector: a detector for this frame only (overrides the pipeline's).

        Returns:
            Observations of the tracks that this frame confirmed or changed (empty for a bad frame).

        Raises:
            PerceptionError: when there is no way to get detections (no detector, none given).
            DetectionFormatError: when ``detections`` are malformed records.
        """
        try:
            frame = validate_frame(
                rgb, depth, intrinsics, T_map_camera, timestamp, instance=instance, semantic=semantic,
                depth_min_m=self.config.depth_min_m, depth_max_m=self.config.depth_max_m,
            )
            found = self._detect(frame, detections, detector or self.detector)
        except BadFrameError as err:
            self._skip(err)
            return []
        sightings = self.lift(frame, found)
        due = self.fusion.update(sightings, frame.timestamp)
        self.stats.frames_processed += 1
        return self._emit(due)

    def process_frame(
        self,
        frame: Frame,
        table: Mapping[int, InstanceInfo] | Sequence[str] | None = None,
        *,
        detections: Sequence[Detection] | list[Any] | dict[str, Any] | None = None,
    ) -> list[Observation]:
        """Process a simulator :class:`Frame`.

        Args:
            table: the simulator's instance table (``Env.instances``) or category table
                (``Env.categories``); when given, detections come from the frame's instance /
                semantic images through :class:`SemanticSensorDetector`.
        """
        detector = self._semantic_detector(table) if table is not None else None
        return self.process(
            frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose, frame.timestamp,
            frame.instance, frame.semantic, detections=detections, detector=detector,
        )

    def flush(self) -> list[Observation]:
        """Final observations of every confirmed track updated since it was last emitted."""
        return self._emit(self.fusion.flush())

    def current_observations(self) -> list[Observation]:
        """Observations of every confirmed track as it stands now, without marking anything
        emitted: what a consumer that joined late needs to catch up (the ROS sensing node
        re-publishes them periodically)."""
        return [self._observation(t) for t in self.fusion.confirmed]

    def lift(self, frame: RGBDFrame, detections: Sequence[Detection]) -> list[Sighting]:
        """Filter one frame's detections and lift the survivors to 3D boxes in ``map``."""
        depth_flat = frame.depth_m.reshape(-1)
        valid_flat = frame.valid.reshape(-1)
        rgb_flat = frame.rgb.reshape(-1, 3)
        source_pose = frame.source_pose()
        sightings = []
        for det in detections:
            self.stats.detections += 1
            result = self._lift_one(det, frame, depth_flat, valid_flat, rgb_flat, source_pose)
            if isinstance(result, str):
                self.stats.filtered_reasons[result] += 1
            else:
                sightings.append(result)
        self.stats.detections_kept += len(sightings)
        logger.debug("frame t=%.3f: %d detections, %d kept", frame.timestamp, len(detections), len(sightings))
        return sightings

    def _lift_one(
        self,
        det: Detection,
        frame: RGBDFrame,
        depth_flat: np.ndarray,
        valid_flat: np.ndarray,
        rgb_flat: np.ndarray,
        source_pose: tuple[float, float, float, float, float, float, float],
    ) -> Sighting | str:
        """The detection as a 3D sighting, or the reason (a stats key) it was filtered out."""
        cfg = self.config
        height, width = frame.shape
        category = det.category
        if category in cfg.ignore_categories:
            return "ignored_category"
        if det.score < cfg.min_score:
            return "low_score"
        try:
            pixels = det.pixel_indices(height, width)
        except DetectionFormatError as err:
            logger.warning("detection %r dropped: %s", det.label, err)
            return "bad_detection"
        from_box = pixels is None
        if pixels is None:
            r0, r1, c0, c1 = det.box_pixels(height, width)
            if (r1 - r0) * (c1 - c0) < cfg.min_pixel_area:
                return "small_area"
            pixels = box_foreground((r0, r1, c0, c1), frame.depth_m, frame.valid, cfg.box_depth_band_m)
        else:
            if pixels.size < cfg.min_pixel_area:
                return "small_area"
            pixels = pixels[valid_flat[pixels]]
        if pixels.size == 0:
            return "no_depth"
        sample = even_subsample(pixels, cfg.max_points_per_detection)
        if float(np.median(depth_flat[sample])) > cfg.max_range_m:
            return "too_far"
        geometry = object_geometry(
            sample, frame.depth_m, frame.intrinsics, frame.T_map_camera,
            max_points=cfg.max_points_per_detection, voxel_size_m=cfg.voxel_size_m,
            neighbors=cfg.outlier_neighbors, std_ratio=cfg.outlier_std_ratio,
            min_z_m=cfg.box_min_z_m if from_box else None,
        )
        if geometry is None or geometry.n_points < cfg.min_points:
            return "few_points"
        crop = None
        if self.captioner.needs_crop:
            rows, cols = np.divmod(pixels, width)
            crop = frame.rgb[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].copy()
        return Sighting(
            category=category,
            score=float(det.score),
            min_xyz=geometry.min_xyz,
            max_xyz=geometry.max_xyz,
            timestamp=frame.timestamp,
            n_points=geometry.n_points,
            color=color_word(rgb_flat[sample]),
            room=det.room,
            instance_key=det.instance_key,
            source_pose=source_pose,
            crop=crop,
        )

    def _detect(
        self,
        frame: RGBDFrame,
        detections: Sequence[Detection] | list[Any] | dict[str, Any] | None,
        detector: Detector | None,
    ) -> list[Detection]:
        if detections is not None:
            return parse_detections(detections if isinstance(detections, dict) else list(detections))
        if detector is None:
            raise PerceptionError(
                "no detections: give the pipeline a detector, pass detections=..., or call "
                "process_frame with the simulator's instance table"
            )
        if getattr(detector, "uses_segmentation", False):
            return detector.detect(frame.rgb, frame.depth_m, instance=frame.instance, semantic=frame.semantic)  # type: ignore[call-arg]
        return detector.detect(frame.rgb, frame.depth_m)

    def _semantic_detector(self, table: Mapping[int, InstanceInfo] | Sequence[str]) -> SemanticSensorDetector:
        if self._table_detector is None or table is not self._table:
            if isinstance(table, Mapping):
                self._table_detector = SemanticSensorDetector(instances=table)
            else:
                self._table_detector = SemanticSensorDetector(categories=list(table))
            self._table = table
        return self._table_detector

    def _skip(self, err: BadFrameError) -> None:
        self.stats.frames_skipped += 1
        self.stats.skipped_reasons[err.reason] += 1
        if self.stats.skipped_reasons[err.reason] == 1:
            logger.warning("frame skipped: %s (further frames skipped for this reason log at debug)", err)
        else:
            logger.debug("frame skipped: %s", err)

    def _emit(self, tracks: list[Track]) -> list[Observation]:
        observations = [self._observation(t) for t in tracks]
        self.stats.observations_emitted += len(observations)
        self.stats.tracks = len(self.fusion.tracks)
        self.stats.confirmed_tracks = len(self.fusion.confirmed)
        self.stats.tracks_merged = len(self.fusion.merged)
        self.stats.tracks_split = len(self.fusion.split)
        return observations

    def _observation(self, track: Track) -> Observation:
        room = track.room
        words = self.room_names.get(room, room_label(room)) if room else None
        if self.captioner.needs_crop:
            if track.caption is None:
                track.caption = self.captioner.caption(
                    category=track.category, color=track.color, room=words, crop=track.best_crop
                )
                track.best_crop = None
            caption = track.caption
        else:
            caption = self.captioner.caption(category=track.category, color=track.color, room=words)
        attributes = {"views": str(track.count)}
        if len(track.label_votes) > 1:
            attributes["labels"] = ",".join(f"{k}:{v:.2f}" for k, v in list(track.labels.items())[:3])
        if track.color:
            attributes["color"] = track.color
        return Observation(
            category=track.category,
            position=tuple(float(v) for v in track.center),  # type: ignore[arg-type]
            extent=tuple(float(min(max(v, 0.0), MAX_EXTENT_M)) for v in track.extent),  # type: ignore[arg-type]
            caption=caption,
            confidence=float(min(max(track.confidence, 0.0), 1.0)),
            timestamp=track.last_seen,
            object_id=track.track_id,
            source_pose=track.source_pose,
            room=room,
            attributes=attributes,
        )
