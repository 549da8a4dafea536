"""Frame → policy input: the one preprocessing path shared by training and the simulator.

Training caches `crop_mask_resize(...)` of each chunk's first frame (uint8) and turns it into
model input with `to_model_input` (+ `augment`, training only); the simulator and `padflow policy
act` call `prepare_frames`, which is exactly those two steps. Keeping both on these functions is
what stops train/eval drift (resize method, mask, normalization).

Boxes are (x0, y0, x1, y1) in pixels of the full frame, x1/y1 exclusive. In a video the game
picture sits inside `game_box` and the streamer's controller overlay inside `overlay_box`; in
the simulator the frame is the whole game picture and there is no overlay (both None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

MASK_POLICIES = ("black", "none")  # black: overlay pixels set to 0; none: overlay left visible
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


@dataclass(frozen=True)
class Augmentation:
    """Training-only photometric and geometric jitter strengths; all zero = identity."""

    brightness: float = 0.2  # brightness factor drawn from [1 - b, 1 + b]
    contrast: float = 0.2  # contrast factor drawn from [1 - c, 1 + c]
    saturation: float = 0.2  # saturation factor drawn from [1 - s, 1 + s]
    hue: float = 0.03  # hue shift drawn from [-h, h], as a fraction of the colour wheel (<= 0.5)
    rotation_deg: float = 5.0  # rotation drawn from [-r, r] degrees
    crop_scale: float = 0.9  # random crop keeps a side fraction drawn from [crop_scale, 1], then resizes back

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")
        if not 0.0 <= self.rotation_deg <= 45.0:
            raise ValueError(f"rotation_deg must be in [0, 45], got {self.rotation_deg}")
        if not 0.0 < self.crop_scale <= 1.0:
            raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale}")


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
