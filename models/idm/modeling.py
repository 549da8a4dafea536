"""The inverse dynamics model (IDM): a window of frames → the unified action at every frame of it.

Non-causal, as VPT's IDM: the action at frame t shows in frames after t (the character moves, the
shot leaves), so every frame token attends to every other frame token of the window. Read top to
bottom:

    frames (B, W, C, S, S)        C = 3 (RGB in [-1, 1]) or 6 (RGB and its difference to the previous frame)
    → per-frame conv encoder      three stride-2 conv + GELU layers, average pool to a grid × grid map (1: global),
                                  flattened and projected → (B, W, width)
    + learned position per frame  (W, width)
    → transformer encoder         `layers` bidirectional layers (no causal mask) → (B, W, width)
    → heads                       17 button logits (B, W, 17) and 4 stick axes in [-1, 1] (tanh) (B, W, 4)

`unified(...)` joins the heads into padflow.actions' unified order (17 buttons, then 4 axes):
button probabilities (sigmoid of the logits) and the axes. The loss (`idm_loss`) is binary cross
entropy on the buttons plus squared error on the axes, over observed cells only (padflow.tables:
a control the overlay does not draw is no label); a pressed cell may weigh more than a released one
(`press_weights`), since presses are rare and an unweighted loss is lowest when nothing is pressed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.idm.configuration import IdmConfig
from models.io import SavedModel, load_pretrained, save_pretrained
from padflow.actions import ACTION_SCHEMA_VERSION, AXIS_SLICE, BUTTON_SLICE

BUTTONS = BUTTON_SLICE.stop - BUTTON_SLICE.start  # 17
AXES = AXIS_SLICE.stop - AXIS_SLICE.start  # 4
IDM_FORMAT = "padflow-idm/1"


class FrameEncoder(nn.Module):
    """(N, C, S, S) → (N, width): three stride-2 convolutions, average pool to grid × grid, a projection of the flat map.

    The grid keeps where a feature is: which way a small sprite moved is a difference of positions."""

    def __init__(self, in_channels: int, channels: tuple[int, int, int], width: int, grid: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for out in channels:
            layers += [nn.Conv2d(previous, out, kernel_size=3, stride=2, padding=1), nn.GELU()]
            previous = out
        self.convs = nn.Sequential(*layers)
        self.grid = grid
        self.project = nn.Linear(previous * grid * grid, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)  # (N, channels[-1], S/8, S/8)
        x = F.adaptive_avg_pool2d(x, self.grid)  # (N, channels[-1], grid, grid)
        return self.project(x.flatten(1))  # (N, width)


class InverseDynamicsModel(nn.Module):
    def __init__(self, cfg: IdmConfig):
        super().__init__()
        self.config = cfg
        in_channels = 6 if cfg.difference_input else 3
        self.encoder = FrameEncoder(in_channels, cfg.channels, cfg.width, cfg.grid)
        self.position = nn.Parameter(torch.zeros(cfg.window, cfg.width))  # (W, width)
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, dim_feedforward=4 * cfg.width, dropout=cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        self.buttons = nn.Linear(cfg.width, BUTTONS)
        self.axes = nn.Linear(cfg.width, AXES)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, W, 3, S, S) in [-1, 1] → button logits (B, W, 17), axes (B, W, 4) in [-1, 1]."""
        b, w = frames.shape[:2]
        if w != self.config.window:
            raise ValueError(f"frames must hold windows of {self.config.window}, got {w}")
        if self.config.difference_input:
            previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # (B, W, 3, S, S); frame 0 is its own previous
            frames = torch.cat([frames, frames - previous], dim=2)  # (B, W, 6, S, S)
        tokens = self.encoder(frames.flatten(0, 1)).view(b, w, -1)  # (B, W, width)
        tokens = self.norm(self.temporal(tokens + self.position))  # (B, W, width); no mask: every frame sees the window
        return self.buttons(tokens), torch.tanh(self.axes(tokens))

    @torch.no_grad()
    def unified(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, W, 3, S, S) → (B, W, 21): button press probabilities, then the 4 axes (unified order)."""
        logits, axes = self(frames)
        return torch.cat([torch.sigmoid(logits), axes], dim=-1)


def idm_loss(logits: torch.Tensor, axes: torch.Tensor, labels: torch.Tensor, observed: torch.Tensor,
             pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """BCE on buttons + squared error on axes, averaged over observed cells.

    logits (B, W, 17), axes (B, W, 4), labels (B, W, 21) unified actions, observed (B, 21) bool; pos_weight (17,)
    multiplies the loss of a pressed cell (None = 1: unweighted).
    """
    seen = observed[:, None, :].expand_as(labels).float()  # (B, W, 21)
    seen_b, seen_a = seen[..., BUTTON_SLICE], seen[..., AXIS_SLICE]
    bce = F.binary_cross_entropy_with_logits(logits, labels[..., BUTTON_SLICE], reduction="none", pos_weight=pos_weight)
    se = (axes - labels[..., AXIS_SLICE]) ** 2
    return (bce * seen_b).sum() / seen_b.sum().clamp(min=1) + (se * seen_a).sum() / seen_a.sum().clamp(min=1)


def press_weights(actions: np.ndarray, observed: np.ndarray, max_weight: float) -> np.ndarray:
    """(17,) BCE weight of a pressed cell per button: released / pressed cells of the training labels, clipped to
    [1, max_weight] (1 for a button never pressed or never observed). actions (N, 21) unified, observed (N, 21) bool."""
    seen = observed[:, BUTTON_SLICE]
    pressed = ((actions[:, BUTTON_SLICE] > 0.5) & seen).sum(0)
    released = seen.sum(0) - pressed
    ratio = np.where(pressed > 0, released / np.maximum(pressed, 1), 1.0)
    return np.clip(ratio, 1.0, max_weight).astype(np.float32)


SAVED_IDM = SavedModel(name="idm", format=IDM_FORMAT, config_cls=IdmConfig, build=InverseDynamicsModel,
                       header={"action_schema": ACTION_SCHEMA_VERSION})


def save_idm(model: InverseDynamicsModel, folder: str | Path) -> Path:
    """idm.safetensors + idm_config.json in `folder` (models.io)."""
    return save_pretrained(model, model.config, folder, SAVED_IDM)


def load_idm(folder: str | Path, device: str | torch.device = "cpu") -> InverseDynamicsModel:
    """The IDM saved in `folder`, strictly checked (models.io), in eval mode."""
    return load_pretrained(SAVED_IDM, folder, device)
