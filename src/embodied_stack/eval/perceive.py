"""Perception on the way, for task execution in the embedded simulator.

:class:`MemoryPerceiver` is the ``perceive`` callback of :func:`~embodied_stack.planning.runner.run_task`
and :func:`~embodied_stack.planning.search.search_object`: it runs the perception pipeline on a
frame (today's simulated sensor, as the survey does: :mod:`embodied_stack.eval.survey`), queues
the observations for the memory, ingests them every ``ingest_every`` frames (and on
:meth:`flush`), and returns them so the caller can check what was just seen.
"""

from __future__ import annotations

from typing import Any

from embodied_stack.types import Frame
from embodied_stack.types.observations import Observation


class MemoryPerceiver:
    """Frame -> observations, fed to ``memory`` in batches (see the module docstring)."""

    def __init__(self, sim: Any, memory: Any, *, pipeline: Any = None, ingest_every: int = 10) -> None:
        if isinstance(ingest_every, bool) or not isinstance(ingest_every, int) or ingest_every < 1:
            raise ValueError(f"ingest_every must be an integer >= 1, got {ingest_every!r}")
        if pipeline is None:
            from embodied_stack.perception import PerceptionPipeline

            pipeline = PerceptionPipeline(room_names={r.id: r.category for r in sim.scene.rooms})
        self.sim = sim
        self.memory = memory
        self.pipeline = pipeline
        self.ingest_every = ingest_every
        self.pending: list[Observation] = []
        self.frames = 0
        self.observations = 0
        self._last: Frame | None = None

    def __call__(self, frame: Frame) -> list[Observation]:
        if frame is self._last:  # the same frame handed on (end of one subgoal, start of the next)
            return []
        self._last = frame
        observations = list(self.pipeline.process_frame(frame, self.sim.instances))
        self.pending.extend(observations)
        self.frames += 1
        if self.frames % self.ingest_every == 0:
            self.flush()
        return observations

    def flush(self) -> None:
        """Ingest what is queued (and what the pipeline still holds)."""
        self.pending.extend(self.pipeline.flush())
        if self.pending and self.memory is not None:
            report = self.memory.ingest(self.pending)
            self.observations += report.accepted
        self.pending.clear()
