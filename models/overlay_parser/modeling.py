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

With `ParserConfig.compare_rest` the comparison with the rest look is explicit (`difference_from_rest`,
`box_changes`, `cap_match`): (frame - rest) as three more encoder channels, per button box the change
from rest and from the previous frame, and per stick grid position the rest cap's template match;
all computed from the same ParserBatch, so extraction passes nothing new. `with_rest_comparison`
widens a trained parser into one that starts out reading exactly as it did.

Reading at layout positions rather than through a flat linear layer is what lets the parser
handle skins it never trained on: it learns what a pressed button or a cap looks like, not
where one skin keeps them. `read` decodes the stick grid with a local soft-argmax (the
sub-cell refinement, processor.py) and turns everything into unified actions and a confidence
(`predict`); `save_parser` / `load_parser` keep weights as models/io.py does for both networks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import SegformerModel

from models.io import SavedModel, load_pretrained, save_pretrained
from models.overlay_parser.configuration import ParserConfig
from models.overlay_parser.processor import ParserReading, as_tensors, decode_outputs, stick_observed, stick_targets
from padflow.actions import N_BUTTONS
from padflow.overlay.crops import INPUT_CHANNELS, N_STICKS, PIXEL_MEAN, PIXEL_STD, STICK_PATCH_MARGIN, ParserBatch

PARSER_FORMAT = "padflow-overlay-parser/2"  # 2: layout-guided heads, rest-image channels, stick patches (compare_rest: a config option)
RGB_CHANNELS = 3  # pretrained SegFormer checkpoints read RGB only
DIFFERENCE_SCALE = 64.0  # (frame - rest) in uint8 levels / this: about unit scale for the encoder
CHANGE_FEATURES = 3  # per button (compare_rest): mean and max |current - rest|, mean |current - previous| over its box
CHANGE_GAIN = 10.0  # change energies are means of [0, 1] differences, mostly < 0.1: scaled towards unit size
CAP_FEATURES = 2  # per stick grid position (compare_rest): rest-cap template correlation, |current - rest| there
TEMPLATE_SIDE = 5  # the rest cap's template is sampled on a 5 x 5 lattice over its radius


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
        extra_button, extra_stick = (CHANGE_FEATURES, CAP_FEATURES) if cfg.compare_rest else (0, 0)
        self.project = nn.ModuleList(nn.Conv2d(size, c, 1) for size in cfg.hidden_sizes)
        self.fuse = nn.Sequential(nn.BatchNorm2d(c), nn.GELU())
        self.button_embedding = nn.Parameter(torch.zeros(N_BUTTONS, 3 * c))
        self.button_head = nn.Sequential(nn.Linear(3 * c + extra_button, c), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(c, 1))
        self.stick_head = nn.Sequential(nn.Conv2d(c + extra_stick, c, 1), nn.GELU(), nn.Dropout(cfg.dropout), nn.Conv2d(c, 1, 1))
        if cfg.compare_rest:
            self.register_buffer("template_offsets", _template_offsets(), persistent=False)
        self.register_buffer("lattice", torch.linspace(-1.0, 1.0, cfg.grid), persistent=False)
        # uint8 pixels → ImageNet-normalized floats, for the frames' and the rest image's RGB alike
        mean, std = (torch.tensor(np.tile(v, INPUT_CHANNELS // 3)).reshape(1, -1, 1, 1) for v in (PIXEL_MEAN, PIXEL_STD))
        self.register_buffer("pixel_scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("pixel_shift", -mean / std, persistent=False)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> OverlayParser:
        """The parser saved in `folder` (parser_train's export, `save_pretrained`), offline: `load_parser`."""
        return load_parser(folder, device)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Weights + config into `folder`: `save_parser` (parser_train adds its model card, README.md)."""
        return save_parser(self, folder)

    def fused(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 6, H, W) uint8 → (B, head_size, H/4, W/4): all encoder stages at the first stage's stride."""
        x = pixels.float() * self.pixel_scale + self.pixel_shift
        if self.cfg.compare_rest:
            x = torch.cat([x, difference_from_rest(pixels)], dim=1)
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
        pooled = pooled + self.button_embedding
        if self.cfg.compare_rest:
            pooled = torch.cat([pooled, box_changes(batch.frames, masks)], dim=-1)
        buttons = self.button_head(pooled).squeeze(-1)  # (B, 17)

        sticks = self.fused(batch.sticks.flatten(0, 1))  # (2B, C, s/4, 2s/4)
        current_sticks = sticks.chunk(2, dim=-1)[1]  # (2B, C, s/4, s/4)
        # Cap-centre positions in grid_sample's [-1, 1] patch coordinates: x right, y down (row 0 = up).
        positions = batch.stick_travel.reshape(-1, 1) * self.lattice  # (2B, g)
        xs = positions[:, None, :].expand(-1, g, -1)  # (2B, g, g): column → x
        ys = positions[:, :, None].expand(-1, -1, g)  # (2B, g, g): row → y
        grid_xy = torch.stack([xs, ys], dim=-1)  # (2B, g, g, 2)
        samples = F.grid_sample(current_sticks, grid_xy, mode="bilinear", align_corners=False)
        if self.cfg.compare_rest:
            samples = torch.cat([samples, cap_match(batch.sticks.flatten(0, 1), grid_xy, batch.stick_travel.reshape(-1), self.template_offsets)], dim=1)
        stick_logits = self.stick_head(samples).reshape(b, N_STICKS, g * g)  # (B, 2, g²)
        return {"buttons": buttons, "stick_logits": stick_logits}

    def predict(self, batch: ParserBatch) -> tuple[np.ndarray, np.ndarray]:
        """Unified actions (B, 21) float32 and a per-frame confidence (B,) in [0, 1] (see `read`)."""
        reading = self.read(batch)
        return reading.actions, reading.confidence

    @torch.inference_mode()
    def read(self, batch: ParserBatch) -> ParserReading:
        """Actions, confidence and the button logits behind them (processor.decode_outputs), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            out = self(as_tensors(batch))
        finally:
            self.train(was_training)
        return decode_outputs(out, self.cfg.grid)


def with_rest_comparison(model: OverlayParser) -> OverlayParser:
    """A compare_rest parser that starts out reading exactly as `model` (a stacked-channels parser) does.

    Every weight is copied; the new inputs (the difference channels' patch-embedding weights, the
    button head's change features, the stick head's cap features) start at zero, so training
    from here adds the comparison to what `model` already reads instead of starting afresh.
    """
    if model.cfg.compare_rest:
        raise ValueError("with_rest_comparison: the parser already compares against the rest look")
    wide = OverlayParser(replace(model.cfg, compare_rest=True), load_pretrained=False)
    state = model.state_dict()
    widened = wide.state_dict()
    for key, value in state.items():
        target = widened[key]
        if target.shape == value.shape:
            widened[key] = value.clone()
        else:  # the input dimension grew (dim 1): old weights first, zeros for the new inputs
            padded = torch.zeros_like(target)
            padded[:, : value.shape[1]] = value
            widened[key] = padded
    wide.load_state_dict(widened)
    return wide


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


def difference_from_rest(pixels: torch.Tensor) -> torch.Tensor:
    """(B, 6, H, W) uint8 [frames RGB, rest RGB] → (B, 3, H, W) float: (frame - rest) / DIFFERENCE_SCALE."""
    frames, rest = pixels[:, :3].float(), pixels[:, 3:6].float()
    return (frames - rest) / DIFFERENCE_SCALE


def box_changes(frames: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(B, 6, h, 2w) uint8 frames input, (B, 17, h/4, w/4) box weights → (B, 17, CHANGE_FEATURES) change energies.

    Per button box of the current crop: mean and max of |current - rest| and mean of |current - previous|
    (channel-averaged, in [0, 1], at the fused map's stride): "did this control's look change",
    whatever the skin's colours are.
    """
    pixels = frames.float() / 255.0
    previous, current = pixels[:, :3].chunk(2, dim=-1)
    rest = pixels[:, 3:6].chunk(2, dim=-1)[1]
    size = masks.shape[-2:]
    from_rest = F.adaptive_avg_pool2d((current - rest).abs().mean(1, keepdim=True), size)  # (B, 1, h/4, w/4)
    from_previous = F.adaptive_avg_pool2d((current - previous).abs().mean(1, keepdim=True), size)
    inside = (masks > 0).float()
    mean_rest = torch.einsum("bhw,bkhw->bk", from_rest[:, 0], masks)
    max_rest = (from_rest * inside).flatten(2).max(dim=-1).values
    mean_previous = torch.einsum("bhw,bkhw->bk", from_previous[:, 0], masks)
    return torch.stack([mean_rest, max_rest, mean_previous], dim=-1) * CHANGE_GAIN


def _template_offsets() -> torch.Tensor:
    """(T², 2) offsets of the cap template's samples in units of the cap radius: a T x T lattice over [-1, 1]²."""
    lattice = torch.linspace(-1.0, 1.0, TEMPLATE_SIDE)
    return torch.stack(torch.meshgrid(lattice, lattice, indexing="xy"), dim=-1).reshape(-1, 2)


def cap_match(sticks: torch.Tensor, grid_xy: torch.Tensor, travel: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Where the rest cap went: (2B, 6, s, 2s) uint8 stick inputs, (2B, g, g, 2) cap positions → (2B, CAP_FEATURES, g, g).

    The rest patch's cap (a T x T template over its radius, which the layout gives: the patch
    half-side is (travel + radius) x margin, so radius = 1/margin - travel in patch units) is
    compared with the current patch at every grid position: a normalized cross-correlation (the
    cap's displacement, as template matching inside the well would find it) and the mean
    |current - rest| there (something moved onto or off this position).
    """
    n, g = grid_xy.shape[0], grid_xy.shape[1]
    pixels = sticks.float() / 255.0
    current = pixels[:, :3].chunk(2, dim=-1)[1]  # (2B, 3, s, s)
    rest = pixels[:, 3:6].chunk(2, dim=-1)[1]
    radius = (1.0 / STICK_PATCH_MARGIN - travel).clamp(min=0.05).reshape(n, 1, 1)  # (2B, 1, 1) patch units
    ring = offsets[None] * radius  # (2B, T², 2)
    template = F.grid_sample(rest, ring[:, None], mode="bilinear", align_corners=False)[:, :, 0]  # (2B, 3, T²)
    where = grid_xy.reshape(n, g * g, 1, 2) + ring[:, None]  # (2B, g², T², 2)
    seen = F.grid_sample(current, where, mode="bilinear", align_corners=False)  # (2B, 3, g², T²)
    rest_there = F.grid_sample(rest, where, mode="bilinear", align_corners=False)
    t = (template - template.mean(dim=(1, 2), keepdim=True))[:, :, None]  # (2B, 3, 1, T²)
    v = seen - seen.mean(dim=(1, 3), keepdim=True)
    ncc = (t * v).sum(dim=(1, 3)) / (t.square().sum(dim=(1, 3)).sqrt() * v.square().sum(dim=(1, 3)).sqrt() + 1e-3)  # (2B, g²)
    moved = (seen - rest_there).abs().mean(dim=(1, 3)) * CHANGE_GAIN  # (2B, g²)
    return torch.stack([ncc, moved], dim=1).reshape(n, CAP_FEATURES, g, g)


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
    channels = cfg.encoder_channels
    if got.num_channels == channels:
        return loaded
    if got.num_channels != RGB_CHANNELS:
        raise ValueError(f"pretrained: {folder} has num_channels {got.num_channels}; the parser reads {RGB_CHANNELS} (RGB checkpoints) or {channels}")
    encoder = SegformerModel(want)
    state = loaded.state_dict()
    key = "stages.0.patch_embeddings.proj.weight"  # (C_0, channels, k, k): the only layer that sees pixels
    rgb = state[key]
    state[key] = torch.cat([rgb, torch.zeros(rgb.shape[0], channels - RGB_CHANNELS, *rgb.shape[2:])], dim=1)
    encoder.load_state_dict(state)
    return encoder


def parser_loss(
    out: dict[str, torch.Tensor], actions: torch.Tensor, grid: int, observed: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Button BCE (summed over buttons) + soft-target cross-entropy over each stick's grid; and each part.

    `observed` (B, 21) bool leaves out the controls a pair's skin does not draw (their labels show nothing).
    """
    seen = torch.ones_like(actions, dtype=torch.bool) if observed is None else observed.bool()
    bce = F.binary_cross_entropy_with_logits(out["buttons"], actions[:, :N_BUTTONS], reduction="none")
    buttons = (bce * seen[:, :N_BUTTONS]).sum() / len(actions)
    target = stick_targets(actions, grid)
    cross_entropy = -(target * F.log_softmax(out["stick_logits"], dim=-1)).sum(-1)  # (B, 2)
    sticks = (cross_entropy * stick_observed(seen)).sum() / cross_entropy.numel()
    total = buttons + N_STICKS * sticks
    return total, {"buttons": buttons.item(), "sticks": sticks.item()}


SAVED_PARSER = SavedModel(
    name="parser", format=PARSER_FORMAT, config_cls=ParserConfig,
    build=lambda cfg: OverlayParser(cfg, load_pretrained=False),  # the saved weights include the encoder
)
WEIGHTS_FILE = SAVED_PARSER.weights_file  # parser.safetensors
CONFIG_FILE = SAVED_PARSER.config_file  # parser_config.json


def save_parser(model: OverlayParser, folder: str | Path) -> Path:
    """Write `parser.safetensors` and `parser_config.json` into `folder`, each atomically."""
    return save_pretrained(model, model.cfg, folder, SAVED_PARSER)


def load_parser(folder: str | Path, device: str | torch.device = "cpu") -> OverlayParser:
    """Rebuild a parser saved by save_parser, in eval mode; ValueError names the file on a missing, corrupt or mismatched save."""
    return load_pretrained(SAVED_PARSER, folder, device)  # type: ignore[return-value]
