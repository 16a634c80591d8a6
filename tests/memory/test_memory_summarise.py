"""Parent names and summaries: extractive by default, an LLM's when it answers sensibly."""

from __future__ import annotations

from embodied_stack.memory.summarise import ExtractiveSummariser, LLMSummariser, NodeDigest


def test_extractive_room_and_zone() -> None:
    summariser = ExtractiveSummariser()
    room = summariser.summarise(NodeDigest(level=2, category_counts={"fridge": 1, "stove": 1, "chair": 4},
                                           n_leaves=6, room_id="kitchen_1", room_category="kitchen"))
    assert room.name == "kitchen (kitchen_1)" and room.room_type == "kitchen" and room.room_confidence == 1.0
    assert room.summary.count(".") in (2, 3) and "4 chair" in room.summary and "cook" in room.summary
    assert "kitchen_1" not in room.text and "fridge" in room.text and "cook" in room.text
    guessed = summariser.summarise(NodeDigest(level=2, category_counts={"bed": 1, "nightstand": 2, "lamp": 1}, n_leaves=4))
    assert guessed.name == "bedroom area" and 0.35 <= guessed.room_confidence < 1.0
    zone = summariser.summarise(NodeDigest(level=1, category_counts={"desk": 1, "office chair": 1}, n_leaves=2,
                                           captions=["a white desk"]))
    assert zone.name == "desk and office chair area" and "a white desk" in zone.text
    site = summariser.summarise(NodeDigest(level=4, category_counts={"bed": 1}, n_leaves=1,
                                           children_names=["group of 3 rooms"]))
    assert site.name == "the whole site" and "group of 3 rooms" in site.summary


def test_embedded_text_ignores_counts() -> None:
    summariser = ExtractiveSummariser()
    one = summariser.summarise(NodeDigest(level=2, category_counts={"sofa": 1, "tv stand": 1}, n_leaves=2))
    more = summariser.summarise(NodeDigest(level=2, category_counts={"sofa": 2, "tv stand": 1}, n_leaves=3))
    assert one.text == more.text and one.summary != more.summary


class _FakeLLM:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    def generate(self, prompt: str, *, max_new_tokens: int = 96) -> str:
        assert "Draft:" in prompt
        return self.reply


def test_llm_summary_and_fallback() -> None:
    digest = NodeDigest(level=2, category_counts={"bed": 1}, n_leaves=1, room_id="bedroom_1", room_category="bedroom")
    good = LLMSummariser(_FakeLLM("Name: Quiet master bedroom\nSummary: A calm room with a bed.")).summarise(digest)
    assert good.name == "Quiet master bedroom" and good.summary == "A calm room with a bed."
    assert good.text == ExtractiveSummariser().summarise(digest).text
    bad = LLMSummariser(_FakeLLM("I cannot help with that")).summarise(digest)
    assert bad == ExtractiveSummariser().summarise(digest)
