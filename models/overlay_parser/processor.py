"""Overlay parser pre/post-processing: a ParserBatch → tensors, actions → stick grid targets, and the
parser's outputs → unified actions with a confidence.

The crops themselves (rectified overlay views, stick patches, the skin at rest, the layout boxes)
are cut by padflow.overlay.crops.parser_inputs, the one path training renders and extract share.

Stick grid: `grid` x `grid` cap positions, row 0 = fully up, column 0 = fully left. Training
targets split each stick's position bilinearly over its 4 nearest cells (`stick_targets`); the
reading is a local soft-argmax around the peak (`decode_sticks`), whose expectation gives back
the exact position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from padflow.actions import ACTION_DIM, BUTTON_SLICE, LEFT_STICK, N_BUTTONS, RIGHT_STICK
from padflow.overlay.crops import ParserBatch

STICK_SLICES = (LEFT_STICK, RIGHT_STICK)
PRESS_THRESHOLD = 0.5
SOFT_ARGMAX_RADIUS = 1  # cells around the peak that the sub-cell refinement averages over


@dataclass(frozen=True)
class ParserReading:
    """What the parser reads from a batch of B crop pairs."""

    actions: np.ndarray  # (B, 21) float32 unified actions: 17 buttons as 0/1, then LEFT_X, LEFT_Y, RIGHT_X, RIGHT_Y
    confidence: np.ndarray  # (B,) float32 in [0, 1], over every control
    button_logits: np.ndarray  # (B, 17) float32, before the 0.5 threshold (per-video calibration reads them)
    button_certainty: np.ndarray | None = None  # (B, 17) float32: max(p, 1 - p) of each button
    stick_mass: np.ndarray | None = None  # (B, 2) float32: each stick's probability mass around its reading

    def confidence_over(self, observed: np.ndarray) -> np.ndarray:
        """(B,) confidence over the controls a skin draws ((21,) bool, unified order): an undrawn control's reading is no label, so its doubt does not count."""
        observed = np.asarray(observed, dtype=bool)
        if self.button_certainty is None or self.stick_mass is None or observed.all():
            return self.confidence
        ones = np.ones(len(self.confidence), np.float32)
        buttons = observed[BUTTON_SLICE]
        sticks = stick_observed(torch.from_numpy(observed[None]))[0].numpy()
        certainty = self.button_certainty[:, buttons].min(axis=1) if buttons.any() else ones
        mass = self.stick_mass[:, sticks].min(axis=1) if sticks.any() else ones
        return np.clip(certainty * mass, 0.0, 1.0).astype(np.float32)


def as_tensors(batch: ParserBatch) -> ParserBatch:
    """A numpy ParserBatch as torch tensors: pixels stay uint8, layout becomes float32."""
    # np.require copies only arrays torch cannot share: non-contiguous, or read-only (broadcast layout)
    frames, sticks, boxes, travel = (torch.as_tensor(np.require(x, requirements=("C", "W"))) if isinstance(x, np.ndarray) else x for x in batch)
    return ParserBatch(frames, sticks, boxes.float(), travel.float())


def stick_observed(observed: torch.Tensor) -> torch.Tensor:
    """(B, 21) bool observed mask → (B, 2) bool: a stick is observed when the skin draws it (both its axes)."""
    return torch.stack([observed[:, s].all(dim=1) for s in STICK_SLICES], dim=1)


def stick_grid_position(actions: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, 21) actions → (B, 2, 2) continuous (column, row) of each stick on the grid, row 0 = fully up."""
    xy = torch.stack([actions[:, s] for s in STICK_SLICES], dim=1)  # (B, 2, 2) x right, y up
    col = (xy[..., 0] + 1) / 2 * (grid - 1)
    row = (1 - xy[..., 1]) / 2 * (grid - 1)
    return torch.stack([col, row], dim=-1)


def stick_targets(actions: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, 21) actions → (B, 2, grid²) soft cell targets: each stick's position split bilinearly over its 4 nearest cells.

    Its expectation is the exact position, which is what the soft-argmax decoder reads back.
    """
    pos = stick_grid_position(actions, grid).clamp(0, grid - 1)  # (B, 2, 2)
    lo = pos.floor().clamp(max=grid - 2)
    frac = pos - lo  # (B, 2, 2) in [0, 1]
    target = torch.zeros(*pos.shape[:2], grid, grid, dtype=actions.dtype)
    for dc in (0, 1):
        for dr in (0, 1):
            weight = (frac[..., 0] if dc else 1 - frac[..., 0]) * (frac[..., 1] if dr else 1 - frac[..., 1])
            col, row = (lo[..., 0] + dc).long(), (lo[..., 1] + dr).long()
            target.view(-1, grid * grid).scatter_add_(1, (row * grid + col).reshape(-1, 1), weight.reshape(-1, 1))
    return target.flatten(-2)


def decode_sticks(logits: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, grid²) logits → stick (x, y) (B, 2, 2) in [-1, 1] and the probability mass used (B, 2).

    Local soft-argmax: the expectation over the cells within SOFT_ARGMAX_RADIUS of the peak, so a
    second, distant mode cannot drag the reading towards the middle.
    """
    p = torch.softmax(logits, dim=-1).reshape(*logits.shape[:2], grid, grid)  # (B, 2, row, col)
    peak = p.flatten(-2).argmax(dim=-1)
    peak_row, peak_col = torch.div(peak, grid, rounding_mode="floor"), peak % grid
    idx = torch.arange(grid, device=logits.device)
    near_row = ((idx - peak_row[..., None]).abs() <= SOFT_ARGMAX_RADIUS).to(p.dtype)  # (B, 2, grid)
    near_col = ((idx - peak_col[..., None]).abs() <= SOFT_ARGMAX_RADIUS).to(p.dtype)
    local = p * near_row[..., :, None] * near_col[..., None, :]
    mass = local.sum(dim=(-2, -1))
    row = (local.sum(-1) * idx).sum(-1) / mass
    col = (local.sum(-2) * idx).sum(-1) / mass
    x = col / (grid - 1) * 2 - 1
    y = 1 - row / (grid - 1) * 2
    return torch.stack([x, y], dim=-1).clamp(-1.0, 1.0), mass


def decode_outputs(out: dict[str, torch.Tensor], grid: int) -> ParserReading:
    """The parser's outputs {buttons (B, 17), stick_logits (B, 2, grid²)} → actions, confidence and button logits.

    Buttons are thresholded at 0.5; sticks are (x, y) in [-1, 1] (x right, y up) from the local
    soft-argmax of their grid, before any per-video normalization. Confidence = (least certain
    button's max(p, 1 - p)) x (lower of the two sticks' probability mass around its decoded
    position): low when any single control is in doubt. The per-control parts are kept too
    (`ParserReading.confidence_over` leaves out the controls a skin does not draw).
    """
    p_buttons = torch.sigmoid(out["buttons"])
    axes, mass = decode_sticks(out["stick_logits"], grid)  # (B, 2, 2), (B, 2)
    actions = torch.zeros(len(p_buttons), ACTION_DIM)
    actions[:, :N_BUTTONS] = (p_buttons > PRESS_THRESHOLD).float()
    for k, stick in enumerate(STICK_SLICES):
        actions[:, stick] = axes[:, k]
    certainty = torch.maximum(p_buttons, 1 - p_buttons)  # (B, 17)
    confidence = (certainty.min(dim=1).values * mass.min(dim=1).values).clamp(0.0, 1.0)
    return ParserReading(actions.numpy(), confidence.numpy().astype(np.float32), out["buttons"].float().numpy(),
                         certainty.float().numpy(), mass.float().numpy())
