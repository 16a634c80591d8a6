#!/usr/bin/env python3
"""Write the query sets of the large shipped sites (sim/queries/<scene>.queries.json).

Deterministic from the scene files. Explicit questions name a category present in the scene;
implicit ones state a need (hand-written per category below, with two paraphrases each that share
no content word with the category's entries in the knowledge table: checked here, the script
fails otherwise); global ones ask about a region: the one room holding two things that each occur
in several rooms, or the room holding the most of a thing. Usage:

    python3 scripts/make_site_queries.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from embodied_stack.memory.knowledge import default_knowledge
from embodied_stack.sim.queries import Query, QuerySet, save_queries
from embodied_stack.sim.scene import load_scene

ROOT = Path(__file__).resolve().parents[1]
SITES = {"large_home_0021": "dev", "office_floor_0022": "test", "two_storey_0023": "test"}
# category -> (question, paraphrase 1, paraphrase 2)
NEEDS = {
    "fridge": ("I'm thirsty, where can I get a cold drink?", "my throat is parched", "I fancy a chilled soda"),
    "bed": ("I'm tired and want to lie down", "I can barely keep my eyes open", "I need forty winks"),
    "sofa": ("where can I sit and watch a film with friends?", "we want to lounge as a group", "somewhere comfy for all of us to flop"),
    "bathtub": ("I'd like to take a long bath", "I want to lie in hot water", "I fancy bubbles and warm water"),
    "toilet": ("I need the loo", "nature calls", "where do I go to pee?"),
    "washing machine": ("my clothes are dirty, where can I wash them?", "these shirts are filthy", "my socks stink"),
    "printer": ("I need a paper copy of this document", "I need my slides on A4", "I want a physical version of my report"),
    "whiteboard": ("where can I sketch a diagram for the team?", "I want to sketch boxes and arrows for my coworkers", "we need a big surface to scribble on"),
    "coffee maker": ("I need a coffee", "I need caffeine", "I could use a latte"),
    "treadmill": ("I want to go for a run indoors", "I want to jog without going outside", "I need cardio"),
    "piano": ("I'd like to play some music", "I want to rehearse my scales", "I feel like tinkling the ivories"),
    "crib": ("where can the baby sleep?", "the infant needs a nap", "where does the newborn snooze?"),
    "microwave": ("I want to heat up my leftovers", "my soup has gone cold", "I'd like to zap yesterday's pasta"),
    "bookshelf": ("I'm looking for something to read", "I want a novel", "where are the paperbacks?"),
    "conference table": ("where can the team hold a meeting?", "we need to assemble six coworkers", "the project group must sit together and plan"),
    "vending machine": ("I want a snack", "I'm peckish, any crisps?", "I'd like a chocolate bar"),
    "water cooler": ("where can I refill my water bottle?", "I'm parched", "I need hydration"),
    "shower": ("I need to wash after my workout", "I'm sweaty and need rinsing off", "I need to freshen up under running water"),
    "desk": ("where can I work on my laptop?", "I need somewhere to type an essay", "I have an essay due"),
    "toy box": ("where are the kids' toys?", "the little ones are bored", "where's the lego?"),
    "shredder": ("I need to destroy confidential papers", "these bank statements must vanish", "how do I make secret files unreadable?"),
    "ironing board": ("my shirt is creased", "my trousers are wrinkled", "I need to smarten up my blouse"),
    "dumbbell rack": ("I want to lift weights", "I want bigger biceps", "where can I do bicep curls?"),
    "wardrobe": ("where can I hang my coats and dresses?", "where do my blazers live?", "I need space for my outfits"),
    "stove": ("I want to cook dinner", "I'd like to scramble some eggs", "spaghetti for dinner tonight"),
    "server rack": ("where are the network servers?", "the internet is down, where is the networking gear?", "I need to reboot the machines hosting our website"),
    "staircase": ("how do I get upstairs?", "I need to get to the level above", "how do I go up a level?"),
}
_STOP = set("a an the i i'm im my me we our to of for and or in on at is are be can could do where what how "
            "some something somewhere any need want would like i'd id it this that these those up with from "
            "there here go get have has just so too very who which whole".split())


def words(text: str) -> set[str]:
    found = set(re.findall(r"[a-z']+", text.lower())) - _STOP
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in found}


def table_words(category: str) -> set[str]:
    k = default_knowledge()
    info = k.categories.get(k.canonical(category) or category)
    entries = [category] + (list(info.synonyms) + list(info.uses) if info else [])
    return set().union(*(words(e) for e in entries))


def make(scene_name: str, split: str) -> QuerySet:
    scene = load_scene(ROOT / "sim" / "scenes" / f"{scene_name}.scene.json")
    rng = np.random.default_rng(sum(map(ord, scene_name)))
    counts = Counter(o.category for o in scene.objects)
    queries: list[Query] = []
    rare = sorted(c for c, n in counts.items() if n <= 3 and c != "staircase")
    forms = ("where is the {}?", "find the {}", "have you seen the {}?", "take me to the {}")
    for i, c in enumerate(rng.choice(rare, size=min(14, len(rare)), replace=False).tolist()):
        queries.append(Query(f"e{i + 1:02d}", forms[i % len(forms)].format(c), "explicit", target_categories=(c,)))
    n = 0
    for c in sorted(NEEDS):
        if c not in counts:
            continue
        n += 1
        text, *paraphrases = NEEDS[c]
        queries.append(Query(f"i{n:02d}", text, "implicit", target_categories=(c,)))
        for j, p in enumerate(paraphrases):
            shared = words(p) & table_words(c)
            if shared:
                raise SystemExit(f"{scene_name}: paraphrase {p!r} of {c!r} shares {sorted(shared)} with the table")
            queries.append(Query(f"i{n:02d}p{j + 1}", p, "implicit", target_categories=(c,), tags=("paraphrase",)))
    rooms_of: dict[str, set[str]] = {}
    for o in scene.objects:
        rooms_of.setdefault(o.category, set()).add(o.room)
    common = sorted(c for c, r in rooms_of.items() if len(r) >= 2)
    pairs = []
    for i, a in enumerate(common):
        for b in common[i + 1:]:
            both = rooms_of[a] & rooms_of[b]
            if len(both) == 1:
                pairs.append((a, b, next(iter(both))))
    g = 0
    for idx in rng.permutation(len(pairs))[:8].tolist():
        a, b, room = pairs[idx]
        g += 1
        queries.append(Query(f"g{g:02d}", f"which room has both a {a} and a {b}?", "global", target_rooms=(room,)))
    per_room = Counter((o.category, o.room) for o in scene.objects)
    for c in sorted(rooms_of):
        tallies = sorted(((per_room[c, r], r) for r in rooms_of[c]), reverse=True)
        if len(tallies) >= 2 and tallies[0][0] >= 2 and tallies[0][0] > tallies[1][0] and g < 14:
            g += 1
            queries.append(Query(f"g{g:02d}", f"which room has the most {c}s?", "global", target_rooms=(tallies[0][1],)))
    return QuerySet(scene.name, queries, split=split)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a shipped file differs")
    args = parser.parse_args()
    for name, split in SITES.items():
        path = ROOT / "sim" / "queries" / f"{name}.queries.json"
        qs = make(name, split)
        if args.check:
            from embodied_stack.sim.queries import load_queries

            if load_queries(path).to_dict() != qs.to_dict():
                print(f"{path} differs from what the script makes", file=sys.stderr)
                return 1
        else:
            save_queries(qs, path)
            print(path, qs.counts(), sum("paraphrase" in q.tags for q in qs.queries), "paraphrases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
