"""Perception on the way, for task execution in the embedded simulator.

:class:`MemoryPerceiver` is the ``perceive`` callback of :func:`~embodied_stack.planning.runner.run_task`
and :func:`~embodied_stack.planning.search.search_object`. It perceives the way the survey does
(:mod:`embodied_stack.eval.survey`): the simulated detector (misses, label confusion, false
positives, no instance ids; ``detector`` preset), the pose estimate and depth through
:class:`~embodied_stack.eval.noise.NoisySensor` (``noise`` preset), fusion without ids, labels
compared with the memory's embedder. It queues the observations (and the views they were
perceived through, the memory's negative evidence) and ingests them every ``ingest_every``
frames and on :meth:`flush`, and returns each frame's observations so the caller can check
what was just seen. No scene-file knowledge: the memory rooms its leaves from its own map.
"""

from __future__ import annotations

from typing import Any

from embodied_stack.types import Frame
from embodied_stack.types.observations import Observation


class MemoryPerceiver:
    """Frame -> observations, fed to ``memory`` in batches (see the module docstring)."""

    def __init__(self, sim: Any, memory: Any, *, pipeline: Any = None, ingest_every: int = 10,
                 detector: str = "realistic", noise: str = "realistic", seed: int = 0) -> None:
        if isinstance(ingest_every, bool) or not isinstance(ingest_every, int) or ingest_every < 1:
            raise ValueError(f"ingest_every must be an integer >= 1, got {ingest_every!r}")
        from embodied_stack.eval.noise import NoiseModel, NoisySensor
        from embodied_stack.perception.simulated import DetectorErrors, SimulatedDetector

        if pipeline is None:
            from embodied_stack.perception import PerceptionPipeline
            from embodied_stack.perception.labels import LabelSimilarity

            embedder = getattr(memory, "embedder", None)
            pipeline = (PerceptionPipeline(similarity=LabelSimilarity(embedder.embed)) if embedder is not None
                        else PerceptionPipeline())
        self.sim = sim
        self.memory = memory
        self.pipeline = pipeline
        self.detector = SimulatedDetector(sim.instances, DetectorErrors.preset(detector), seed=seed + 7)
        self.sensor = NoisySensor(NoiseModel.preset(noise), seed=seed + 8)
        self.ingest_every = ingest_every
        self.pending: list[Observation] = []
        self.views: list[Any] = []
        self.frames = 0
        self.observations = 0
        self._last: Frame | None = None

    def __call__(self, frame: Frame) -> list[Observation]:
        if frame is self._last:  # the same frame handed on (end of one subgoal, start of the next)
            return []
        from embodied_stack.eval.views import detected_centres
        from embodied_stack.memory.absence import View

        self._last = frame
        measured = self.sensor(frame)
        observations = list(self.pipeline.process(
            measured.rgb, measured.depth, measured.intrinsics, measured.camera_pose, measured.timestamp,
            measured.instance, measured.semantic, detector=self.detector))
        self.pending.extend(observations)
        self.views.append(View.from_frame(measured, *detected_centres(self.pipeline, frame.timestamp)))
        self.frames += 1
        if self.frames % self.ingest_every == 0:
            self.flush()
        return self._relative(observations, frame)

    def _relative(self, observations: list[Observation], frame: Frame) -> list[Observation]:
        """The observations where they are relative to the robot, in the simulator's frame.

        The memory gets them in the robot's estimated frame (drifting, as on a robot); the caller
        (the task runner, the search) compares them with the simulator's pose of the robot, so
        they are moved by the current estimate error: what the robot measured relative to
        itself, not a correction of what it remembers."""
        ex, ey, eyaw = (float(v) for v in self.sensor.error)
        if not observations or (ex == 0.0 and ey == 0.0 and eyaw == 0.0):
            return observations
        from dataclasses import replace

        import numpy as np

        robot = np.array([frame.agent_pose.x, frame.agent_pose.y])
        c, s = np.cos(-eyaw), np.sin(-eyaw)
        out = []
        for obs in observations:
            xy = np.array(obs.position[:2]) - robot - np.array([ex, ey])
            x, y = c * xy[0] - s * xy[1] + robot[0], s * xy[0] + c * xy[1] + robot[1]
            out.append(replace(obs, position=(float(x), float(y), float(obs.position[2]))))
        return out

    def flush(self) -> None:
        """Ingest what is queued (and what the pipeline still holds)."""
        self.pending.extend(self.pipeline.flush())
        if (self.pending or self.views) and self.memory is not None:
            report = self.memory.ingest(self.pending, views=list(self.views))
            self.observations += report.accepted
        self.pending.clear()
        self.views.clear()
