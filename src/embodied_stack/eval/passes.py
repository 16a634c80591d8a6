"""Surveys of more than one pass or storey, and the scoring of temporal questions.

- A scene of several storeys (a two-storey house) is surveyed one storey at a time into the same
  memory: the embedded simulator renders one floor plan (``Scene.storey``), and the robot takes
  the stairs between them (it starts the next storey's exploration where the simulator puts it).
- A temporal query set (``passes``, FORMATS.md) is surveyed once per pass, into the same memory:
  before each pass the scene's changes are applied (objects moved, removed, added), and the
  simulator's clock is shifted to the pass's start time, so "this morning" means pass 1 at
  08:00. Each pass is a full survey with the default perception path (the memory gets the
  frames' views, so it can retire what it looked for and did not see).

Temporal questions are scored in the scene state of their ``at_pass`` (default: the last): the
top-1 answer must lie within the success radius of a target object there; with
``expect_pass``, the time the answer reports (the hit's last sighting, or its first for "when did
you first see ...") must also fall within that pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from embodied_stack.sim.queries import QuerySet, scene_states, target_distance_m

if TYPE_CHECKING:
    from embodied_stack.memory.config import MemoryConfig
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.sim.scene import Scene


class _Clocked:
    """A simulator whose frames' timestamps are shifted by ``offset_s`` (everything else passes through)."""

    def __init__(self, sim: Any, offset_s: float) -> None:
        self._sim = sim
        self._offset = offset_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    def _shift(self, frame: Any) -> Any:
        return dataclasses.replace(frame, timestamp=frame.timestamp + self._offset)

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        return self._shift(self._sim.reset(*args, **kwargs))

    def render(self, *args: Any, **kwargs: Any) -> Any:
        return self._shift(self._sim.render(*args, **kwargs))

    def step(self, *args: Any, **kwargs: Any) -> Any:
        result = self._sim.step(*args, **kwargs)
        return dataclasses.replace(result, frame=self._shift(result.frame))


def survey_passes(scene: Scene, query_set: QuerySet, config: MemoryConfig, args: argparse.Namespace,
                  log: TextIO) -> tuple[SemanticMemory, dict[str, Any], dict[str, float]]:
    """Survey every pass (one when the set has none) and every storey into one memory."""
    from embodied_stack.eval.survey import explore_config_for, survey
    from embodied_stack.memory.semantic_memory import SemanticMemory
    from embodied_stack.perception import PerceptionPipeline
    from embodied_stack.perception.labels import LabelSimilarity
    from embodied_stack.sim.embedded import EmbeddedSim, SimConfig

    t0 = time.perf_counter()
    memory = SemanticMemory(config)
    # One perception pipeline for every pass and storey: its track ids (which the memory fuses
    # by) stay unique, and a thing seen again joins its track as a robot's running tracker would.
    pipeline = PerceptionPipeline(similarity=LabelSimilarity(memory.embedder.embed))
    states = scene_states(scene, query_set.passes) if query_set.passes else [scene]
    starts = [p.start_s for p in query_set.passes] if query_set.passes else [0.0]
    parts: list[dict[str, Any]] = []
    floors = scene.storey_floors()
    for number, (state, start_s) in enumerate(zip(states, starts, strict=True), start=1):
        contexts = []
        for storey in range(len(state.storey_floors())):
            floor = state.storey(storey)
            sim = EmbeddedSim(floor, SimConfig(width=args.width, height=args.height, seed=args.seed + number - 1 + 7 * storey))
            clocked = _Clocked(sim, start_s + 1800.0 * storey)
            result = survey(clocked, memory, explore_config=explore_config_for(sim, args.max_steps),  # type: ignore[arg-type]
                            perceive_every=args.perceive_every, pipeline=pipeline, **_perception_args(args, number))
            parts.append({"pass": number, "storey": storey, **result.stats.to_dict()})
            contexts.append(memory.spatial)
            log.write(f"survey pass {number} storey {storey}: coverage {result.stats.coverage:.3f}, "
                      f"{result.stats.leaves} leaves\n")
        if len(floors) > 1 and all(c is not None for c in contexts):
            # each storey's survey left its own floor plan; the memory keeps them all, by height
            from embodied_stack.memory.storeys import StoreySpatial

            memory.set_spatial(StoreySpatial(contexts, floors))
    info = {"scene": scene.name, "passes": len(states), "detector": getattr(args, "detector", "realistic"),
            "noise": getattr(args, "noise", "realistic"), "oracle": getattr(args, "oracle", ""), "storeys": len(scene.storey_floors()), "parts": parts,
            "retired_leaves": int(memory.absence.retired(memory.leaves.n).sum()), "views": memory.absence.views,
            "coverage": float(np.mean([p["coverage"] or 0.0 for p in parts]))}
    return memory, info, {"survey": round(time.perf_counter() - t0, 3)}


def _perception_args(args: argparse.Namespace, number: int) -> dict[str, Any]:
    """The perception settings ``eval memory`` was given (its defaults when absent)."""
    from embodied_stack.eval.oracles import Oracles

    return {"detector": getattr(args, "detector", "realistic"), "noise": getattr(args, "noise", "realistic"),
            "oracles": Oracles.parse(getattr(args, "oracle", "")), "seed": args.seed + 100 * (number - 1)}


def temporal_outcomes(memory: SemanticMemory, scene: Scene, query_set: QuerySet, k: int = 5) -> list[dict[str, Any]]:
    """Ask every temporal query (forest) and score it (see the module docstring)."""
    states = scene_states(scene, query_set.passes)
    ends = [p.start_s for p in query_set.passes[1:]] + [math.inf]
    out = []
    for query in query_set.queries:
        if query.kind != "temporal":
            continue
        t0 = time.perf_counter()
        result = memory.query(query.text, kind="temporal", k=k)
        latency = time.perf_counter() - t0
        top = result.hits[0] if result.hits else None
        ok, distance, when = False, math.inf, None
        if top is not None:
            state = states[(query.at_pass or len(states)) - 1]
            distance = target_distance_m(state, query, top.position)
            ok = distance <= query_set.radius_of(query)
            when = top.first_seen if "first" in query.text.lower() else top.last_seen
            if query.expect_pass is not None:
                start, end = query_set.passes[query.expect_pass - 1].start_s, ends[query.expect_pass - 1]
                ok = ok and when is not None and start <= when < end
        out.append({"query_id": query.id, "text": query.text, "success": bool(ok),
                    "distance_m": round(distance, 3) if math.isfinite(distance) else None,
                    "answer_time_s": when, "latency_ms": round(1000 * latency, 3),
                    "top_name": top.name if top else None, "answer": result.answer})
    return out
