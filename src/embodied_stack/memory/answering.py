"""Turning ranked candidates into hits (with reachable target poses) and answer text.

Answers are templates by default; an :class:`Answerer` (e.g. a local LLM) may write them
instead from the same hits. Temporal questions are answered from first/last-seen times and the
sighting log, as ReMEmbR does with its time tool.
"""

from __future__ import annotations

import math
import re
from typing import Protocol

import numpy as np

from embodied_stack.memory.history import CHANGE_CUES, ON_ANCHOR, changes_in, latest_of, on_anchor
from embodied_stack.memory.nodes import ROOM, SITE, ZONE
from embodied_stack.memory.results import MemoryHit, QueryKind, leaf_id, node_id
from embodied_stack.memory.retrieval import Ranked, Retriever
from embodied_stack.memory.state import MemoryState
from embodied_stack.memory.temporal import TimeQuery, format_time, parse_time_query
from embodied_stack.types import Pose2D

_HOW_MANY = re.compile(r"\bhow many\b")


class AnsweringState(MemoryState, Protocol):
    """The memory's data plus the retriever that ranks it (what answering reads)."""

    retriever: Retriever


class Answerer(Protocol):
    """Writes the answer text for a query from its hits (e.g. a local LLM)."""

    def answer(self, query: str, kind: QueryKind, hits: list[MemoryHit]) -> str: ...


def target_pose(memory: AnsweringState, xyz: np.ndarray, extent: np.ndarray | None, view_xy: np.ndarray | None,
                robot_xy: np.ndarray | None) -> Pose2D:
    """Where to stand to see a thing at ``xyz``: a standoff point toward where it was seen from
    (else toward the robot), moved to the nearest navigable point when a map is known, with a
    yaw facing the thing."""
    obj = np.asarray(xyz[:2], dtype=np.float64)
    toward = None
    if view_xy is not None and np.all(np.isfinite(view_xy)):
        toward = np.asarray(view_xy, dtype=np.float64)
    elif robot_xy is not None:
        toward = np.asarray(robot_xy, dtype=np.float64)
    standoff = memory.config.standoff_m + (0.5 * float(np.max(extent[:2])) if extent is not None else 0.0)
    spot = obj.copy()
    if toward is not None:
        delta = toward - obj
        dist = float(np.linalg.norm(delta))
        if dist > 1e-6:
            spot = obj + delta / dist * min(standoff, dist)
    if memory.spatial is not None:
        nav = np.asarray(memory.spatial.nearest_navigable(spot[None, :]), dtype=np.float64).reshape(-1, 2)[0]
        if np.all(np.isfinite(nav)):
            spot = nav
    facing = obj - spot
    if float(np.linalg.norm(facing)) > 1e-6:
        yaw = math.atan2(facing[1], facing[0])
    elif toward is not None and float(np.linalg.norm(toward - obj)) > 1e-6:
        yaw = math.atan2(obj[1] - toward[1], obj[0] - toward[0])
    else:
        yaw = 0.0
    return Pose2D(float(spot[0]), float(spot[1]), yaw)


def build_hits(memory: AnsweringState, ranked: Ranked, robot_xy: np.ndarray | None) -> list[MemoryHit]:
    forest, leaves, vocab = memory.forest, memory.leaves, memory.vocab
    nodes = forest.nodes
    hits = []
    focus = ranked.focus if ranked.focus is not None else np.full(len(ranked.ids), -1)
    for index, score, spot in zip(ranked.ids.tolist(), ranked.scores.tolist(), focus.tolist(), strict=True):
        if ranked.is_leaf:
            chain = forest.leaf_ancestors(index)
            category = vocab.categories[int(leaves.category[index])]
            pos = leaves.position[index]
            hits.append(MemoryHit(
                node_id=leaf_id(index), name=category, text=vocab.captions[int(leaves.caption[index])] or category,
                level=0, score=float(score), position=(float(pos[0]), float(pos[1]), float(pos[2])),
                target_pose=target_pose(memory, pos, leaves.extent[index], leaves.view_xy[index], robot_xy),
                category=category, ancestors=[(node_id(a), nodes.info[a].name) for a in chain],
                first_seen=float(leaves.first_seen[index]), last_seen=float(leaves.last_seen[index]),
            ))
            continue
        info = nodes.info[index]
        pos = nodes.position[index]
        level = int(nodes.level[index])
        first = last = None
        if level <= ROOM:
            under = forest.descendant_leaves(index)
            first, last = float(leaves.first_seen[under].min()), float(leaves.last_seen[under].max())
        if spot >= 0:  # a region answer points at the thing in it that answers the question
            pos = leaves.position[spot]
            target = target_pose(memory, pos, leaves.extent[spot], leaves.view_xy[spot], robot_xy)
        else:
            target = _parent_target(memory, index, robot_xy)
        hits.append(MemoryHit(
            node_id=node_id(index), name=info.name, text=info.summary, level=level, score=float(score),
            position=(float(pos[0]), float(pos[1]), float(pos[2])),
            target_pose=target,
            category=info.room_type, ancestors=[(node_id(a), nodes.info[a].name) for a in nodes.ancestors(index)],
            first_seen=first, last_seen=last,
        ))
    return hits


def _parent_target(memory: AnsweringState, index: int, robot_xy: np.ndarray | None) -> Pose2D:
    """A parent's target: stand where its medoid leaf (the member at its position) was seen from."""
    medoid = int(memory.forest.nodes.medoid[index])
    leaves = memory.leaves
    return target_pose(memory, memory.forest.nodes.position[index], leaves.extent[medoid], leaves.view_xy[medoid],
                       robot_xy)


def _where(hit: MemoryHit) -> str:
    room = next((name for _, name in hit.ancestors[1:2]), None)
    place = f"({hit.position[0]:.1f}, {hit.position[1]:.1f})"
    return f"{place} in the {room}" if room else place


def template_answer(memory: AnsweringState, query: str, kind: QueryKind, hits: list[MemoryHit]) -> str:
    """One or two sentences from the hits, by query kind."""
    if not hits:
        return "I have not seen anything like that yet."
    now = memory.now()
    top = hits[0]
    lowered = query.lower()
    if kind == QueryKind.GLOBAL:
        if _HOW_MANY.search(lowered) and re.search(r"\brooms?\b", lowered):
            count, names = memory.retriever.room_names(12)
            listed = ", ".join(names) + (f" and {count - 12} more" if count > 12 else "")
            return f"I know of {count} room{'s' if count != 1 else ''}: {listed}."
        if _HOW_MANY.search(lowered):
            categories, _ = memory.retriever.mentions(query)
            if categories:
                canon = np.asarray(memory.retriever.canonical_categories(), dtype=object)
                count = len(memory.leaves.with_category(np.flatnonzero(np.isin(canon, categories))))
                return f"I have seen {count} {categories[0]}{'s' if count != 1 else ''}."
        if top.level == 0:
            return f"The best match is the {top.name} at {_where(top)}."
        return top.text
    if kind == QueryKind.IMPLICIT:
        uses = memory.knowledge.uses(top.category or "")
        why = f" ({', '.join(uses[:2])})" if uses else ""
        others = ", ".join(dict.fromkeys(h.name for h in hits[1:3] if h.name != top.name))
        extra = f" Also: {others}." if others else ""
        return f"Try the {top.name} at {_where(top)}{why}.{extra}"
    missing = unseen_named(memory, query, top)
    if missing:
        return _not_seen_answer(memory, missing, top)
    seen = f"; last seen {format_time(top.last_seen, now, memory.config.timezone_offset_h)}" \
        if top.last_seen is not None else ""
    same = sum(1 for h in hits[1:] if h.name == top.name)
    extra = f" I know of {same} more like it." if same else ""
    return f"The {top.name} is at {_where(top)}{seen}.{extra}"


def unseen_named(memory: AnsweringState, query: str, top: MemoryHit) -> list[str]:
    """Categories the query names that the memory holds no leaf of, when the top hit is not of a
    named category (so "where is the laundry basket?" answered with a trash can says so)."""
    retriever = memory.retriever
    categories, _ = retriever.mentions(query)
    if not categories:
        return []
    canon = memory.knowledge.canonical(top.category or "") or top.category
    if top.level == 0 and (canon in categories or top.category in categories):
        return []
    missing = []
    for category in categories:
        ids = np.flatnonzero(retriever._named([category]))
        if len(ids) == 0 or len(memory.leaves.with_category(ids)) == 0:
            missing.append(category)
    return missing


def _not_seen_answer(memory: AnsweringState, missing: list[str], top: MemoryHit) -> str:
    """Says the named thing was never seen, where one usually is, and the closest match."""
    name = missing[0]
    rooms = memory.knowledge.typical_rooms(name)[:2]
    usual = f"; one is usually in {' or '.join(_a(r) for r in rooms)}" if rooms else ""
    return f"I have not seen {_a(name)}{usual}. The closest match I know of is the {top.name} at {_where(top)}."


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def temporal_answer(memory: AnsweringState, time_query: TimeQuery, hits: list[MemoryHit],
                    region: str | None, window_times: dict[str, float], seen: list[str] | None = None) -> str:
    """Answers "when did you last see X", "what was in the kitchen this morning" (``seen``: the
    categories sighted in the region, most recent first)."""
    now = memory.now()
    offset = memory.config.timezone_offset_h
    span = f" {time_query.label}" if time_query.has_window else ""
    if not hits:
        where = f" in the {region}" if region else ""
        return f"I did not see anything like that{where}{span}."
    if region is not None:
        names = list(dict.fromkeys(seen or [h.name for h in hits]))
        more = f" and {len(names) - 12} more kinds" if len(names) > 12 else ""
        return f"In the {region}{span} I saw: {', '.join(names[:12])}{more}."
    top = hits[0]
    if time_query.wants_first and top.first_seen is not None:
        return f"I first saw the {top.name} at {format_time(top.first_seen, now, offset)}, at {_where(top)}."
    when = window_times.get(top.node_id, top.last_seen)
    seen = format_time(when, now, offset) if when is not None else "an unknown time"
    return f"I last saw the {top.name} at {seen}, at {_where(top)}."


def _changes_answer(memory: AnsweringState, text: str, q: np.ndarray, k: int, room_types: list[str],
                    robot_xy: np.ndarray | None) -> tuple[str, list[MemoryHit]]:
    """"Has anything moved in the living room?": what appeared there on a later visit (moved-in
    things first) and what was looked for there and not seen again, over the rooms of that type."""
    nodes = memory.forest.nodes
    rooms = [r for r in nodes.ids(ROOM).tolist() if nodes.info[r].room_type in room_types]
    if not rooms:
        node = region_of(memory, memory.retriever.rank_nodes(q, 3, categories=[], room_types=room_types,
                                                         query=text, robot_xy=None))
        rooms = [node] if node is not None else []
    appeared, gone = [], []
    for room in rooms:
        new, lost = changes_in(memory, memory.forest.descendant_leaves(room))
        appeared.append(new)
        gone.append(lost)
    new = np.concatenate(appeared) if appeared else np.zeros(0, dtype=np.int64)
    lost = np.concatenate(gone) if gone else np.zeros(0, dtype=np.int64)
    where = f"the {room_types[0]}"
    if len(new) + len(lost) == 0:
        return f"Nothing has changed in {where} that I could see.", []
    ids = np.concatenate([new, lost])[:k]
    hits = build_hits(memory, Ranked(ids, 1.0 / (1.0 + np.arange(len(ids))), True), robot_xy)

    def names(leaves: np.ndarray) -> str:
        return ", ".join(dict.fromkeys(memory.vocab.categories[int(c)] for c in memory.leaves.category[leaves]))

    parts = []
    if len(new):
        parts.append(f"now there: {names(new)}")
    if len(lost):
        parts.append(f"no longer where I saw it: {names(lost)}")
    return f"Yes, in {where}: {'; '.join(parts)}.", hits


def region_of(memory: AnsweringState, ranked: Ranked) -> int | None:
    """The room-level (or zone) node a ranked node list starts with, if any."""
    nodes = memory.forest.nodes
    for node in ranked.ids.tolist():
        if ZONE <= int(nodes.level[node]) < SITE:
            return int(node)
    return None


def temporal_query(memory: AnsweringState, text: str, q: np.ndarray, k: int, *, robot_xy: np.ndarray | None,
                   mode: str, now: float | None, categories: list[str],
                   room_types: list[str]) -> tuple[str, list[MemoryHit]]:
    """A time question: "what was in <room> <when>" lists the room's leaves sighted in the window
    (most recent first); anything else ranks leaves as an explicit query, restricted to those
    sighted in the window when the question names one, and answers with the sighting time."""
    clock = memory.now() if now is None else now
    time_query = parse_time_query(text, clock, memory.config.timezone_offset_h)
    allowed, latest = (memory.sightings.leaves_in_window(time_query.start, time_query.end)
                       if time_query.has_window else (None, None))
    window_times = {}
    region = None
    lowered = text.lower()
    if CHANGE_CUES.search(lowered) and room_types and not categories:
        return _changes_answer(memory, text, q, k, room_types, robot_xy)
    if room_types and not categories and mode == "forest":
        node = region_of(memory, memory.retriever.rank_nodes(q, 3, categories=[], room_types=room_types,
                                                         query=text, robot_xy=None))
        if node is not None:
            region = memory.forest.nodes.info[node].name
            under = memory.forest.descendant_leaves(node)
            if allowed is None:
                ids, times = under, memory.leaves.last_seen[under]
            else:
                keep = np.isin(allowed, under)
                ids, times = allowed[keep], latest[keep]
            order = np.lexsort((ids, -times))
            seen = [memory.vocab.categories[int(c)] for c in memory.leaves.category[ids[order]]]
            order = order[:k]
            recency = 1.0 / (1.0 + np.arange(len(order)))
            hits = build_hits(memory, Ranked(ids[order], recency, True), robot_xy)
            return temporal_answer(memory, time_query, hits, region, {}, seen), hits
    if allowed is not None and len(allowed) == 0:
        return temporal_answer(memory, time_query, [], region, {}), []
    named = np.flatnonzero(memory.retriever._named(categories)) if categories else np.zeros(0, dtype=np.int64)
    if len(named) and ON_ANCHOR.search(lowered):
        anchors = latest_of(memory, named[:1])
        ids = on_anchor(memory, anchors[:4], allowed)[:k]
        hits = build_hits(memory, Ranked(ids, 1.0 / (1.0 + np.arange(len(ids))), True), robot_xy)
        anchor = memory.vocab.categories[int(named[0])]
        span = f" {time_query.label}" if time_query.has_window else ""
        if not hits:
            return f"I did not see anything on the {anchor}{span}.", hits
        names = ", ".join(dict.fromkeys(h.name for h in hits))
        return f"On the {anchor}{span} I saw: {names}.", hits
    if len(named):
        ids = latest_of(memory, named, allowed)[:k]
        if len(ids):
            ranked = Ranked(ids, 1.0 / (1.0 + np.arange(len(ids))), True)
            hits = build_hits(memory, ranked, robot_xy)
            if allowed is not None:
                lookup = dict(zip(allowed.tolist(), latest.tolist(), strict=True))
                window_times = {h.node_id: lookup[int(h.node_id[1:])] for h in hits}
            return temporal_answer(memory, time_query, hits, None, window_times), hits
    ranked = memory.retriever.rank_leaves(q, QueryKind.EXPLICIT, k, mode=mode, categories=categories,
                                        room_types=room_types, robot_xy=robot_xy, query=text, allowed=allowed)
    hits = build_hits(memory, ranked, robot_xy)
    if allowed is not None:
        lookup = dict(zip(allowed.tolist(), latest.tolist(), strict=True))
        window_times = {h.node_id: lookup[int(h.node_id[1:])] for h in hits}
    return temporal_answer(memory, time_query, hits, region, window_times), hits
