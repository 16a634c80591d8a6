"""Reading time phrases in questions ("this morning", "yesterday", "in the last 10 minutes").

Timestamps are seconds (ROS time as float). Times of day are read in UTC shifted by the
configured offset; "now" is the memory's own latest sighting time unless the caller gives one,
so a simulation that starts its clock at 0 works the same as a robot on wall-clock time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DAY_S = 86_400.0
_UNITS = {"second": 1.0, "sec": 1.0, "minute": 60.0, "min": 60.0, "hour": 3600.0, "day": DAY_S, "week": 7 * DAY_S}
_PARTS_OF_DAY = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24), "tonight": (18, 24)}

_RELATIVE = re.compile(r"\b(?:in|during|within|over) the (?:last|past) (\d+|a|an|one|few)?\s*"
                       r"(second|sec|minute|min|hour|day|week)s?\b")
_AGO = re.compile(r"\b(\d+|a|an|one|few) (second|sec|minute|min|hour|day|week)s? ago\b")
_PART = re.compile(r"\b(?:this |in the )?(morning|afternoon|evening|tonight)\b")
_YESTERDAY = re.compile(r"\byesterday(?: (morning|afternoon|evening))?\b")
_LAST_NIGHT = re.compile(r"\blast night\b")
_TODAY = re.compile(r"\btoday\b")
TEMPORAL_CUES = re.compile(
    r"\b(when|what time|how long ago|last (?:saw|seen|see|time)|first (?:saw|seen|see|time)|yesterday|today|"
    r"tonight|last night|this (?:morning|afternoon|evening)|earlier today|ago|recently|(?:in|during|within|over) "
    r"the (?:last|past)|has anything (?:moved|changed)|(?:been )?moved|disappeared|still there|anything new)\b"
)
_STRIP = re.compile(
    r"\b(when|what time|how long ago|did you|have you|do you|last|first|time|seen|saw|see|noticed|notice|"
    r"earlier|recently|ago|today|yesterday|tonight|night|this|morning|afternoon|evening|was|were|there|"
    r"in the (?:last|past) \S+ \S+|during the (?:last|past) \S+ \S+)\b"
)


@dataclass(frozen=True)
class TimeQuery:
    """What a question asks about time: a window [start, end] (seconds), and whether it asks
    for the first or the last sighting."""

    start: float | None
    end: float | None
    wants_first: bool = False
    label: str = ""
    """The phrase that set the window ("this morning"), for answers."""

    @property
    def has_window(self) -> bool:
        return self.start is not None


def _count(word: str | None) -> float:
    if not word or word in ("a", "an", "one"):
        return 1.0
    if word == "few":
        return 3.0
    return float(word)


def parse_time_query(text: str, now: float, offset_h: float = 0.0) -> TimeQuery:
    """The time window a question names, relative to ``now`` (seconds)."""
    lowered = text.lower()
    wants_first = bool(re.search(r"\bfirst\b", lowered))
    shift = offset_h * 3600.0
    local_now = datetime.fromtimestamp(now + shift, tz=timezone.utc)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() - shift
    match = _RELATIVE.search(lowered)
    if match:
        return TimeQuery(now - _count(match.group(1)) * _UNITS[match.group(2)], now, wants_first, match.group(0))
    match = _AGO.search(lowered)
    if match:
        span = _count(match.group(1)) * _UNITS[match.group(2)]
        centre = now - span
        return TimeQuery(centre - span / 2.0, centre + span / 2.0, wants_first, f"about {match.group(0)}")
    match = _YESTERDAY.search(lowered)
    if match:
        start, end = midnight - DAY_S, midnight
        if match.group(1):
            lo, hi = _PARTS_OF_DAY[match.group(1)]
            start, end = midnight - DAY_S + lo * 3600.0, midnight - DAY_S + hi * 3600.0
        return TimeQuery(start, end, wants_first, match.group(0))
    if _LAST_NIGHT.search(lowered):
        return TimeQuery(midnight - 6 * 3600.0, midnight + 6 * 3600.0, wants_first, "last night")
    match = _PART.search(lowered)
    if match:
        lo, hi = _PARTS_OF_DAY[match.group(1)]
        return TimeQuery(midnight + lo * 3600.0, midnight + hi * 3600.0, wants_first, f"this {match.group(1)}")
    if _TODAY.search(lowered):
        return TimeQuery(midnight, midnight + DAY_S, wants_first, "today")
    return TimeQuery(None, None, wants_first)


def strip_time_words(text: str) -> str:
    """The question without its time words ("when did you last see the red mug" -> "the red mug")."""
    stripped = _STRIP.sub(" ", text.lower())
    return " ".join(stripped.replace("?", " ").split())


def format_time(t: float, now: float, offset_h: float = 0.0) -> str:
    """A readable time with how long ago it was ("2024-05-01 14:03 (2 h ago)" or "t=120 s (3 min ago)")."""
    ago = max(0.0, now - t)
    if ago < 90:
        rel = f"{ago:.0f} s ago"
    elif ago < 5400:
        rel = f"{ago / 60:.0f} min ago"
    elif ago < 2 * DAY_S:
        rel = f"{ago / 3600:.1f} h ago"
    else:
        rel = f"{ago / DAY_S:.1f} days ago"
    if t < 1e8:
        clock = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=t + offset_h * 3600.0)
        return f"t={t:.0f} s, {clock:%H:%M} ({rel})"
    stamp = datetime.fromtimestamp(t + offset_h * 3600.0, tz=timezone.utc)
    return f"{stamp:%Y-%m-%d %H:%M} ({rel})"
