"""Captions for observed objects: a template by default, a local vision-language model optionally.

The template writes what the memory's retrieval needs, cheaply: ``"a white fridge, kitchen"``.
:class:`BlipCaptioner` runs a ``transformers`` BLIP captioning model from a local directory
(nothing is downloaded) on the object's crop; the pipeline calls it once per track, when the
track is first emitted.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from embodied_stack._deps import require
from embodied_stack.perception.errors import BackendError

logger = logging.getLogger(__name__)

_ROOM_SUFFIX = re.compile(r"_\d+(_.*)?$")


def room_label(room: str | None) -> str | None:
    """A room id as words for a caption: ``"living_room_1"`` -> ``"living room"``."""
    if not room:
        return None
    return _ROOM_SUFFIX.sub("", room).replace("_", " ").strip() or room


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


@runtime_checkable
class Captioner(Protocol):
    """Writes one caption for an object.

    ``needs_crop`` says whether the captioner looks at the image crop (HxWx3 uint8 RGB); the
    pipeline keeps the best crop per track only for those that do.
    """

    needs_crop: bool

    def caption(
        self, *, category: str, color: str | None = None, room: str | None = None, crop: np.ndarray | None = None
    ) -> str: ...


class TemplateCaptioner:
    """``"a white fridge, kitchen"``: article, colour word, category, room words."""

    needs_crop = False

    def caption(
        self, *, category: str, color: str | None = None, room: str | None = None, crop: np.ndarray | None = None
    ) -> str:
        phrase = f"{color} {category}" if color else category
        text = f"{_article(phrase)} {phrase}"
        return f"{text}, {room}" if room else text


class BlipCaptioner:
    """BLIP image captioning (``BlipForConditionalGeneration``) loaded from a local directory.

    Args:
        model_dir: a directory written by ``save_pretrained`` holding the model and its
            processor (tokenizer and image processor).
        prompt: text the caption continues (conditional captioning), e.g. ``"a photo of"``.
        max_new_tokens: caption length cap.
        device: torch device string.

    Raises:
        BackendError: when the directory is missing or does not hold a BLIP model.
    """

    needs_crop = True

    def __init__(
        self, model_dir: str | Path, *, prompt: str = "a photo of", max_new_tokens: int = 20, device: str = "cpu"
    ) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise BackendError(
                f"captioner model directory {self.model_dir} has no config.json; expected a local "
                "BLIP captioning model saved with save_pretrained (nothing is downloaded at run time)"
            )
        transformers = require("transformers")
        self._torch = require("torch")
        try:
            self.processor = transformers.BlipProcessor.from_pretrained(self.model_dir, local_files_only=True)
            self.model = transformers.BlipForConditionalGeneration.from_pretrained(
                self.model_dir, local_files_only=True
            )
        except (OSError, ValueError, KeyError) as err:
            raise BackendError(f"cannot load a BLIP captioner from {self.model_dir}: {err}") from err
        self.model.to(device).eval()
        self.device = device
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens

    def caption(
        self, *, category: str, color: str | None = None, room: str | None = None, crop: np.ndarray | None = None
    ) -> str:
        """The model's caption of ``crop`` (falls back to the template without one), plus the room."""
        if crop is None or crop.size == 0:
            return TemplateCaptioner().caption(category=category, color=color, room=room)
        inputs = self.processor(images=crop, text=self.prompt or None, return_tensors="pt").to(self.device)
        with self._torch.no_grad():
            tokens = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
        text = " ".join(self.processor.decode(tokens[0], skip_special_tokens=True).split())
        if not text:
            text = TemplateCaptioner().caption(category=category, color=color)
        return f"{text}, {room}" if room else text
