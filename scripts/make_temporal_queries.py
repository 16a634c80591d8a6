#!/usr/bin/env python3
"""Write the temporal query sets (sim/queries/<scene>.temporal.queries.json): two survey passes,
at 08:00 and 15:00 on the memory's clock, with objects moved (within a room and to another
room), removed and added between them, and questions after ReMEmbR's temporal tools ("where did
I last see ...", "when did you last see ...", "what was on the ... this morning?", "has anything
moved in the ...?"). Deterministic from the scene files. Usage: python3 scripts/make_temporal_queries.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

from embodied_stack.sim.queries import Query, QuerySet, SurveyPass, save_queries
from embodied_stack.sim.scene import Scene, SceneObject, load_scene

ROOT = Path(__file__).resolve().parents[1]
SCENES = {"home_0011": "dev", "home_0002": "test"}
HOSTS = {"dining table", "coffee table", "side table", "nightstand", "desk", "kitchen counter", "sideboard",
         "dresser", "console table", "tv stand", "kitchen island"}


def on_top(scene: Scene) -> dict[str, str]:
    """object id -> id of the object it stands on."""
    out = {}
    for o in scene.objects:
        for h in scene.objects:
            if h.id != o.id and abs(o.center[2] - o.size[2] / 2 - (h.center[2] + h.size[2] / 2)) < 1e-3:
                fp = h.footprint()
                if (np.abs(np.array(o.center[:2]) - fp.mean(axis=0)) <= np.abs(fp - fp.mean(axis=0)).max(axis=0)).all():
                    out[o.id] = h.id
    return out


def top_of(host: SceneObject, size: tuple[float, float, float]) -> list[float]:
    return [host.center[0], host.center[1], round(host.center[2] + host.size[2] / 2 + size[2] / 2, 3)]


def make(name: str, split: str) -> QuerySet:
    scene = load_scene(ROOT / "sim" / "scenes" / f"{name}.scene.json")
    counts = Counter(o.category for o in scene.objects)
    stands = on_top(scene)
    busy = set(stands.values())
    free_hosts = [h for h in scene.objects if h.category in HOSTS and h.id not in busy]
    movable = [scene.object_by_id(i) for i in sorted(stands) if counts[scene.object_by_id(i).category] == 1]
    if len(movable) < 3 or len(free_hosts) < 3:
        raise SystemExit(f"{name}: too few movable objects ({len(movable)}) or free hosts ({len(free_hosts)})")
    rooms = {r.id: r.category for r in scene.rooms}
    same_room = next((o, h) for o in movable for h in free_hosts if h.room == o.room)
    moved_in, host_in = same_room
    rest = [o for o in movable if o.id != moved_in.id]
    moved_out = rest[0]
    host_out = next(h for h in free_hosts if h.room != moved_out.room and h.id != host_in.id)
    removed = rest[1]
    add_host = next(h for h in free_hosts if h.id not in (host_in.id, host_out.id))
    added = {"id": "laptop_90", "category": "laptop", "room": add_host.room, "center": top_of(add_host, (0.34, 0.24, 0.03)),
             "size": [0.34, 0.24, 0.03], "yaw": add_host.yaw, "color": [0.1, 0.1, 0.12],
             "description": f"a black laptop on the {add_host.category}"}
    if counts["laptop"]:
        added = {**added, "id": "book_stack_90", "category": "book stack", "size": [0.25, 0.2, 0.12],
                 "center": top_of(add_host, (0.25, 0.2, 0.12)), "description": f"a stack of books on the {add_host.category}"}
    changes = [
        {"action": "move", "object": moved_in.id, "room": host_in.room, "center": top_of(host_in, moved_in.size)},
        {"action": "move", "object": moved_out.id, "room": host_out.room, "center": top_of(host_out, moved_out.size)},
        {"action": "remove", "object": removed.id},
        {"action": "add", "object": added},
    ]
    removed_host = scene.object_by_id(stands[removed.id])
    on_removed_host = tuple(sorted(i for i, h in stands.items() if h == removed_host.id))
    still = next(o for o in scene.objects if counts[o.category] == 1 and o.id not in stands and o.category not in HOSTS
                 and o.id not in (moved_in.id, moved_out.id, removed.id))
    queries = [
        Query("t01", f"where did I last see the {moved_in.category}?", "temporal", target_objects=(moved_in.id,)),
        Query("t02", f"where did I last see the {moved_out.category}?", "temporal", target_objects=(moved_out.id,)),
        Query("t03", f"when did you last see the {moved_out.category}?", "temporal", target_objects=(moved_out.id,),
              expect_pass=2),
        Query("t04", f"where did I last see the {removed.category}?", "temporal", target_objects=(removed.id,), at_pass=1),
        Query("t05", f"when did you last see the {removed.category}?", "temporal", target_objects=(removed.id,),
              at_pass=1, expect_pass=1),
        Query("t06", f"what was on the {removed_host.category} this morning?", "temporal",
              target_objects=on_removed_host, at_pass=1),
        Query("t07", f"has anything moved in the {rooms[moved_in.room]}?", "temporal", target_objects=(moved_in.id,)),
        Query("t08", f"when did you first see the {added['category']}?", "temporal", target_objects=(added["id"],),
              expect_pass=2),
        Query("t09", f"when did you last see the {still.category}?", "temporal", target_objects=(still.id,),
              expect_pass=2),
        Query("t10", f"where did I last see the {still.category}?", "temporal", target_objects=(still.id,)),
    ]
    return QuerySet(scene.name, queries, split=split,
                    passes=[SurveyPass(8 * 3600.0), SurveyPass(15 * 3600.0, tuple(changes))])


def main() -> int:
    for name, split in SCENES.items():
        path = ROOT / "sim" / "queries" / f"{name}.temporal.queries.json"
        qs = make(name, split)
        save_queries(qs, path)
        print(path, [q.text for q in qs.queries])
    return 0


if __name__ == "__main__":
    sys.exit(main())
