"""Everyday commonsense about indoor things and rooms, read from a data file.

The table (``embodied_stack/data/memory/knowledge.json``, format ``embodied-stack.knowledge/1``)
says what common objects are for (their uses), where they usually are, their synonyms, and what
people do in each kind of room. The memory uses it without any language model to

- enrich the text embedded for each leaf ("bed: sleep, take a nap, lie down"), so that a need
  ("somewhere to nap") lands near the thing that meets it;
- name and describe clusters (a room is probably a kitchen when it holds a fridge and a stove);
- find the categories and room types a query names ("refrigerator" is a fridge).

It is general knowledge, not tuned to any scene. What each category is used for, where it
usually is and what people do in each room come from a generated table
(``category_table.json``, written by ``scripts/make_knowledge_table.py`` from auditable general
rules: kinds of use with plain phrases, each category's kinds of use and rooms), not from
phrasings of any evaluation; ``knowledge.json`` adds synonyms and modifiers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from embodied_stack.errors import FormatError

KNOWLEDGE_FORMAT = "embodied-stack.knowledge/1"
TABLE_FORMAT = "embodied-stack.category-table/1"
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "memory" / "knowledge.json"
DEFAULT_TABLE = DEFAULT_PATH.with_name("category_table.json")
"""The generated table of uses and usual rooms (scripts/make_knowledge_table.py): its uses, rooms
and room activities replace the knowledge file's, which then supplies synonyms and modifiers."""
_SPACES = re.compile(r"[\s_]+")


def normalize_phrase(text: str) -> str:
    """Lower-case, underscores to spaces, single spaces, stripped ("Coffee_Table " -> "coffee table")."""
    return _SPACES.sub(" ", text.strip().lower())


@dataclass(frozen=True)
class CategoryInfo:
    name: str
    synonyms: tuple[str, ...]
    uses: tuple[str, ...]
    rooms: tuple[str, ...]


@dataclass(frozen=True)
class RoomInfo:
    name: str
    synonyms: tuple[str, ...]
    activities: tuple[str, ...]


class Knowledge:
    """The commonsense table, with phrase lookup compiled once."""

    def __init__(self, categories: Mapping[str, CategoryInfo], rooms: Mapping[str, RoomInfo],
                 modifiers: Iterable[str] = ()) -> None:
        self.categories = dict(categories)
        self.rooms = dict(rooms)
        self.modifiers = frozenset(modifiers)
        self._alias: dict[str, str] = {}
        for info in self.categories.values():
            for phrase in (info.name, *info.synonyms):
                self._alias.setdefault(phrase, info.name)
        self._room_alias: dict[str, str] = {}
        for room in self.rooms.values():
            for phrase in (room.name, *room.synonyms):
                self._room_alias.setdefault(phrase, room.name)
        self._room_pattern = _phrase_pattern(self._room_alias)
        self._patterns: dict[frozenset[str], re.Pattern[str]] = {}
        self._canonical_cache: dict[str, str | None] = {}
        self._room_cache: dict[str, str | None] = {}

    @classmethod
    def load(cls, path: str | Path | None = None, table: str | Path | None = None) -> Knowledge:
        """Read a knowledge file (the packaged one by default, with the packaged generated table)
        and optionally a generated table whose uses, rooms and room activities replace the
        file's; malformed files raise FormatError."""
        if path is None and table is None and DEFAULT_TABLE.is_file():
            table = DEFAULT_TABLE
        path = Path(path) if path is not None else DEFAULT_PATH
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise FormatError(f"cannot read ({err.strerror})", path=str(path)) from err
        except json.JSONDecodeError as err:
            raise FormatError(f"not valid JSON ({err.msg} at line {err.lineno})", path=str(path)) from err
        if not isinstance(data, dict) or data.get("format") != KNOWLEDGE_FORMAT:
            raise FormatError(f"expected {KNOWLEDGE_FORMAT!r}", path=str(path), field="format")
        categories = {}
        for name, entry in _mapping(data, "categories", path).items():
            categories[normalize_phrase(name)] = CategoryInfo(
                normalize_phrase(name),
                _strings(entry, "synonyms", path, name),
                _strings(entry, "uses", path, name),
                _strings(entry, "rooms", path, name),
            )
        rooms = {}
        for name, entry in _mapping(data, "rooms", path).items():
            rooms[normalize_phrase(name)] = RoomInfo(
                normalize_phrase(name), _strings(entry, "synonyms", path, name), _strings(entry, "activities", path, name)
            )
        modifiers = data.get("modifiers", [])
        if not isinstance(modifiers, list) or not all(isinstance(m, str) for m in modifiers):
            raise FormatError("expected a list of words", path=str(path), field="modifiers")
        if table is not None:
            _apply_table(Path(table), categories, rooms)
        return cls(categories, rooms, [normalize_phrase(m) for m in modifiers])

    def canonical(self, category: str) -> str | None:
        """The table's name for a category phrase: exact, synonym, singular, then the head noun."""
        if category not in self._canonical_cache:
            if len(self._canonical_cache) > 100_000:
                self._canonical_cache.clear()
            self._canonical_cache[category] = self._canonical(category)
        return self._canonical_cache[category]

    def _canonical(self, category: str) -> str | None:
        phrase = normalize_phrase(category)
        for candidate in (phrase, _singular(phrase)):
            if candidate in self._alias:
                return self._alias[candidate]
        words = phrase.split()
        # Drop leading modifiers only ("red coffee mugs" -> "mug"): a "foosball table" is no table.
        for start in range(1, len(words)):
            if words[start - 1] not in self.modifiers:
                break
            tail = " ".join(words[start:])
            for candidate in (tail, _singular(tail)):
                if candidate in self._alias:
                    return self._alias[candidate]
        return None

    def canonical_room(self, room_type: str) -> str | None:
        """The table's room type for a phrase ("lounge" -> "living room"), or None."""
        found = self._room_cache.get(room_type, False)
        if found is False:
            words = normalize_phrase(room_type).split()
            # "guest bedroom" -> "bedroom": the longest known tail
            found = next((self._room_alias.get(tail) or self._room_alias.get(_singular(tail))
                          for tail in (" ".join(words[i:]) for i in range(len(words)))
                          if self._room_alias.get(tail) or self._room_alias.get(_singular(tail))), None)
            if len(self._room_cache) > 10_000:
                self._room_cache.clear()
            self._room_cache[room_type] = found
        return found

    def uses(self, category: str) -> tuple[str, ...]:
        name = self.canonical(category)
        return self.categories[name].uses if name else ()

    def typical_rooms(self, category: str) -> tuple[str, ...]:
        name = self.canonical(category)
        return self.categories[name].rooms if name else ()

    def activities(self, room_type: str) -> tuple[str, ...]:
        name = self.canonical_room(room_type)
        return self.rooms[name].activities if name else ()

    def leaf_text(self, category: str, caption: str) -> str:
        """The text embedded for a leaf: its caption, then what the category is for.

        ``("fridge", "a tall white fridge")`` -> ``"a tall white fridge. fridge: keep food cold,
        get a cold drink, ..."``. The caption comes first so that explicit queries, which name
        the thing and its look, match it; the uses let implicit queries (needs) match.
        """
        category = normalize_phrase(category)
        caption = " ".join(caption.split())
        head = caption if caption else category
        if caption and category not in caption.lower():
            head = f"{category}, {caption}"
        uses = self.uses(category)
        return f"{head}. {category}: {', '.join(uses)}" if uses else head

    def vote_room(self, category_counts: Mapping[str, int]) -> tuple[str | None, float]:
        """The room type these objects suggest and its share of the vote (HOV-SG-style voting)."""
        votes: dict[str, float] = {}
        total = 0.0
        for category, count in category_counts.items():
            rooms = self.typical_rooms(category)
            if not rooms:
                continue
            # The first listed room is the most typical one: it gets twice the weight of the others.
            weights = [2.0] + [1.0] * (len(rooms) - 1)
            norm = sum(weights)
            for room, weight in zip(rooms, weights, strict=True):
                votes[room] = votes.get(room, 0.0) + count * weight / norm
            total += count
        if not votes:
            return None, 0.0
        best = max(sorted(votes), key=votes.__getitem__)
        return best, votes[best] / total

    def find_categories(self, text: str, extra: Iterable[str] = ()) -> list[str]:
        """Categories a free text names, longest phrase first: the table's canonical name for
        phrases it knows, else the extra vocabulary's (the memory's categories) own phrase."""
        key = extra if isinstance(extra, frozenset) else frozenset(extra)
        pattern = self._patterns.get(key)
        if pattern is None:
            extra_set = {normalize_phrase(e) for e in key if e.strip()}
            vocabulary = dict(self._alias)
            for phrase in extra_set:
                vocabulary.setdefault(phrase, self.canonical(phrase) or phrase)
            pattern = _phrase_pattern(vocabulary)
            if len(self._patterns) > 16:
                self._patterns.clear()
            self._patterns[key] = pattern
        found: list[str] = []
        for match in pattern.finditer(normalize_phrase(text)):
            phrase = match.group(1)
            name = self._alias.get(phrase) or (phrase if phrase in key else self.canonical(phrase) or phrase)
            if name not in found:
                found.append(name)
        return found

    def find_room_types(self, text: str) -> list[str]:
        """Room types a free text names ("the lounge" -> ["living room"])."""
        found: list[str] = []
        for match in self._room_pattern.finditer(normalize_phrase(text)):
            name = self._room_alias[match.group(1)]
            if name not in found:
                found.append(name)
        return found


def _apply_table(path: Path, categories: dict[str, CategoryInfo], rooms: dict[str, RoomInfo]) -> None:
    """Replace uses, usual rooms and room activities by the generated table's (in place)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise FormatError(f"cannot read ({err.strerror})", path=str(path)) from err
    except json.JSONDecodeError as err:
        raise FormatError(f"not valid JSON ({err.msg} at line {err.lineno})", path=str(path)) from err
    if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
        raise FormatError(f"expected {TABLE_FORMAT!r}", path=str(path), field="format")
    for name, entry in _mapping(data, "categories", path).items():
        key = normalize_phrase(name)
        old = categories.get(key)
        categories[key] = CategoryInfo(key, old.synonyms if old else (), _strings(entry, "uses", path, name),
                                       _strings(entry, "rooms", path, name))
    for name, entry in _mapping(data, "rooms", path).items():
        key = normalize_phrase(name)
        old_room = rooms.get(key)
        rooms[key] = RoomInfo(key, old_room.synonyms if old_room else (), _strings(entry, "activities", path, name))


@lru_cache(maxsize=1)
def default_knowledge() -> Knowledge:
    """The packaged table, loaded once."""
    return Knowledge.load()


def _phrase_pattern(vocabulary: Mapping[str, str]) -> re.Pattern[str]:
    """One alternation of the phrases, longest first; matches nothing when there are none (an
    empty alternation would match the empty string everywhere)."""
    phrases = sorted((p for p in vocabulary if p), key=len, reverse=True)
    if not phrases:
        return re.compile(r"(?!)")
    alternatives = "|".join(re.escape(p) for p in phrases)
    return re.compile(rf"\b({alternatives})(?:s|es)?\b")


def _singular(phrase: str) -> str:
    if phrase.endswith("ies") and len(phrase) > 4:
        return phrase[:-3] + "y"
    if phrase.endswith(("ches", "shes", "sses", "xes")):
        return phrase[:-2]
    if phrase.endswith("s") and not phrase.endswith("ss") and len(phrase) > 3:
        return phrase[:-1]
    return phrase


def _mapping(data: dict, key: str, path: Path) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise FormatError("expected an object", path=str(path), field=key)
    return value


def _strings(entry: object, key: str, path: Path, name: str) -> tuple[str, ...]:
    value = entry.get(key, []) if isinstance(entry, dict) else None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError("expected a list of strings", path=str(path), field=f"{name}.{key}")
    return tuple(normalize_phrase(v) if key == "synonyms" else v.strip() for v in value)


class KnowledgeMatcher:
    """Scores a query against every use phrase and room activity of the table, one phrase at a
    time (a short phrase matches a need far more sharply than a long concatenation does).

    ``affordance(q)``: for each category, the best cosine between the query and one of its uses
    ("I'm thirsty" vs "get a cold drink"). ``activity(q)``: for each room type, the best cosine
    with "a place to <activity>". The phrases are embedded once per embedder.
    """

    def __init__(self, knowledge: Knowledge, embed: Callable[[list[str]], np.ndarray]) -> None:
        categories = [c for c in knowledge.categories.values() if c.uses]
        self.category_names = [c.name for c in categories]
        self._use_owner = np.repeat(np.arange(len(categories)), [len(c.uses) for c in categories])
        self._uses = embed([u for c in categories for u in c.uses])
        rooms = list(knowledge.rooms.values())
        self.room_names = [r.name for r in rooms]
        phrases = [[f"a place to {a}" for a in r.activities] + [r.name] for r in rooms]
        self._activity_owner = np.repeat(np.arange(len(rooms)), [len(p) for p in phrases])
        self._activities = embed([p for group in phrases for p in group])

    def affordance(self, q: np.ndarray) -> dict[str, float]:
        best = np.full(len(self.category_names), -1.0)
        np.maximum.at(best, self._use_owner, self._uses @ q)
        return dict(zip(self.category_names, best.tolist(), strict=True))

    def activity(self, q: np.ndarray) -> dict[str, float]:
        best = np.full(len(self.room_names), -1.0)
        np.maximum.at(best, self._activity_owner, self._activities @ q)
        return dict(zip(self.room_names, best.tolist(), strict=True))
