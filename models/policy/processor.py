"""Frame → policy input and action table values ↔ model space: the one pre/post-processing path
shared by training and inference.

Training caches `crop_mask_resize(...)` of each chunk's first frame (uint8) and turns it into
model input with `to_model_input` (+ `augment`, training only); the simulator and `padflow policy
act` call `prepare_frames`, which is exactly those two steps. Keeping both on these functions is
what stops train/eval drift (resize method, mask, normalization).

Boxes are (x0, y0, x1, y1) in pixels of the full frame, x1/y1 exclusive. In a video the game
picture sits inside `game_box` and the streamer's controller overlay inside `overlay_box`; in
the simulator the frame is the whole game picture and there is no overlay (both None).

Action values in model space: buttons {0, 1} are mapped to {-1, +1} and modelled as continuous
values like the sticks, so every dimension has the same range as the unit-variance noise it
starts from; a sampled button is pressed when its value is > 0 (0.5 in unified units). Sticks
stay in [-1, 1] and are clipped after sampling (`actions_to_model`, `model_to_actions`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal, get_args

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from padflow.actions import AXIS_SLICE, BUTTON_SLICE
from padflow.config import config

MaskPolicy = Literal["black", "none"]  # black: overlay pixels set to 0; none: overlay left visible
MASK_POLICIES = get_args(MaskPolicy)
# SigLIP's normalization: mean 0.5, std 0.5 per channel, i.e. pixels mapped to [-1, 1].
PIXEL_MEAN = 0.5
PIXEL_STD = 0.5
# RGB ↔ YIQ (NTSC) matrices: hue is a rotation of the (I, Q) chroma plane.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_GREY_WEIGHTS = (0.299, 0.587, 0.114)  # luma, for contrast and saturation

Box = Sequence[int]


def _check_box(box: Box, width: int, height: int, name: str) -> tuple[int, int, int, int]:
    if len(box) != 4:
        raise ValueError(f"{name} must be (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{name} {tuple(box)} is empty inside a {width}x{height} frame")
    return x0, y0, x1, y1


def crop_mask_resize(
    frame: np.ndarray,
    game_box: Box | None,
    overlay_box: Box | None,
    mask_policy: str,
    image_size: int,
) -> np.ndarray:
    """One uint8 (H, W, 3) RGB frame → uint8 (S, S, 3): overlay masked, game box cropped, resized.

    The overlay is masked in full-frame coordinates before cropping, so an overlay drawn over the
    game picture is hidden too. Resizing squashes the game picture to a square (no letterbox),
    with area averaging when shrinking.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
    if mask_policy not in MASK_POLICIES:
        raise ValueError(f"mask_policy {mask_policy!r} not one of {MASK_POLICIES}")
    h, w = frame.shape[:2]
    if overlay_box is not None and mask_policy == "black":
        ox0, oy0, ox1, oy1 = _check_box(overlay_box, w, h, "overlay_box")
        frame = frame.copy()
        frame[oy0:oy1, ox0:ox1] = 0
    if game_box is not None:
        gx0, gy0, gx1, gy1 = _check_box(game_box, w, h, "game_box")
        frame = frame[gy0:gy1, gx0:gx1]
    ch, cw = frame.shape[:2]
    shrinking = ch >= image_size and cw >= image_size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(frame), (image_size, image_size), interpolation=interpolation)


def training_mask_boxes(overlay_boxes: Sequence[Box | None], game_boxes: Sequence[Box | None]) -> np.ndarray:
    """(N, 4) the overlay boxes training blacked out (one per chunk) as shares of their game picture (x0, y0, x1, y1),
    clipped to it; NaN rows where there was no overlay or it lay outside the picture (nothing the policy saw was
    masked). Without a game box the frame size is unknown, and the box is taken to end at the frame's far edges."""
    boxes = []
    for overlay, game in zip(overlay_boxes, game_boxes, strict=True):
        if overlay is None:
            boxes.append([np.nan] * 4)
            continue
        ox0, oy0, ox1, oy1 = (float(v) for v in overlay)
        gx0, gy0, gx1, gy1 = (float(v) for v in game) if game is not None else (0.0, 0.0, max(ox1, 1.0), max(oy1, 1.0))
        gw, gh = gx1 - gx0, gy1 - gy0
        share = np.clip([(ox0 - gx0) / gw, (oy0 - gy0) / gh, (ox1 - gx0) / gw, (oy1 - gy0) / gh], 0.0, 1.0)
        boxes.append(share if share[2] > share[0] and share[3] > share[1] else [np.nan] * 4)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def to_model_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (B, S, S, 3) → float32 (B, 3, S, S) normalized to [-1, 1]."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (B, S, S, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - PIXEL_MEAN) / PIXEL_STD


def prepare_frames(
    frames: np.ndarray,
    game_box: Box | None,
    overlay_box: Box | None,
    mask_policy: str,
    image_size: int,
) -> torch.Tensor:
    """uint8 frames (B, H, W, 3) or one (H, W, 3) → the policy's float input (B, 3, S, S)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4:
        raise ValueError(f"frames must be (B, H, W, 3) or (H, W, 3), got shape {frames.shape}")
    crops = np.stack([crop_mask_resize(f, game_box, overlay_box, mask_policy, image_size) for f in frames])
    return to_model_input(crops)


@config
class Augmentation:
    """Training-only photometric and geometric jitter strengths; all zero = identity."""

    brightness: Annotated[float, Field(ge=0, lt=1, description="brightness factor drawn from [1 - b, 1 + b]")] = 0.2
    contrast: Annotated[float, Field(ge=0, lt=1, description="contrast factor drawn from [1 - c, 1 + c]")] = 0.2
    saturation: Annotated[float, Field(ge=0, lt=1, description="saturation factor drawn from [1 - s, 1 + s]")] = 0.2
    hue: Annotated[float, Field(ge=0, le=0.5, description="hue shift drawn from [-h, h], a fraction of the colour wheel")] = 0.03
    rotation_deg: Annotated[float, Field(ge=0, le=45, description="rotation drawn from [-r, r], degrees")] = 5.0
    crop_scale: Annotated[float, Field(gt=0, le=1, description="random crop keeps a side fraction drawn from [crop_scale, 1], then resizes back")] = 0.9


def augment(images: torch.Tensor, aug: Augmentation, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random colour jitter, then a random small rotation + crop, per sample; (B, 3, S, S) in [-1, 1]."""
    b = images.shape[0]
    dev = images.device

    def uniform(spread: float) -> torch.Tensor:  # (B,) in [-spread, spread]
        return (torch.rand(b, generator=generator, device=dev) * 2 - 1) * spread

    x = images * PIXEL_STD + PIXEL_MEAN  # back to [0, 1]
    grey_w = torch.tensor(_GREY_WEIGHTS, device=dev, dtype=x.dtype).view(1, 3, 1, 1)
    x = x * (1 + uniform(aug.brightness)).view(b, 1, 1, 1)
    grey_mean = (x * grey_w).sum(1, keepdim=True).mean((2, 3), keepdim=True)  # (B, 1, 1, 1)
    x = grey_mean + (x - grey_mean) * (1 + uniform(aug.contrast)).view(b, 1, 1, 1)
    grey = (x * grey_w).sum(1, keepdim=True)  # (B, 1, S, S)
    x = grey + (x - grey) * (1 + uniform(aug.saturation)).view(b, 1, 1, 1)
    if aug.hue > 0:
        angle = uniform(aug.hue) * 2 * math.pi
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.zeros(b, 3, 3, device=dev, dtype=x.dtype)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
        m = _YIQ_TO_RGB.to(dev, x.dtype) @ rot @ _RGB_TO_YIQ.to(dev, x.dtype)  # (B, 3, 3)
        x = torch.einsum("bij,bjhw->bihw", m, x)
    x = x.clamp(0.0, 1.0)

    if aug.rotation_deg > 0 or aug.crop_scale < 1:
        angle = uniform(math.radians(aug.rotation_deg))
        scale = 1 - torch.rand(b, generator=generator, device=dev) * (1 - aug.crop_scale)  # (B,) in [crop_scale, 1]
        shift_x = uniform(1.0) * (1 - scale)  # the crop window stays inside the picture
        shift_y = uniform(1.0) * (1 - scale)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)  # (B, 2, 3)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (x - PIXEL_MEAN) / PIXEL_STD


def actions_to_model(actions: torch.Tensor) -> torch.Tensor:
    """Unified actions (..., 21) → model space: buttons {0, 1} → {-1, +1}, sticks unchanged."""
    out = actions.clone()
    out[..., BUTTON_SLICE] = actions[..., BUTTON_SLICE] * 2.0 - 1.0
    return out


def model_to_actions(values: torch.Tensor) -> torch.Tensor:
    """Model space (..., 21) → unified actions: a button is pressed when > 0, sticks clipped to [-1, 1]."""
    out = torch.empty_like(values)
    out[..., BUTTON_SLICE] = (values[..., BUTTON_SLICE] > 0).to(values.dtype)
    out[..., AXIS_SLICE] = values[..., AXIS_SLICE].clamp(-1.0, 1.0)
    return out
