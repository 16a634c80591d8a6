"""Model backends on tiny randomly initialised configs: OWLv2 detector and BLIP captioner.

Weights cannot be downloaded here, so each test builds a tiny model and its processor
(tokenizer from a hand-written vocabulary), saves it with ``save_pretrained`` and loads it
through the backend's real ``from_pretrained(local_dir, local_files_only=True)`` path.
"""

from __future__ import annotations

import string

import numpy as np
import pytest
from perception_synth import Box, camera_pose, intrinsics, render

from embodied_stack.perception import (
    BackendError,
    BlipCaptioner,
    PerceptionConfig,
    PerceptionPipeline,
)
from embodied_stack.perception.owlv2 import Owlv2Detector, nms

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCABULARY = ["chair", "sofa", "potted plant"]


@pytest.fixture(scope="module")
def owlv2_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("owlv2")
    # As in CLIP's vocabulary: a query starting with id 0 is padding to OWLv2, and the text is
    # pooled at the highest id, the end-of-text token.
    vocab = {"!": 0, "<|startoftext|>": 1}
    for ch in string.ascii_lowercase:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    eos_id = len(vocab)
    vocab["<|endoftext|>"] = eos_id
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[], pad_token="!")
    config = transformers.Owlv2Config(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=16, bos_token_id=1, eos_token_id=eos_id, pad_token_id=0,
        ),
        vision_config=dict(
            image_size=64, patch_size=16, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = transformers.Owlv2ForObjectDetection(config)
    # Random box regressors saturate to zero-size boxes; zeroing the last layer leaves OWLv2's
    # own prior: one box per 16 px patch, centred on it, a quarter of the image wide.
    torch.nn.init.zeros_(model.box_head.dense2.weight)
    torch.nn.init.zeros_(model.box_head.dense2.bias)
    model.save_pretrained(directory)
    image_processor = transformers.Owlv2ImageProcessor(size={"height": 64, "width": 64})
    transformers.Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def test_owlv2_detects_vocabulary_boxes_inside_the_image(owlv2_dir) -> None:
    detector = Owlv2Detector(owlv2_dir, VOCABULARY, score_threshold=0.0, nms_iou=0.9)
    rgb = np.random.default_rng(0).integers(0, 255, size=(48, 80, 3), dtype=np.uint8)
    detections = detector.detect(rgb, np.ones((48, 80), dtype=np.float32))
    assert detections  # threshold 0 keeps a box per patch, less those NMS merges
    for det in detections:
        assert det.label in VOCABULARY
        x0, y0, x1, y1 = det.box
        assert 0.0 <= x0 < x1 <= 80.0 and 0.0 <= y0 < y1 <= 48.0
        assert 0.0 <= det.score <= 1.0
    cut = sorted(d.score for d in detections)[len(detections) // 2]
    strict = Owlv2Detector(owlv2_dir, VOCABULARY, score_threshold=cut).detect(rgb, np.ones((48, 80), np.float32))
    assert strict and all(d.score >= cut for d in strict)
    assert {(d.label, d.box) for d in strict} <= {(d.label, d.box) for d in detections}
    assert len(strict) < len(detections) or all(d.score == cut for d in detections)


def test_owlv2_runs_inside_the_pipeline(owlv2_dir) -> None:
    camera = intrinsics(96, 72)
    pose = camera_pose(0.0, 0.0, 0.0)
    rgb, depth, _ = render([Box(1, "chair", (2.0, 0.0, 0.45), (0.5, 0.5, 0.9))], pose, camera)
    detector = Owlv2Detector(owlv2_dir, VOCABULARY, score_threshold=0.0)
    pipeline = PerceptionPipeline(PerceptionConfig(min_score=0.0, min_detections=1, min_points=1), detector)
    observations = pipeline.process(rgb, depth, camera, pose, 0.0)
    assert pipeline.stats.frames_processed == 1
    assert pipeline.stats.detections > 0
    assert all(o.category in VOCABULARY and o.frame_id == "map" for o in observations)


def test_missing_model_directory_or_vocabulary_is_a_clear_error(tmp_path, owlv2_dir) -> None:
    with pytest.raises(BackendError, match="no config.json"):
        Owlv2Detector(tmp_path / "nowhere", VOCABULARY)
    with pytest.raises(BackendError, match="vocabulary"):
        Owlv2Detector(owlv2_dir, [" "])
    with pytest.raises(BackendError, match="no config.json"):
        BlipCaptioner(tmp_path / "nowhere")


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=float)
    scores = np.array([0.5, 0.9, 0.4])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]


def test_blip_captioner_on_a_tiny_random_model(tmp_path) -> None:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "white", "fridge", "chair"]
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    config = transformers.BlipConfig(
        text_config=dict(
            vocab_size=len(words), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=32, encoder_hidden_size=32,
            bos_token_id=2, sep_token_id=3, pad_token_id=0, eos_token_id=3,
        ),
        vision_config=dict(
            image_size=32, patch_size=8, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    transformers.BlipForConditionalGeneration(config).save_pretrained(tmp_path)
    image_processor = transformers.BlipImageProcessor(size={"height": 32, "width": 32})
    transformers.BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(tmp_path)
    captioner = BlipCaptioner(tmp_path, max_new_tokens=4)
    crop = np.random.default_rng(0).integers(0, 255, size=(20, 30, 3), dtype=np.uint8)
    text = captioner.caption(category="fridge", color="white", room="kitchen", crop=crop)
    assert text.endswith(", kitchen")
    assert set(text.removesuffix(", kitchen").split()) <= set(words[5:])
    assert captioner.caption(category="fridge", color="white", room=None, crop=None) == "a white fridge"
