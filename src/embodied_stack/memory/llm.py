"""Optional local language model helpers: summaries, node scoring and answers.

Everything here loads a causal LM with ``transformers`` from a local directory (never from the
hub) and runs it on the CPU by default. None of it is needed: the memory's defaults are the
extractive summariser, embedding scores and template answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embodied_stack._deps import require
from embodied_stack.memory.errors import MemoryError_
from embodied_stack.memory.results import MemoryHit, QueryKind

log = logging.getLogger(__name__)


class LocalCausalLM:
    """A causal LM and its tokenizer from ``model_dir`` (greedy decoding, bounded lengths)."""

    def __init__(self, model_dir: str | Path, *, device: str = "cpu", max_prompt_tokens: int = 768) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise MemoryError_(f"{model_dir}: not a transformers model directory (no config.json)")
        transformers = require("transformers")
        self.torch = require("torch")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
        except (OSError, ValueError) as err:
            raise MemoryError_(f"{model_dir}: cannot load the language model ({err})") from err
        self.model.to(device).eval()
        self.device = device
        self.max_prompt_tokens = max_prompt_tokens

    def _encode(self, prompt: str):  # noqa: ANN202 - tokenizer output
        encoded = self.tokenizer(prompt, return_tensors="pt", truncation=True, max_length=self.max_prompt_tokens)
        return {k: v.to(self.device) for k, v in encoded.items()}

    def generate(self, prompt: str, *, max_new_tokens: int = 96) -> str:
        """Greedy continuation of ``prompt`` (the prompt itself is not returned)."""
        inputs = self._encode(prompt)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self.torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def yes_probability(self, prompt: str) -> float:
        """P(" yes") / (P(" yes") + P(" no")) for the next token after ``prompt``."""
        yes = self.tokenizer.encode(" yes", add_special_tokens=False)
        no = self.tokenizer.encode(" no", add_special_tokens=False)
        if not yes or not no:
            return 0.5
        with self.torch.no_grad():
            logits = self.model(**self._encode(prompt)).logits[0, -1]
        pair = self.torch.stack([logits[yes[0]], logits[no[0]]]).softmax(dim=0)
        return float(pair[0])


class LLMNodeScorer:
    """Adds ``weight * (P(yes) - 0.5)`` to the beam search's embedding scores: the LM judges
    whether each child region is a good place to look (Embodied-RAG's LLM-guided descent)."""

    def __init__(self, llm: LocalCausalLM, weight: float = 0.2) -> None:
        self.llm = llm
        self.weight = weight

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        out = [self.llm.yes_probability(f"Question: {query}\nPlace: {text}\nIs this place relevant? Answer:")
               for text in texts]
        return self.weight * (np.asarray(out, dtype=np.float32) - 0.5)


class LLMAnswerer:
    """Writes the answer from the top hits and their ancestor chains; falls back to a plain
    sentence naming the top hit when the model says nothing."""

    def __init__(self, llm: LocalCausalLM, max_hits: int = 5) -> None:
        self.llm = llm
        self.max_hits = max_hits

    def answer(self, query: str, kind: QueryKind, hits: list[MemoryHit]) -> str:
        if not hits:
            return "I have not seen anything like that yet."
        context = "\n".join(
            f"- {h.name}: {h.text} at ({h.position[0]:.1f}, {h.position[1]:.1f}); in "
            + " > ".join(name for _, name in h.ancestors[:2])
            for h in hits[: self.max_hits]
        )
        prompt = (f"A robot remembers these places:\n{context}\nQuestion ({kind.value}): {query}\n"
                  "Answer in one sentence:")
        reply = self.llm.generate(prompt, max_new_tokens=64).strip().split("\n")[0]
        return reply or f"The best match is the {hits[0].name} at ({hits[0].position[0]:.1f}, {hits[0].position[1]:.1f})."
