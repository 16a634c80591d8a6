"""The optional local-LLM helpers, on a tiny randomly initialised GPT-2 saved to disk (no hub)."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_stack.memory.errors import MemoryError_
from embodied_stack.memory.llm import LLMAnswerer, LLMNodeScorer, LocalCausalLM
from embodied_stack.memory.results import QueryKind
from embodied_stack.memory.semantic_memory import SemanticMemory
from embodied_stack.memory.summarise import ExtractiveSummariser, LLMSummariser, NodeDigest
from embodied_stack.memory.types import Observation


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> LocalCausalLM:
    torch = pytest.importorskip("torch")
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    words = ["[UNK]", "[EOS]", "yes", "no", "name", "summary", "room", "a", "the", "bed", "kitchen", ":"]
    model = tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]")
    raw = tokenizers.Tokenizer(model)
    raw.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", eos_token="[EOS]",
                                                     pad_token="[EOS]")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(words), n_positions=1024, n_embd=16, n_layer=1, n_head=2,
                                     eos_token_id=1, bos_token_id=1)
    directory = tmp_path_factory.mktemp("tiny_lm")
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return LocalCausalLM(directory)


def test_local_lm_generates_and_scores(tiny_lm: LocalCausalLM) -> None:
    reply = tiny_lm.generate("the kitchen room", max_new_tokens=4)
    assert isinstance(reply, str)
    assert 0.0 <= tiny_lm.yes_probability("is the bed a room ?") <= 1.0
    scores = LLMNodeScorer(tiny_lm, weight=0.2).score("the bed", ["a kitchen", "a bed"])
    assert scores.shape == (2,) and np.all(np.abs(scores) <= 0.1)


def test_llm_parts_plug_into_the_memory(tiny_lm: LocalCausalLM, hash_embedder) -> None:
    digest = NodeDigest(level=2, category_counts={"bed": 1}, n_leaves=1, room_category="bedroom")
    # random weights never write "Name: ... Summary: ...": the extractive summary stands in
    assert LLMSummariser(tiny_lm, max_new_tokens=8).summarise(digest) == ExtractiveSummariser().summarise(digest)
    memory = SemanticMemory(embedder=hash_embedder, summariser=LLMSummariser(tiny_lm, max_new_tokens=4),
                            scorer=LLMNodeScorer(tiny_lm), answerer=LLMAnswerer(tiny_lm))
    memory.ingest([Observation("bed", (1.0, 1.0, 0.4), caption="a bed")])
    result = memory.query("where is the bed?", kind=QueryKind.EXPLICIT)
    assert result.hits[0].name == "bed" and isinstance(result.answer, str) and result.answer


def test_missing_model_directory(tmp_path) -> None:
    with pytest.raises(MemoryError_, match="no config.json"):
        LocalCausalLM(tmp_path)
