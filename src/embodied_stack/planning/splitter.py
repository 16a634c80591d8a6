"""Task splitting: one instruction in language -> ordered steps, each with an intent.

The default :class:`RuleSplitter` needs no model: it cuts on sequencing words ("then", "after
that", "and finally", ";", numbered lists) and classifies each step as navigation, search or a
question. :class:`LLMSplitter` asks a causal language model loaded with ``transformers`` from a
local path to do the same and falls back to the rules when its output does not parse.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from embodied_stack.planning.errors import InstructionError
from embodied_stack.planning.types import SubgoalType

MAX_INSTRUCTION_CHARS = 1000
logger = logging.getLogger(__name__)

_SEQUENCE = re.compile(
    r"\s*(?:;|\.\s+|,?\s*\band\s+then\b|,?\s*\bthen\b|,?\s*\bafter\s+that\b|,?\s*\bafterwards\b"
    r"|,?\s*\band\s+finally\b|,?\s*\bfinally\b|,?\s*\bnext\b,?|\s+\d+[.)]\s+|^\s*\d+[.)]\s+)\s*",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"^(?:where|what|which|when|how|is|are|was|were|did|do|does|have|has|can you tell|tell me)\b",
    re.IGNORECASE,
)
_SEARCH = re.compile(r"^(?:search|look|find out|explore|check)\b", re.IGNORECASE)
_FIND = re.compile(r"^(?:please\s+)?(?:(?:can|could|would)\s+you\s+)?(?:please\s+)?(?:find|locate|look for|search for)\s+",
                   re.IGNORECASE)
_CHECK = re.compile(r"^(?:please\s+)?(?:check|see|look)\s+(?:whether|if)\s+(?P<thing>.+?)\s+(?P<verb>is|are|was|has)\s+"
                    r"(?P<state>.+)$", re.IGNORECASE)
_NAV_PREFIX = re.compile(
    r"^(?:please\s+)?(?:(?:can|could|would)\s+you\s+)?(?:please\s+)?"
    r"(?:go|head|drive|move|navigate|walk|take me|bring me|lead me|guide me|get me|show me"
    r"|find|locate|return|come)\b(?:\s+(?:back\s+)?(?:to|towards|toward|over to|into|me to))?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Step:
    """One step of a task: the intent and the text to ground in memory."""

    intent: SubgoalType
    text: str  # the step as the user said it
    target: str  # what to look up in memory ("the fridge", "something I can sit on")


class Splitter(Protocol):
    def split(self, instruction: str) -> list[Step]: ...


def check_instruction(instruction: object) -> str:
    """Return the stripped instruction or raise :class:`InstructionError` saying why not."""
    if not isinstance(instruction, str):
        raise InstructionError(f"instruction must be text, got {type(instruction).__name__}")
    text = " ".join(instruction.split())
    if not text:
        raise InstructionError("instruction is empty")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise InstructionError(
            f"instruction is {len(text)} characters; at most {MAX_INSTRUCTION_CHARS} are accepted"
        )
    return text


def classify_all(step_text: str) -> list[Step]:
    """The steps of one part: "check whether the stove is on" is two (go to the stove, then
    answer "is the stove on" from what was seen there); everything else is one."""
    text = step_text.strip(" ,.!")
    check = _CHECK.match(text)
    if check:
        thing = check.group("thing")
        question = f"{check.group('verb')} {thing} {check.group('state')}".rstrip("?")
        return [Step(SubgoalType.NAVIGATE_TO, text, thing), Step(SubgoalType.ANSWER, question + "?", question)]
    return [classify(text)]


def classify(step_text: str) -> Step:
    """Intent and memory target of one step ("find X" is a search: the memory may not know X)."""
    text = step_text.strip(" ,.!")
    if _FIND.match(text):
        target = _FIND.sub("", text, count=1).strip()
        return Step(SubgoalType.SEARCH, text, target or text)
    if _QUESTION.match(text) or text.endswith("?"):
        return Step(SubgoalType.ANSWER, text, text.rstrip("?"))
    if _SEARCH.match(text):
        target = re.sub(r"^(?:search|look|find out|explore|check)\s+(?:for\s+|around\s+)?", "", text, flags=re.I)
        return Step(SubgoalType.SEARCH, text, target or text)
    target = _NAV_PREFIX.sub("", text, count=1).strip()
    target = re.sub(r"^(?:back\s+)?(?:to|towards|toward|into)\s+", "", target, flags=re.IGNORECASE)
    return Step(SubgoalType.NAVIGATE_TO, text, target or text)


class RuleSplitter:
    """Split on sequencing words; no model needed."""

    def split(self, instruction: str) -> list[Step]:
        text = check_instruction(instruction)
        parts = [p.strip(" ,.;") for p in _SEQUENCE.split(text)]
        steps = [step for p in parts if p and len(p.strip(" ,.;")) > 1 for step in classify_all(p)]
        if not steps:
            raise InstructionError(f"no step found in {text!r}")
        return steps


_LLM_PROMPT = (
    "Split the robot task into ordered steps. Answer with JSON only: a list of objects with "
    '"intent" (one of "navigate_to", "search", "answer") and "target" (what to find).\n'
    'Task: go to the fridge, then where is the sofa?\n'
    'Steps: [{"intent": "navigate_to", "target": "the fridge"}, {"intent": "answer", "target": "where is the sofa"}]\n'
    "Task: {task}\nSteps:"
)


class LLMSplitter:
    """Task splitting by a causal LM loaded from a local directory (``transformers``).

    Output that is not the requested JSON falls back to :class:`RuleSplitter`, with a warning.
    """

    def __init__(self, model_dir: str | Path, *, max_new_tokens: int = 160, device: str = "cpu") -> None:
        from embodied_stack._deps import require

        transformers = require("transformers")
        path = Path(model_dir)
        if not path.is_dir():
            raise InstructionError(f"LLM splitter: model directory {str(path)!r} does not exist")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        self.model.to(device).eval()
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.fallback = RuleSplitter()

    def split(self, instruction: str) -> list[Step]:
        import torch

        text = check_instruction(instruction)
        prompt = _LLM_PROMPT.replace("{task}", text)
        encoded = self.tokenizer(prompt, return_tensors="pt")
        inputs = {k: encoded[k].to(self.device) for k in ("input_ids", "attention_mask") if k in encoded}
        with torch.no_grad():
            out = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        completion = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        steps = parse_llm_steps(completion)
        if steps is None:
            logger.warning("LLM splitter output did not parse; using the rule splitter")
            return self.fallback.split(text)
        return steps


def parse_llm_steps(completion: str) -> list[Step] | None:
    """Parse the JSON list an LLM wrote; None when it is not the expected shape."""
    match = re.search(r"\[.*?\]", completion, re.DOTALL)
    if not match:
        return None
    try:
        items = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    names = {"navigate_to": SubgoalType.NAVIGATE_TO, "search": SubgoalType.SEARCH, "answer": SubgoalType.ANSWER}
    steps = []
    for item in items:
        if not isinstance(item, dict) or item.get("intent") not in names or not isinstance(item.get("target"), str):
            return None
        steps.append(Step(names[item["intent"]], item["target"], item["target"]))
    return steps or None
