"""The overlay parser: a SegFormer encoder that reads two consecutive overlay crops and outputs the
gamepad state the current one shows.

Input: (B, 3, h, 2w) pairs from padflow.overlay.crops (previous crop left, current right),
normalized with ImageNet statistics. The encoder's four stages (strides 4, 8, 16, 32) are each
projected to `head_size` channels, pooled or upsampled to one stride-16 map and fused, like
SegFormer's all-MLP decoder but at a coarse stride; the fused map is flattened so every output
knows *where* in the overlay its evidence lies (a button is a place on the pad), then:

    buttons        (B, 17)             logits, one per button in padflow.actions.BUTTONS order
    stick_logits   (B, 2, grid²)       left/right stick position on a grid x grid lattice
                                       (row 0 = stick fully up, column 0 = fully left)
    stick_offsets  (B, 2, 2)           sub-cell (column, row) offset in cells, in [-0.5, 0.5]

`predict` turns these into unified actions and a confidence; `save_parser` / `load_parser` keep
weights as safetensors beside a JSON config (nothing is ever unpickled).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import SegformerConfig, SegformerModel

from padflow.actions import ACTION_DIM, LEFT_STICK, N_BUTTONS, RIGHT_STICK
from padflow.config import from_mapping
from padflow.io import atomic_path, write_json

WEIGHTS_FILE = "parser.safetensors"
CONFIG_FILE = "parser_config.json"
PARSER_FORMAT_VERSION = 1
N_STICKS = 2
STICK_SLICES = (LEFT_STICK, RIGHT_STICK)
HEAD_STRIDE = 16  # px of input per cell of the fused map: fine enough to tell neighbouring buttons apart
PRESS_THRESHOLD = 0.5


@dataclass(frozen=True)
class ParserConfig:
    """Sizes of the parser; the SegFormer fields mean what they mean in transformers' SegformerConfig."""

    crop_size: tuple[int, int] = (96, 64)  # (w, h) px of ONE rectified crop; the input is (h, 2w)
    num_encoder_blocks: int = 4  # SegFormer stages
    hidden_sizes: tuple[int, ...] = (16, 32, 64, 128)  # channels per stage
    depths: tuple[int, ...] = (1, 1, 2, 1)  # transformer layers per stage
    num_attention_heads: tuple[int, ...] = (1, 1, 2, 4)  # per stage
    sr_ratios: tuple[int, ...] = (4, 2, 1, 1)  # key/value spatial reduction per stage (efficient attention)
    patch_sizes: tuple[int, ...] = (7, 3, 3, 3)  # overlapping patch-embedding kernel per stage
    strides: tuple[int, ...] = (4, 2, 2, 2)  # patch-embedding stride per stage
    mlp_ratio: int = 4  # Mix-FFN width, multiple of the stage's channels
    head_size: int = 64  # channels of the fused stride-16 map
    grid: int = 11  # stick positions per axis (NitroGen's 11 x 11)
    dropout: float = 0.1  # before the output layer
    pretrained: str | None = None  # folder with SegFormer weights saved by save_pretrained (random init if None)

    def __post_init__(self) -> None:
        w, h = self.crop_size
        if w % HEAD_STRIDE or h % HEAD_STRIDE or w < HEAD_STRIDE or h < HEAD_STRIDE:
            raise ValueError(f"crop_size: {self.crop_size} sides must be positive multiples of {HEAD_STRIDE} px")
        n = self.num_encoder_blocks
        if n < 1:
            raise ValueError(f"num_encoder_blocks: {n} must be >= 1")
        for name in ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "patch_sizes", "strides"):
            values = getattr(self, name)
            if len(values) != n or any(v < 1 for v in values):
                raise ValueError(f"{name}: {list(values)} must hold {n} positive integers (one per encoder block)")
        for size, heads in zip(self.hidden_sizes, self.num_attention_heads):
            if size % heads:
                raise ValueError(f"num_attention_heads: {heads} does not divide hidden size {size}")
        if int(np.prod(self.strides)) > min(w, h):
            raise ValueError(f"strides: total stride {int(np.prod(self.strides))} exceeds the crop's shorter side {min(w, h)}")
        if self.mlp_ratio < 1 or self.head_size < 1:
            raise ValueError(f"mlp_ratio and head_size must be >= 1, got {self.mlp_ratio}, {self.head_size}")
        if self.grid < 3 or self.grid % 2 == 0:
            raise ValueError(f"grid: {self.grid} must be odd and >= 3 (an odd grid has a centre cell)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: {self.dropout} is outside [0, 1)")

    @property
    def input_size(self) -> tuple[int, int]:
        """(h, 2w) of one input pair."""
        return self.crop_size[1], 2 * self.crop_size[0]

    def segformer_config(self) -> SegformerConfig:
        return SegformerConfig(
            num_channels=3,
            num_encoder_blocks=self.num_encoder_blocks,
            hidden_sizes=list(self.hidden_sizes),
            depths=list(self.depths),
            num_attention_heads=list(self.num_attention_heads),
            sr_ratios=list(self.sr_ratios),
            patch_sizes=list(self.patch_sizes),
            strides=list(self.strides),
            mlp_ratios=[self.mlp_ratio] * self.num_encoder_blocks,
            drop_path_rate=0.0,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )


class OverlayParser(nn.Module):
    """SegFormer encoder + multi-scale fusion + flattened heads for buttons and stick grids."""

    def __init__(self, cfg: ParserConfig, load_pretrained: bool = True) -> None:
        """Random init, or the encoder from `cfg.pretrained` when `load_pretrained` (load_parser skips it)."""
        super().__init__()
        self.cfg = cfg
        if cfg.pretrained is not None and load_pretrained:
            self.encoder = _pretrained_encoder(Path(cfg.pretrained), cfg)
        else:
            self.encoder = SegformerModel(cfg.segformer_config())
        h, w2 = cfg.input_size
        self.map_size = (h // HEAD_STRIDE, w2 // HEAD_STRIDE)
        self.project = nn.ModuleList(nn.Conv2d(c, cfg.head_size, 1) for c in cfg.hidden_sizes)
        self.fuse = nn.Sequential(
            nn.Conv2d(cfg.head_size * cfg.num_encoder_blocks, cfg.head_size, 1),
            nn.BatchNorm2d(cfg.head_size),
            nn.GELU(),
        )
        self.dropout = nn.Dropout(cfg.dropout)
        cells = cfg.grid * cfg.grid
        self.n_outputs = N_BUTTONS + N_STICKS * (cells + 2)
        self.head = nn.Linear(cfg.head_size * self.map_size[0] * self.map_size[1], self.n_outputs)

    def forward(self, pairs: torch.Tensor) -> dict[str, torch.Tensor]:
        _check_input(pairs, self.cfg)
        # hidden_states: one (B, C_i, h / s_i, 2w / s_i) map per encoder block
        stages = self.encoder(pairs, output_hidden_states=True).hidden_states
        maps = [F.interpolate(p(x), size=self.map_size, mode="bilinear", align_corners=False) for p, x in zip(self.project, stages)]
        fused = self.fuse(torch.cat(maps, dim=1))  # (B, head_size, h/16, 2w/16)
        out = self.head(self.dropout(fused.flatten(1)))  # (B, n_outputs)
        cells = self.cfg.grid * self.cfg.grid
        buttons, sticks = out[:, :N_BUTTONS], out[:, N_BUTTONS:]
        stick_logits = sticks[:, : N_STICKS * cells].reshape(-1, N_STICKS, cells)
        stick_offsets = 0.5 * torch.tanh(sticks[:, N_STICKS * cells :].reshape(-1, N_STICKS, 2))
        return {"buttons": buttons, "stick_logits": stick_logits, "stick_offsets": stick_offsets}

    @torch.inference_mode()
    def predict(self, pairs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Unified actions (B, 21) float32 and a per-frame confidence (B,) in [0, 1].

        Buttons are thresholded at 0.5; sticks are (x, y) in [-1, 1] (x right, y up), the argmax
        grid cell plus the predicted sub-cell offset, before any per-video normalization.
        Confidence = (least certain button's max(p, 1 - p)) x (lower of the two sticks' peak grid
        probability): low when any single control is in doubt.
        """
        was_training = self.training
        self.eval()
        try:
            x = torch.as_tensor(pairs, dtype=torch.float32)
            out = self(x)
        finally:
            self.train(was_training)
        p_buttons = torch.sigmoid(out["buttons"])
        p_cells = torch.softmax(out["stick_logits"], dim=-1)
        peak, cell = p_cells.max(dim=-1)  # (B, 2)
        axes = cells_to_axes(cell, out["stick_offsets"], self.cfg.grid)  # (B, 2, 2)
        actions = torch.zeros(x.shape[0], ACTION_DIM)
        actions[:, :N_BUTTONS] = (p_buttons > PRESS_THRESHOLD).float()
        for k, stick in enumerate(STICK_SLICES):
            actions[:, stick] = axes[:, k]
        button_certainty = torch.maximum(p_buttons, 1 - p_buttons).min(dim=1).values
        confidence = button_certainty * peak.min(dim=1).values
        return actions.numpy(), confidence.numpy().astype(np.float32)


def _check_input(pairs: torch.Tensor, cfg: ParserConfig) -> None:
    h, w2 = cfg.input_size
    if pairs.ndim != 4 or tuple(pairs.shape[1:]) != (3, h, w2):
        raise ValueError(f"parser input has shape {tuple(pairs.shape)}; expected (B, 3, {h}, {w2}) = two {cfg.crop_size} crops side by side")


def _pretrained_encoder(folder: Path, cfg: ParserConfig) -> SegformerModel:
    """SegFormer weights from a local `save_pretrained` folder; their sizes must match `cfg`."""
    if not (folder / "config.json").is_file():
        raise ValueError(f"pretrained: {folder} holds no SegFormer config.json (expected a save_pretrained folder)")
    encoder = SegformerModel.from_pretrained(str(folder), local_files_only=True)
    got, want = encoder.config, cfg.segformer_config()
    for name in ("num_encoder_blocks", "hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "patch_sizes", "strides", "num_channels"):
        if getattr(got, name) != getattr(want, name):
            raise ValueError(f"pretrained: {folder} has {name} {getattr(got, name)}, the parser config says {getattr(want, name)}")
    return encoder


# --- labels and decoding -------------------------------------------------------------------------


def stick_targets(actions: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid cell (B, 2) long and sub-cell (column, row) offset (B, 2, 2) of each stick in (B, 21) actions."""
    xy = torch.stack([actions[:, s] for s in STICK_SLICES], dim=1)  # (B, 2, 2) x right, y up
    col = (xy[..., 0] + 1) / 2 * (grid - 1)
    row = (1 - xy[..., 1]) / 2 * (grid - 1)  # row 0 = fully up
    col_i, row_i = col.round().clamp(0, grid - 1), row.round().clamp(0, grid - 1)
    cell = (row_i * grid + col_i).long()
    return cell, torch.stack([col - col_i, row - row_i], dim=-1)


def cells_to_axes(cell: torch.Tensor, offsets: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, 2) grid cells + (B, 2, 2) offsets → (B, 2, 2) stick (x, y) in [-1, 1]."""
    col = (cell % grid).float() + offsets[..., 0]
    row = torch.div(cell, grid, rounding_mode="floor").float() + offsets[..., 1]
    x = col / (grid - 1) * 2 - 1
    y = 1 - row / (grid - 1) * 2
    return torch.stack([x, y], dim=-1).clamp(-1.0, 1.0)


def parser_loss(out: dict[str, torch.Tensor], actions: torch.Tensor, grid: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Button BCE (summed over buttons) + stick-cell cross-entropy + L1 on the sub-cell offset; and each part."""
    cell, offset = stick_targets(actions, grid)
    buttons = F.binary_cross_entropy_with_logits(out["buttons"], actions[:, :N_BUTTONS], reduction="sum") / len(actions)
    cells = F.cross_entropy(out["stick_logits"].flatten(0, 1), cell.flatten())
    offsets = F.l1_loss(out["stick_offsets"], offset)
    total = buttons + N_STICKS * cells + N_STICKS * offsets
    parts = {"buttons": buttons.item(), "stick_cells": cells.item(), "stick_offsets": offsets.item()}
    return total, parts


# --- files ---------------------------------------------------------------------------------------


def save_parser(model: OverlayParser, folder: str | Path) -> Path:
    """Write `parser.safetensors` and `parser_config.json` into `folder`, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "padflow-overlay-parser", "version": str(PARSER_FORMAT_VERSION)})
    write_json(folder / CONFIG_FILE, {"format_version": PARSER_FORMAT_VERSION, "config": asdict(model.cfg)})
    return folder


def load_parser(folder: str | Path) -> OverlayParser:
    """Rebuild a parser saved by save_parser; ValueError names the file on a missing, corrupt or mismatched save."""
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(f"{path}: missing; a parser folder holds {CONFIG_FILE} and {WEIGHTS_FILE} (written by save_parser)")
    try:
        record = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_path}: not a readable parser config: {exc}") from None
    if not isinstance(record, dict) or record.get("format_version") != PARSER_FORMAT_VERSION:
        raise ValueError(f"{config_path}: format_version must be {PARSER_FORMAT_VERSION}")
    cfg = from_mapping(ParserConfig, record.get("config"), str(config_path))
    model = OverlayParser(cfg, load_pretrained=False)
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{weights_path}: not a readable safetensors file: {exc}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or wrong:
        problems = [f"missing {', '.join(missing[:3])}" * bool(missing), f"unexpected {', '.join(unexpected[:3])}" * bool(unexpected), f"wrong shapes: {'; '.join(wrong[:3])}" * bool(wrong)]
        raise ValueError(f"{weights_path}: weights do not fit the config in {CONFIG_FILE}: {'; '.join(p for p in problems if p)}")
    model.load_state_dict(tensors)
    model.eval()
    return model
