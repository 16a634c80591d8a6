"""Demonstration storage: per-step arrays of whole episodes, saved as ``.npz`` (no pickle).

A :class:`DemoBuffer` holds steps of many episodes back to back, with episode offsets:

* ``rgb`` (N, H, W, 3) uint8 and ``depth`` (N, H, W) float16 metres (0 = no hit), already at
  the policy resolution;
* ``goal`` (N, 9) float32 goal/state features (:func:`~embodied_stack.policy.inputs.goal_features`,
  with the previous action that was *executed*);
* ``action`` (N,) int64 expert labels (``Action`` values) and ``velocity`` (N, 2) float32
  expert velocity commands (m/s, rad/s);
* ``instruction`` (N,) int64 indices into ``instructions`` (the texts; embedded at training time);
* ``teacher`` (N, :data:`TEACHER_DIM`) float32 privileged values for the auxiliary heads (the
  language-vision collector's: the named target in view 0/1, the sine and cosine of its
  egocentric bearing, its distance in metres), NaN where a collector records none. Files written
  before this array existed load with NaN there.

Training samples fixed-length windows of consecutive steps of one episode (the LSTM's time axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embodied_stack.policy.errors import TrainingError

_ARRAYS = ("rgb", "depth", "goal", "action", "velocity", "instruction", "teacher")
_OPTIONAL = ("teacher",)
TEACHER_DIM = 4
"""Teacher values per step: in view (0/1), sin and cos of the target's bearing, its distance (m)."""


@dataclass
class EpisodeRecord:
    """Steps of one demonstration episode being recorded."""

    instruction: str
    rgb: list[np.ndarray] = field(default_factory=list)
    depth: list[np.ndarray] = field(default_factory=list)
    goal: list[np.ndarray] = field(default_factory=list)
    action: list[int] = field(default_factory=list)
    velocity: list[tuple[float, float]] = field(default_factory=list)
    teacher: list[np.ndarray] = field(default_factory=list)

    def add(self, rgb: np.ndarray, depth: np.ndarray, goal: np.ndarray, action: int, velocity: tuple[float, float],
            teacher: np.ndarray | None = None) -> None:
        """Append one step; ``teacher`` (:data:`TEACHER_DIM`,) privileged values, NaN when None."""
        if teacher is None:
            teacher = np.full(TEACHER_DIM, np.nan, dtype=np.float32)
        elif np.shape(teacher) != (TEACHER_DIM,):
            raise TrainingError(f"teacher values must have shape ({TEACHER_DIM},), got {np.shape(teacher)}")
        self.teacher.append(np.asarray(teacher, dtype=np.float32))
        self.rgb.append(rgb)
        self.depth.append(depth.astype(np.float16))
        self.goal.append(goal)
        self.action.append(int(action))
        self.velocity.append(velocity)

    def __len__(self) -> int:
        return len(self.action)


class DemoBuffer:
    """Steps of many demonstration episodes, back to back; see the module docstring."""

    def __init__(self) -> None:
        self.instructions: list[str] = []
        self._index: dict[str, int] = {}
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
        self._arrays: dict[str, np.ndarray] | None = None
        self.lengths: list[int] = []

    def __len__(self) -> int:
        return int(sum(self.lengths))

    @property
    def num_episodes(self) -> int:
        return len(self.lengths)

    def add_episode(self, record: EpisodeRecord) -> None:
        """Append a recorded episode (ignored when empty)."""
        if not len(record):
            return
        if record.instruction not in self._index:
            self._index[record.instruction] = len(self.instructions)
            self.instructions.append(record.instruction)
        n = len(record)
        self._flush_parts()
        self._parts["rgb"].append(np.stack(record.rgb))
        self._parts["depth"].append(np.stack(record.depth))
        self._parts["goal"].append(np.stack(record.goal).astype(np.float32))
        self._parts["action"].append(np.asarray(record.action, dtype=np.int64))
        self._parts["velocity"].append(np.asarray(record.velocity, dtype=np.float32))
        self._parts["instruction"].append(np.full(n, self._index[record.instruction], dtype=np.int64))
        self._parts["teacher"].append(np.stack(record.teacher).astype(np.float32))
        self.lengths.append(n)

    def extend(self, other: DemoBuffer) -> None:
        """Append every episode of ``other``."""
        if not other.lengths:
            return
        remap = np.empty(len(other.instructions), dtype=np.int64)
        for i, text in enumerate(other.instructions):
            if text not in self._index:
                self._index[text] = len(self.instructions)
                self.instructions.append(text)
            remap[i] = self._index[text]
        self._flush_parts()
        arrays = other.arrays()
        for name in _ARRAYS:
            self._parts[name].append(remap[arrays[name]] if name == "instruction" else arrays[name])
        self.lengths.extend(other.lengths)

    def _flush_parts(self) -> None:
        if self._arrays is not None:
            for name in _ARRAYS:
                self._parts[name] = [self._arrays[name]]
            self._arrays = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The concatenated arrays (computed once after each change)."""
        if not self.lengths:
            raise TrainingError("the demonstration buffer is empty")
        if self._arrays is None:
            self._arrays = {name: np.concatenate(self._parts[name]) for name in _ARRAYS}
            self._parts = {name: [] for name in _ARRAYS}
        return self._arrays

    @property
    def offsets(self) -> np.ndarray:
        """(num_episodes + 1,) start index of each episode, then the total."""
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def sample_windows(self, rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``batch`` windows of ``length`` consecutive steps of one episode each.

        Episodes are drawn in proportion to their length; a window starts at the episode's first
        step with probability 0.25 (so the zero-state start is trained), ends at its last step
        with probability 0.25 (so the rare STOP decisions at the goal are seen often), and lies
        uniformly elsewhere. Episodes shorter than ``length`` are padded by repeating their last
        step, masked out.

        Returns:
            ``index`` (batch, length) int64 into the arrays and ``mask`` (batch, length) bool.
        """
        lengths = np.asarray(self.lengths)
        episodes = rng.choice(len(lengths), size=batch, p=lengths / lengths.sum())
        spans = np.maximum(lengths[episodes] - length, 0)
        anchor = rng.random(batch)
        uniform = np.floor(rng.random(batch) * (spans + 1)).astype(np.int64)
        starts = np.where(anchor < 0.25, 0, np.where(anchor < 0.5, spans, uniform))
        steps = starts[:, None] + np.arange(length)[None, :]
        mask = steps < lengths[episodes][:, None]
        steps = np.minimum(steps, lengths[episodes][:, None] - 1)
        return self.offsets[episodes][:, None] + steps, mask

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (``.npz``, compressed, no pickled objects)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = self.arrays()
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp, lengths=np.asarray(self.lengths, dtype=np.int64),
            instructions=np.asarray(self.instructions, dtype=np.str_), **arrays,
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> DemoBuffer:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in (*_ARRAYS, "lengths", "instructions") if k not in data and k not in _OPTIONAL]
                if missing:
                    raise TrainingError(f"{path}: not a demonstration file (missing arrays {missing})")
                buffer = cls()
                buffer.instructions = [str(s) for s in data["instructions"]]
                buffer._index = {s: i for i, s in enumerate(buffer.instructions)}
                buffer.lengths = [int(n) for n in data["lengths"]]
                buffer._arrays = {name: data[name] for name in _ARRAYS if name in data}
                if "teacher" not in buffer._arrays:
                    buffer._arrays["teacher"] = np.full((len(buffer._arrays["action"]), TEACHER_DIM), np.nan,
                                                        dtype=np.float32)
        except (OSError, ValueError) as err:
            raise TrainingError(f"{path}: cannot read demonstrations ({err})") from err
        if sum(buffer.lengths) != len(buffer._arrays["action"]):
            raise TrainingError(f"{path}: episode lengths do not add up to the number of steps")
        return buffer
