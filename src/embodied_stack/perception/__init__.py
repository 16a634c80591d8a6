"""Perception: RGB-D frames and camera poses -> object observations for the memory.

Detector backends (the simulated detector with realistic errors, the simulator's semantic
sensor as an oracle, OWLv2 open-vocabulary detector, external detections) behind one :class:`Detector` protocol; back-projection and open3d outlier removal;
colour words and captions; fusion of repeated sightings into tracks with stable ids.
"""

from embodied_stack.perception.captioner import (
    BlipCaptioner,
    Captioner,
    TemplateCaptioner,
    room_label,
)
from embodied_stack.perception.config import PerceptionConfig
from embodied_stack.perception.detection import Detection, Detector
from embodied_stack.perception.errors import (
    BackendError,
    BadFrameError,
    ConfigError,
    DetectionFormatError,
    PerceptionError,
)
from embodied_stack.perception.external import (
    ExternalDetector,
    load_detections_json,
    parse_detections,
)
from embodied_stack.perception.frames import RGBDFrame, validate_frame
from embodied_stack.perception.fusion import ObjectFusion, Sighting, Track
from embodied_stack.perception.pipeline import PerceptionPipeline, PerceptionStats
from embodied_stack.perception.semantic_sensor import SemanticSensorDetector
from embodied_stack.perception.simulated import DetectorErrors, SimulatedDetector, simulator_detector

__all__ = [
    "BackendError",
    "BadFrameError",
    "BlipCaptioner",
    "Captioner",
    "ConfigError",
    "Detection",
    "DetectionFormatError",
    "Detector",
    "ExternalDetector",
    "ObjectFusion",
    "PerceptionConfig",
    "PerceptionError",
    "PerceptionPipeline",
    "PerceptionStats",
    "RGBDFrame",
    "SemanticSensorDetector",
    "SimulatedDetector",
    "DetectorErrors",
    "simulator_detector",
    "Sighting",
    "TemplateCaptioner",
    "Track",
    "load_detections_json",
    "parse_detections",
    "room_label",
    "validate_frame",
]
