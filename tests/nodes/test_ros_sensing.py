"""The sensing node's logic: pairing images by stamp, decoding a frame, backend specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from embodied_stack_ros import conversions as cv
from embodied_stack_ros.errors import ParameterError
from embodied_stack_ros.sensing import (
    FrameAssembler,
    FrameMessages,
    decode_frame,
    make_captioner,
    make_detector,
)

from embodied_stack.bags.errors import MalformedMessageError
from embodied_stack.perception import TemplateCaptioner


def test_newest_complete_frame_wins_and_older_ones_are_dropped() -> None:
    frames = FrameAssembler(tolerance_s=0.02, need_instance=False)
    for t in (1.0, 1.1, 1.2):
        frames.add("color", t, f"c{t}")
    frames.add("depth", 1.005, "d1.0")
    frames.add("depth", 1.11, "d1.1")
    got = frames.pop()
    assert got is not None and (got.stamp_s, got.color, got.depth, got.instance) == (1.1, "c1.1", "d1.1", None)
    assert frames.pop() is None
    frames.add("depth", 1.2, "d1.2")
    got = frames.pop()
    assert got is not None and got.color == "c1.2"


def test_partners_outside_the_tolerance_do_not_pair() -> None:
    frames = FrameAssembler(tolerance_s=0.01, need_instance=False)
    frames.add("color", 2.0, "c")
    frames.add("depth", 2.05, "d")
    assert frames.pop() is None


def test_instance_images_are_part_of_a_frame_when_needed() -> None:
    frames = FrameAssembler(tolerance_s=0.0, need_instance=True)
    frames.add("color", 3.0, "c")
    frames.add("depth", 3.0, "d")
    assert frames.pop() is None
    frames.add("instance", 3.0, "i")
    got = frames.pop()
    assert got is not None and got.instance == "i"


def test_decode_frame(ros_messages: Any) -> None:
    rgb = np.full((4, 6, 3), 200, np.uint8)
    depth = np.full((4, 6), 2.0, np.float32)
    instance = np.arange(24, dtype=np.int32).reshape(4, 6)
    messages = FrameMessages(1.0, cv.image_to_ros(rgb, "cam", 1.0), cv.image_to_ros(depth, "cam", 1.0),
                             cv.image_to_ros(instance, "cam", 1.0))
    out_rgb, out_depth, out_instance = decode_frame(messages)
    np.testing.assert_array_equal(out_rgb, rgb)
    np.testing.assert_array_equal(out_depth, depth)
    np.testing.assert_array_equal(out_instance, instance)
    messages.depth.encoding = "bgr8"
    with pytest.raises(MalformedMessageError, match="not a depth encoding"):
        decode_frame(messages)


def test_backend_specs() -> None:
    assert make_detector("semantic", []) is None
    assert isinstance(make_captioner("template"), TemplateCaptioner)
    with pytest.raises(ParameterError, match="config.json"):
        make_detector("owlv2:/no/such/dir", ["chair"])
    with pytest.raises(ParameterError, match="config.json"):
        make_captioner("blip:/no/such/dir")
