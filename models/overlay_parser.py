"""The overlay parser: a SegFormer encoder that reads two consecutive overlay views and outputs the
gamepad state the current one shows.

Input: a padflow.overlay.crops.ParserBatch — for each frame, the whole overlay crop and a patch
around each stick well, each as [previous | current] side by side with the skin at rest stacked
on as three more channels (so "pressed" and "deflected" are differences from a reference the
parser can see, whatever the skin looks like), plus where the buttons are (boxes from the skin
layout) and how far a stick cap travels inside its patch.

One SegFormer encoder reads both views. Its four stages (strides 4, 8, 16, 32) are projected to
`head_size` channels, upsampled to stride 4 and summed into one map (SegFormer's all-MLP decoder
at its stride, with a sum in place of its concatenate-and-mix); then

    buttons       (B, 17)         logits: the fused map of the current crop is averaged over each
                                  button's box (and the same box in the previous crop, and the
                                  whole crop), and one MLP shared by all buttons reads that,
                                  plus a learned embedding of the button's name
    stick_logits  (B, 2, grid²)   the fused map of each current stick patch is sampled at the
                                  grid x grid cap positions the layout allows (row 0 = fully
                                  up, column 0 = fully left) and a 1x1 MLP scores each position

Reading at layout positions rather than through a flat linear layer is what lets the parser
handle skins it never trained on: it learns what a pressed button or a cap looks like, not
where one skin keeps them. `read` decodes the stick grid with a local soft-argmax (the
sub-cell refinement) and turns everything into unified actions and a confidence (`predict`);
`save_parser` / `load_parser` keep weights as safetensors beside a JSON config.
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
from padflow.overlay.crops import INPUT_CHANNELS, N_STICKS, PIXEL_MEAN, PIXEL_STD, ParserBatch

WEIGHTS_FILE = "parser.safetensors"
CONFIG_FILE = "parser_config.json"
PARSER_FORMAT_VERSION = 2  # 2: layout-guided heads, rest-image channels, stick patches
STICK_SLICES = (LEFT_STICK, RIGHT_STICK)
DECODE_STRIDE = 4  # px of input per cell of the fused map (SegFormer's decoder stride)
PRESS_THRESHOLD = 0.5
SOFT_ARGMAX_RADIUS = 1  # cells around the peak that the sub-cell refinement averages over
RGB_CHANNELS = 3  # pretrained SegFormer checkpoints read RGB only


@dataclass(frozen=True)
class ParserConfig:
    """Sizes of the parser; the SegFormer fields mean what they mean in transformers' SegformerConfig."""

    crop_size: tuple[int, int] = (96, 64)  # (w, h) px of ONE rectified crop; the frames input is (h, 2w)
    stick_size: int = 32  # px side of one stick patch; the sticks input is (s, 2s) per stick
    num_encoder_blocks: int = 4  # SegFormer stages
    hidden_sizes: tuple[int, ...] = (16, 32, 64, 128)  # channels per stage
    depths: tuple[int, ...] = (1, 1, 2, 1)  # transformer layers per stage
    num_attention_heads: tuple[int, ...] = (1, 1, 2, 4)  # per stage
    sr_ratios: tuple[int, ...] = (4, 2, 1, 1)  # key/value spatial reduction per stage (efficient attention)
    patch_sizes: tuple[int, ...] = (7, 3, 3, 3)  # overlapping patch-embedding kernel per stage
    strides: tuple[int, ...] = (4, 2, 2, 2)  # patch-embedding stride per stage
    mlp_ratio: int = 4  # Mix-FFN width, multiple of the stage's channels
    head_size: int = 32  # channels of the fused stride-4 map
    grid: int = 11  # stick positions per axis (NitroGen's 11 x 11)
    dropout: float = 0.1  # before the output layers
    pretrained: str | None = None  # folder with SegFormer weights saved by save_pretrained (random init if None)

    def __post_init__(self) -> None:
        w, h = self.crop_size
        total_stride = int(np.prod(self.strides))
        for name, side in (("crop_size", w), ("crop_size", h), ("stick_size", self.stick_size)):
            if side < total_stride or side % DECODE_STRIDE:
                raise ValueError(f"{name}: sides must be multiples of {DECODE_STRIDE} px and at least the encoder's total stride {total_stride}, got {getattr(self, name)}")
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
        if self.strides[0] != DECODE_STRIDE:
            raise ValueError(f"strides: the first stage must have stride {DECODE_STRIDE} (the fused map's), got {self.strides[0]}")
        if self.mlp_ratio < 1 or self.head_size < 1:
            raise ValueError(f"mlp_ratio and head_size must be >= 1, got {self.mlp_ratio}, {self.head_size}")
        if self.grid < 3 or self.grid % 2 == 0:
            raise ValueError(f"grid: {self.grid} must be odd and >= 3 (an odd grid has a centre cell)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: {self.dropout} is outside [0, 1)")

    @property
    def input_size(self) -> tuple[int, int]:
        """(h, 2w) of one frames input."""
        return self.crop_size[1], 2 * self.crop_size[0]

    def segformer_config(self, num_channels: int = INPUT_CHANNELS) -> SegformerConfig:
        return SegformerConfig(
            num_channels=num_channels,
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
    """SegFormer encoder + stride-4 fusion + layout-guided button and stick heads."""

    def __init__(self, cfg: ParserConfig, load_pretrained: bool = True) -> None:
        """Random init, or the encoder from `cfg.pretrained` when `load_pretrained` (load_parser skips it)."""
        super().__init__()
        self.cfg = cfg
        if cfg.pretrained is not None and load_pretrained:
            self.encoder = _pretrained_encoder(Path(cfg.pretrained), cfg)
        else:
            self.encoder = SegformerModel(cfg.segformer_config())
        c = cfg.head_size
        self.project = nn.ModuleList(nn.Conv2d(size, c, 1) for size in cfg.hidden_sizes)
        self.fuse = nn.Sequential(nn.BatchNorm2d(c), nn.GELU())
        self.button_embedding = nn.Parameter(torch.zeros(N_BUTTONS, 3 * c))
        self.button_head = nn.Sequential(nn.Linear(3 * c, c), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(c, 1))
        self.stick_head = nn.Sequential(nn.Conv2d(c, c, 1), nn.GELU(), nn.Dropout(cfg.dropout), nn.Conv2d(c, 1, 1))
        self.register_buffer("lattice", torch.linspace(-1.0, 1.0, cfg.grid), persistent=False)
        # uint8 pixels → ImageNet-normalized floats, for the frames' and the rest image's RGB alike
        mean, std = (torch.tensor(np.tile(v, INPUT_CHANNELS // 3)).reshape(1, -1, 1, 1) for v in (PIXEL_MEAN, PIXEL_STD))
        self.register_buffer("pixel_scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("pixel_shift", -mean / std, persistent=False)

    def fused(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 6, H, W) uint8 → (B, head_size, H/4, W/4): all encoder stages at the first stage's stride."""
        x = pixels.float() * self.pixel_scale + self.pixel_shift
        stages = self.encoder(x, output_hidden_states=True).hidden_states  # (B, C_i, H/s_i, W/s_i) per block
        size = stages[0].shape[-2:]
        # Summed rather than concatenated and mixed (SegFormer's decoder): the same multi-scale
        # map for a quarter of the work at stride 4, which dominated the parser's CPU time.
        fused = self.project[0](stages[0])
        for project, stage in zip(self.project[1:], stages[1:]):
            fused = fused + F.interpolate(project(stage), size=size, mode="bilinear", align_corners=False)
        return self.fuse(fused)

    def forward(self, batch: ParserBatch) -> dict[str, torch.Tensor]:
        _check_input(batch, self.cfg)
        b, g = batch.frames.shape[0], self.cfg.grid

        fused = self.fused(batch.frames)  # (B, C, h/4, 2w/4)
        previous, current = fused.chunk(2, dim=-1)  # (B, C, h/4, w/4) each
        masks = box_masks(batch.button_boxes, current.shape[-2:])  # (B, 17, h/4, w/4), rows sum to 1
        pooled = torch.cat(
            [
                torch.einsum("bchw,bkhw->bkc", current, masks),
                torch.einsum("bchw,bkhw->bkc", previous, masks),
                current.mean(dim=(2, 3))[:, None].expand(-1, N_BUTTONS, -1),
            ],
            dim=-1,
        )  # (B, 17, 3C)
        buttons = self.button_head(pooled + self.button_embedding).squeeze(-1)  # (B, 17)

        sticks = self.fused(batch.sticks.flatten(0, 1))  # (2B, C, s/4, 2s/4)
        current_sticks = sticks.chunk(2, dim=-1)[1]  # (2B, C, s/4, s/4)
        # Cap-centre positions in grid_sample's [-1, 1] patch coordinates: x right, y down (row 0 = up).
        positions = batch.stick_travel.reshape(-1, 1) * self.lattice  # (2B, g)
        xs = positions[:, None, :].expand(-1, g, -1)  # (2B, g, g): column → x
        ys = positions[:, :, None].expand(-1, -1, g)  # (2B, g, g): row → y
        samples = F.grid_sample(current_sticks, torch.stack([xs, ys], dim=-1), mode="bilinear", align_corners=False)
        stick_logits = self.stick_head(samples).reshape(b, N_STICKS, g * g)  # (B, 2, g²)
        return {"buttons": buttons, "stick_logits": stick_logits}

    def predict(self, batch: ParserBatch) -> tuple[np.ndarray, np.ndarray]:
        """Unified actions (B, 21) float32 and a per-frame confidence (B,) in [0, 1] (see `read`)."""
        reading = self.read(batch)
        return reading.actions, reading.confidence

    @torch.inference_mode()
    def read(self, batch: ParserBatch) -> ParserReading:
        """Actions, confidence and the button logits behind them.

        Buttons are thresholded at 0.5; sticks are (x, y) in [-1, 1] (x right, y up) from the
        local soft-argmax of their grid, before any per-video normalization. Confidence =
        (least certain button's max(p, 1 - p)) x (lower of the two sticks' probability mass
        around its decoded position): low when any single control is in doubt.
        """
        was_training = self.training
        self.eval()
        try:
            out = self(as_tensors(batch))
        finally:
            self.train(was_training)
        p_buttons = torch.sigmoid(out["buttons"])
        axes, mass = decode_sticks(out["stick_logits"], self.cfg.grid)  # (B, 2, 2), (B, 2)
        actions = torch.zeros(len(p_buttons), ACTION_DIM)
        actions[:, :N_BUTTONS] = (p_buttons > PRESS_THRESHOLD).float()
        for k, stick in enumerate(STICK_SLICES):
            actions[:, stick] = axes[:, k]
        button_certainty = torch.maximum(p_buttons, 1 - p_buttons).min(dim=1).values
        confidence = (button_certainty * mass.min(dim=1).values).clamp(0.0, 1.0)
        return ParserReading(actions.numpy(), confidence.numpy().astype(np.float32), out["buttons"].float().numpy())


@dataclass(frozen=True)
class ParserReading:
    """What the parser reads from a batch of B crop pairs."""

    actions: np.ndarray  # (B, 21) float32 unified actions: 17 buttons as 0/1, then LEFT_X, LEFT_Y, RIGHT_X, RIGHT_Y
    confidence: np.ndarray  # (B,) float32 in [0, 1]
    button_logits: np.ndarray  # (B, 17) float32, before the 0.5 threshold (per-video calibration reads them)


def as_tensors(batch: ParserBatch) -> ParserBatch:
    """A numpy ParserBatch as torch tensors: pixels stay uint8, layout becomes float32."""
    # np.require copies only arrays torch cannot share: non-contiguous, or read-only (broadcast layout)
    frames, sticks, boxes, travel = (torch.as_tensor(np.require(x, requirements=("C", "W"))) if isinstance(x, np.ndarray) else x for x in batch)
    return ParserBatch(frames, sticks, boxes.float(), travel.float())


def box_masks(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, K, 4) boxes in [0, 1] → (B, K, H, W) weights: each cell's overlap with the box, normalized to sum 1.

    A box thinner than a cell still gets the cells it touches, in proportion.
    """
    h, w = int(size[0]), int(size[1])

    def overlap(lo: torch.Tensor, hi: torch.Tensor, n: int) -> torch.Tensor:  # (B, K) → (B, K, n)
        edges = torch.arange(n, dtype=boxes.dtype, device=boxes.device)
        start, end = lo[..., None] * n, hi[..., None] * n
        return (torch.minimum(end, edges + 1) - torch.maximum(start, edges)).clamp(min=0.0)

    x0, y0, x1, y1 = boxes.unbind(-1)
    weights = overlap(y0, y1, h)[..., :, None] * overlap(x0, x1, w)[..., None, :]  # (B, K, H, W)
    return weights / weights.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-6)


def _check_input(batch: ParserBatch, cfg: ParserConfig) -> None:
    h, w2 = cfg.input_size
    s = cfg.stick_size
    frames, sticks, boxes, travel = batch
    if frames.ndim != 4 or tuple(frames.shape[1:]) != (INPUT_CHANNELS, h, w2):
        raise ValueError(f"parser frames input has shape {tuple(frames.shape)}; expected (B, {INPUT_CHANNELS}, {h}, {w2}) = two {cfg.crop_size} crops side by side plus the rest image")
    b = frames.shape[0]
    expected = {"sticks": (b, N_STICKS, INPUT_CHANNELS, s, 2 * s), "button_boxes": (b, N_BUTTONS, 4), "stick_travel": (b, N_STICKS)}
    for name, got in (("sticks", sticks), ("button_boxes", boxes), ("stick_travel", travel)):
        if tuple(got.shape) != expected[name]:
            raise ValueError(f"parser {name} input has shape {tuple(got.shape)}; expected {expected[name]}")


def _pretrained_encoder(folder: Path, cfg: ParserConfig) -> SegformerModel:
    """SegFormer weights from a local `save_pretrained` folder; their sizes must match `cfg`.

    An RGB checkpoint (the usual kind) is widened to the parser's six input channels: the rest
    image's channels start at zero, so the encoder first behaves exactly as it was trained.
    """
    if not (folder / "config.json").is_file():
        raise ValueError(f"pretrained: {folder} holds no SegFormer config.json (expected a save_pretrained folder)")
    loaded = SegformerModel.from_pretrained(str(folder), local_files_only=True)
    got, want = loaded.config, cfg.segformer_config()
    for name in ("num_encoder_blocks", "hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "patch_sizes", "strides"):
        if getattr(got, name) != getattr(want, name):
            raise ValueError(f"pretrained: {folder} has {name} {getattr(got, name)}, the parser config says {getattr(want, name)}")
    if got.num_channels == INPUT_CHANNELS:
        return loaded
    if got.num_channels != RGB_CHANNELS:
        raise ValueError(f"pretrained: {folder} has num_channels {got.num_channels}; the parser reads {RGB_CHANNELS} (RGB checkpoints) or {INPUT_CHANNELS}")
    encoder = SegformerModel(want)
    state = loaded.state_dict()
    key = "stages.0.patch_embeddings.proj.weight"  # (C_0, channels, k, k): the only layer that sees pixels
    rgb = state[key]
    state[key] = torch.cat([rgb, torch.zeros(rgb.shape[0], INPUT_CHANNELS - RGB_CHANNELS, *rgb.shape[2:])], dim=1)
    encoder.load_state_dict(state)
    return encoder


# --- labels and decoding -------------------------------------------------------------------------


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


def parser_loss(out: dict[str, torch.Tensor], actions: torch.Tensor, grid: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Button BCE (summed over buttons) + soft-target cross-entropy over each stick's grid; and each part."""
    buttons = F.binary_cross_entropy_with_logits(out["buttons"], actions[:, :N_BUTTONS], reduction="sum") / len(actions)
    target = stick_targets(actions, grid)
    sticks = -(target * F.log_softmax(out["stick_logits"], dim=-1)).sum(-1).mean()
    total = buttons + N_STICKS * sticks
    return total, {"buttons": buttons.item(), "sticks": sticks.item()}


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
