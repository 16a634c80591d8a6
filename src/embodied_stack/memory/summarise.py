"""Names and summaries of parent nodes, written by a summariser.

The default :class:`ExtractiveSummariser` needs no model: it counts the categories under a
node, guesses the room type from the commonsense table when the room segmentation does not
give it (HOV-SG-style voting), and writes a 3-5 word name, a 2-3 sentence summary, and the
text to embed. The embedded text leaves out volatile numbers (sighting counts, times) so that
re-summarising after a routine sighting does not change it and the embedding cache absorbs it.
:class:`LLMSummariser` asks a local causal language model instead, falling back to the
extractive text when the model's answer cannot be parsed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from embodied_stack.memory.knowledge import Knowledge, default_knowledge, normalize_phrase

log = logging.getLogger(__name__)

LEVEL_NAMES = ("object", "zone", "room", "building", "site")
_MIN_ROOM_SHARE = 0.35
_FULL_EVIDENCE_LEAVES = 3.0


@dataclass
class NodeDigest:
    """What a summariser knows about a parent node."""

    level: int
    category_counts: Mapping[str, int]
    n_leaves: int
    room_id: str | None = None
    room_category: str | None = None
    room_category_confidence: float = 1.0
    """How sure the spatial context is of ``room_category`` (the robot's typing confidence)."""
    children_names: Sequence[str] = field(default_factory=list)
    """Names of the children (buildings and the site; read lazily: the site has thousands)."""
    captions: list[str] = field(default_factory=list)
    children_types: list[str] = field(default_factory=list)
    """Room types of the rooms a building groups."""

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[min(self.level, len(LEVEL_NAMES) - 1)]


@dataclass(frozen=True)
class Summary:
    name: str
    summary: str
    text: str
    """The text that is embedded for retrieval."""
    room_type: str | None = None
    room_confidence: float = 0.0
    """The spatial context's confidence when it gave the type (1 for scene rooms, the robot's
    typing confidence for its own rooms), else the share of the category vote, scaled down for
    nodes of fewer than 3 objects."""


@runtime_checkable
class Summariser(Protocol):
    def summarise(self, digest: NodeDigest) -> Summary: ...


class ExtractiveSummariser:
    """Template summaries from category counts and the commonsense table (no model)."""

    def __init__(self, knowledge: Knowledge | None = None) -> None:
        self.knowledge = knowledge or default_knowledge()

    def room_type(self, digest: NodeDigest) -> tuple[str | None, float]:
        """The node's room type and how sure it is (the spatial context's confidence when it says so)."""
        if digest.room_category:
            return (self.knowledge.canonical_room(digest.room_category) or digest.room_category,
                    float(digest.room_category_confidence))
        if digest.level > 2:
            return None, 0.0
        guess, share = self.knowledge.vote_room(digest.category_counts)
        if share < _MIN_ROOM_SHARE:
            return None, 0.0
        # One exercise ball is weak evidence of a gym: confidence grows with the evidence.
        return guess, share * min(1.0, digest.n_leaves / _FULL_EVIDENCE_LEAVES)

    def summarise(self, digest: NodeDigest) -> Summary:
        ranked = sorted(digest.category_counts.items(), key=lambda item: (-item[1], item[0]))
        top = [name for name, _ in ranked]
        room_type, confidence = self.room_type(digest)
        level = digest.level_name
        # A room keeps the category its segmentation gave it ("guest bedroom") in its name and
        # text; the table's type ("bedroom") supplies the activities.
        given = normalize_phrase(digest.room_category) if digest.room_category else None
        if level == "zone":
            name = f"{top[0]} and {top[1]} area" if len(top) > 1 else f"{top[0]} area" if top else "empty area"
        elif level == "room":
            kind = given or room_type or "room"
            name = f"{kind} ({digest.room_id})" if digest.room_id else f"{kind} area"
        elif level == "building":
            name = f"group of {len(digest.children_names)} rooms" if len(digest.children_names) != 1 \
                else f"{digest.children_names[0]} block"
        else:
            name = "the whole site"
        listed = ", ".join(f"{n} {c}" if n > 1 else c for c, n in ((c, digest.category_counts[c]) for c in top[:6]))
        more = f" and {len(top) - 6} more kinds" if len(top) > 6 else ""
        plural = "s" if digest.n_leaves != 1 else ""
        sentences = [f"{_capital(name)} holds {digest.n_leaves} object{plural}: {listed}{more}."]
        activities = self.knowledge.activities(room_type) if room_type else ()
        if activities:
            sentences.append(f"A place to {_join(activities[:4])}.")
        else:
            uses = [u for c in top[:3] for u in self.knowledge.uses(c)[:2]]
            if uses:
                sentences.append(f"Things here are used to {_join(uses[:4])}.")
        if level in ("building", "site") and digest.children_names:
            extra = f" and {len(digest.children_names) - 6} more" if len(digest.children_names) > 6 else ""
            sentences.append(f"It includes {', '.join(digest.children_names[:6])}{extra}.")
        # Room ids ("kitchen_1") and counts are for people; the embedded text leaves them out.
        head = {"room": given or room_type or "room", "building": "rooms of one building"}.get(level, name)
        text_parts = [head]
        if room_type:
            label = given if given and level == "room" else room_type
            text_parts.append(f"{label}: a place to {', '.join(activities[:5])}" if activities else label)
        if level == "zone" and digest.captions:
            text_parts.append("; ".join(digest.captions[:4]))
        # The most common kinds in alphabetical order: the text changes only when that set does.
        text_parts.append("has " + ", ".join(sorted(top[:8])))
        if digest.children_types:
            text_parts.append("rooms: " + ", ".join(digest.children_types[:8]))
        return Summary(name, " ".join(sentences), ". ".join(text_parts), room_type, confidence)


class LLMSummariser:
    """Asks a local causal LM (see :class:`~embodied_stack.memory.llm.LocalCausalLM`) for a name
    and a summary; the embedded text stays the extractive one so retrieval does not depend on
    sampling. Unparseable answers fall back to the extractive summary."""

    def __init__(self, llm: object, knowledge: Knowledge | None = None, max_new_tokens: int = 96) -> None:
        self.llm = llm
        self.fallback = ExtractiveSummariser(knowledge)
        self.max_new_tokens = max_new_tokens

    def summarise(self, digest: NodeDigest) -> Summary:
        base = self.fallback.summarise(digest)
        prompt = (
            "You describe places a robot has mapped.\n"
            f"Level: {digest.level_name}. Draft: {base.summary}\n"
            "Reply with two lines:\nName: <3 to 5 words>\nSummary: <2 or 3 sentences>\n"
        )
        reply = self.llm.generate(prompt, max_new_tokens=self.max_new_tokens)
        name_match = re.search(r"Name:\s*(.+)", reply)
        summary_match = re.search(r"Summary:\s*(.+)", reply)
        if not name_match or not summary_match:
            log.debug("LLM summary not parseable; using the extractive one")
            return base
        name = " ".join(name_match.group(1).split()[:5]).strip(" .")
        summary = summary_match.group(1).strip()
        if not name or len(summary) < 10:
            return base
        return Summary(name, summary, base.text, base.room_type, base.room_confidence)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(items: list[str] | tuple[str, ...]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
