"""Tensor batches of demonstration windows, and exit scores over whole demonstration episodes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from embodied_stack.policy.dataset import DemoBuffer
from embodied_stack.policy.early_exit import exit_scores
from embodied_stack.policy.modeling_vla import VLAModel


@dataclass
class StepBatch:
    """(B, S) windows of steps as model inputs and targets; ``mask`` marks real (unpadded) steps."""

    rgb: torch.Tensor
    depth: torch.Tensor
    instruction: torch.Tensor
    goal: torch.Tensor
    action: torch.Tensor
    velocity: torch.Tensor
    mask: torch.Tensor
    teacher: torch.Tensor | None = None
    """(B, S, TEACHER_DIM) privileged values for the auxiliary heads (NaN where none were recorded)."""

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.rgb, self.depth, self.instruction, self.goal


def make_batch(buffer: DemoBuffer, index: np.ndarray, mask: np.ndarray, instructions: torch.Tensor) -> StepBatch:
    """Gather steps ``index`` (B, S) of ``buffer``; ``instructions`` holds one embedding per instruction text."""
    arrays = buffer.arrays()
    rgb = torch.from_numpy(arrays["rgb"][index]).permute(0, 1, 4, 2, 3).float().div_(255.0)
    depth = torch.from_numpy(arrays["depth"][index].astype(np.float32)).unsqueeze(2)
    return StepBatch(
        rgb=rgb,
        depth=depth,
        instruction=instructions[torch.from_numpy(arrays["instruction"][index])],
        goal=torch.from_numpy(arrays["goal"][index]),
        action=torch.from_numpy(arrays["action"][index]),
        velocity=torch.from_numpy(arrays["velocity"][index]),
        mask=torch.from_numpy(mask),
        teacher=torch.from_numpy(arrays["teacher"][index]),
    )


def embed_instructions(buffer: DemoBuffer, embed) -> torch.Tensor:  # noqa: ANN001 - text -> (N, D) callable
    """(num_instructions, text_dim) embeddings of the buffer's instruction texts."""
    return torch.from_numpy(np.asarray(embed(list(buffer.instructions)), dtype=np.float32))


@torch.no_grad()
def buffer_exit_scores(
    model: VLAModel, buffer: DemoBuffer, instructions: torch.Tensor, max_steps_per_batch: int = 2048
) -> np.ndarray:
    """Consistency scores at exits 1..E of every step of every episode: (N, E).

    Each episode runs as one sequence (the LSTM carried from its first step); episodes are
    batched by padding to the longest in the batch.
    """
    model.eval()
    lengths = np.asarray(buffer.lengths)
    offsets = buffer.offsets
    order = np.argsort(lengths)
    scores: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        count = 1
        while start + count < len(order) and (count + 1) * int(lengths[order[start + count]]) <= max_steps_per_batch:
            count += 1
        chosen = order[start:start + count]
        longest = int(lengths[chosen].max())
        steps = np.arange(longest)[None, :]
        mask = steps < lengths[chosen][:, None]
        index = offsets[chosen][:, None] + np.minimum(steps, lengths[chosen][:, None] - 1)
        batch = make_batch(buffer, index, mask, instructions)
        _, logits, velocity = model.sequence_outputs(*batch.inputs())
        batch_scores = exit_scores(logits, velocity, model.config.exit_metric, model.head.velocity_scale)
        scores.append(batch_scores.permute(1, 2, 0)[batch.mask].numpy())
        start += count
    return np.concatenate(scores).astype(np.float64)
