"""Colour words and template captions."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.perception import TemplateCaptioner, room_label
from embodied_stack.perception.color import color_word, name_color


@pytest.mark.parametrize(
    ("rgb", "word"),
    [
        ((245, 245, 240), "white"),
        ((128, 128, 130), "grey"),
        ((20, 20, 25), "black"),
        ((200, 30, 35), "red"),
        ((235, 130, 30), "orange"),
        ((115, 70, 40), "brown"),
        ((215, 195, 155), "beige"),
        ((235, 210, 40), "yellow"),
        ((50, 150, 60), "green"),
        ((30, 150, 150), "teal"),
        ((40, 80, 200), "blue"),
        ((120, 55, 160), "purple"),
        ((240, 150, 180), "pink"),
        ((70, 56, 56), "black"),  # dark and nearly grey: no reliable hue
    ],
)
def test_name_color(rgb: tuple[int, int, int], word: str) -> None:
    assert name_color(rgb) == word


@pytest.mark.parametrize("rgb", [(200, 30, 35), (50, 150, 60), (40, 80, 200)])
def test_chromatic_names_survive_shading(rgb: tuple[int, int, int]) -> None:
    shaded = tuple(int(c * 0.6) for c in rgb)
    assert name_color(shaded) == name_color(rgb)


def test_color_word_uses_the_lit_half_of_the_pixels() -> None:
    lit = np.tile(np.array([[240, 240, 238]], dtype=np.uint8), (60, 1))
    shadow = np.tile(np.array([[110, 110, 108]], dtype=np.uint8), (40, 1))
    assert color_word(np.vstack([lit, shadow])) == "white"
    assert color_word(np.empty((0, 3), dtype=np.uint8)) is None


def test_template_caption_matches_the_memory_examples() -> None:
    captioner = TemplateCaptioner()
    assert captioner.caption(category="fridge", color="white", room="kitchen") == "a white fridge, kitchen"
    assert captioner.caption(category="sofa", color="orange") == "an orange sofa"
    assert captioner.caption(category="armchair") == "an armchair"


@pytest.mark.parametrize(
    ("room", "words"),
    [("kitchen_1", "kitchen"), ("living_room_2", "living room"), ("bedroom_1_south", "bedroom"), ("hall", "hall")],
)
def test_room_label(room: str, words: str) -> None:
    assert room_label(room) == words
