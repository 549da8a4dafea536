"""From a video frame to the overlay parser's input — the one path shared by training and extraction.

Localization gives an affine transform that maps skin (template) pixels to frame pixels. A crop is
the frame warped back into the template's own coordinates ("rectified"), so scale, position and
small rotations are undone before the parser looks; then resized to the parser's input size.
The parser reads two consecutive rectified crops side by side: (3, H, 2W).
"""

from __future__ import annotations

import cv2
import numpy as np

# ImageNet statistics, as SegFormer checkpoints expect (kept for pretrained-weight compatibility).
PIXEL_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
PIXEL_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def placement_transform(box: tuple[float, float, float, float], skin_size: tuple[int, int]) -> np.ndarray:
    """The 2x3 template→frame affine of an axis-aligned overlay drawn into `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    sx, sy = (x1 - x0) / skin_size[0], (y1 - y0) / skin_size[1]
    return np.array([[sx, 0.0, x0], [0.0, sy, y0]], dtype=np.float64)


def transform_box(transform: np.ndarray, skin_size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) in frame pixels of the template's corners, clipped to the frame (w, h)."""
    w, h = skin_size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ np.asarray(transform).T
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    fw, fh = frame_size
    return max(0, x0), max(0, y0), min(fw, x1), min(fh, y1)


def rectify(frame: np.ndarray, transform: np.ndarray, out_size: tuple[int, int], skin_size: tuple[int, int]) -> np.ndarray:
    """Warp the overlay region of an (H, W, 3) uint8 frame into template coordinates, resized to out_size (w, h)."""
    ow, oh = out_size
    sw, sh = skin_size
    # Output pixel → template pixel → frame pixel; warpAffine samples the frame through that map.
    to_template = np.array([[sw / ow, 0.0, 0.0], [0.0, sh / oh, 0.0], [0.0, 0.0, 1.0]])
    full = np.vstack([np.asarray(transform, dtype=np.float64), [0.0, 0.0, 1.0]]) @ to_template
    return cv2.warpAffine(
        frame, full[:2], (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def parser_input(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Two rectified (h, w, 3) uint8 crops → float32 (3, h, 2w), normalized, previous on the left."""
    pair = np.concatenate([previous, current], axis=1).astype(np.float32) / 255.0
    return ((pair - PIXEL_MEAN) / PIXEL_STD).transpose(2, 0, 1)


def parser_batch(crops: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) uint8 crops of consecutive frames → (T, 3, h, 2w) float32 pairs (frame 0 pairs with itself)."""
    return parser_pairs(np.concatenate([crops[:1], crops[:-1]]), crops)


def parser_pairs(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """(N, h, w, 3) uint8 previous and current crops → (N, 3, h, 2w) float32 pairs, previous on the left."""
    pairs = np.concatenate([previous, current], axis=2).astype(np.float32) / 255.0
    return ((pairs - PIXEL_MEAN) / PIXEL_STD).transpose(0, 3, 1, 2)
