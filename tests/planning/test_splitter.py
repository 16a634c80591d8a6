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
         [(SubgoalType.NAVIGATE_TO, "the kitchen"), (SubgoalType.NAVIGATE_TO, "the mug"),
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
