"""Video → IDM input, and IDM output → a whole video's actions: shared by idm_train and pseudo_label.

A video is decoded once into its frames cropped to the game box with the overlay masked
(models.policy.processor.crop_mask_resize: the one masking function, so the IDM never reads the
overlay it was labelled from) and resized to `image_size` (uint8 (T, S, S, 3)). Windows of
`window` frames index into it; indices past either end repeat the edge frame.

Labelling a whole video (`label_video`): windows start every `window // 2` frames, so each frame
is seen by up to two windows, away from a window edge in at least one; their button probabilities
and axes are averaged. A frame's confidence is its least sure button, max(p, 1 - p) (the parser's
convention: padflow.overlay.readings), in [0.5, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.idm.modeling import InverseDynamicsModel
from models.policy.processor import crop_mask_resize, to_model_input
from padflow.actions import BUTTON_SLICE
from padflow.video import in_background, iter_frames

DECODE_AHEAD = 8  # full-size frames decoded ahead of the resizing (8 at 1280x720: 22 MB)

Box = Sequence[int]


def decode_video(path: str | Path, game_box: Box | None, overlay_box: Box | None, image_size: int) -> np.ndarray:
    """Every frame of a video, overlay masked black, game box cropped, resized: uint8 (T, S, S, 3).

    Frames are decoded ahead on a thread while this one resizes them (both release the GIL; docs/operations.md).
    """
    decoded = in_background(iter_frames(path), DECODE_AHEAD, f"decode-{Path(path).stem}")
    frames = [crop_mask_resize(f, game_box, overlay_box, "black", image_size) for f in decoded]
    if not frames:
        raise ValueError(f"{path}: no frames decoded")
    return np.stack(frames)


def lit_box(path: str | Path, threshold: int, overlay_box: Box | None = None) -> tuple[int, int, int, int]:
    """The game picture's box in a video: bounding box of pixels brighter than `threshold` in any frame.

    The gate's convention for the chunk index's `game_box` (letterbox bars stay dark), so a video the
    IDM labels is cropped as the videos it trained on were.
    """
    brightest = None
    for frame in iter_frames(path, fmt="gray"):
        brightest = frame if brightest is None else np.maximum(brightest, frame)
    if brightest is None:
        raise ValueError(f"{path}: no frames decoded")
    h, w = brightest.shape
    lit = brightest > threshold
    if overlay_box is not None:
        x0, y0, x1, y1 = (int(v) for v in overlay_box)
        lit[y0:y1, x0:x1] = False
    ys, xs = np.nonzero(lit)
    if not len(xs):
        return 0, 0, w, h
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def window_indices(start: int, window: int, frames: int) -> np.ndarray:
    """(window,) frame numbers from `start`, clamped into [0, frames): the edges repeat."""
    return np.clip(np.arange(start, start + window), 0, frames - 1)


def to_windows(video: np.ndarray, starts: Sequence[int], window: int) -> torch.Tensor:
    """uint8 (T, S, S, 3) and B window starts → float (B, window, 3, S, S) in [-1, 1]."""
    idx = np.stack([window_indices(s, window, len(video)) for s in starts])  # (B, window)
    crops = torch.from_numpy(video[idx.reshape(-1)])  # (B·window, S, S, 3)
    x = to_model_input(crops)  # (B·window, 3, S, S)
    return x.view(len(starts), window, *x.shape[1:])


def label_starts(frames: int, window: int) -> list[int]:
    """Window starts that cover every frame twice (stride window // 2), the first reaching before frame 0."""
    stride = max(window // 2, 1)
    return list(range(-(window // 4), frames, stride))


@torch.no_grad()
def label_video(model: InverseDynamicsModel, video: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A whole video's unified actions (T, 21) (buttons as press probabilities) and confidence (T,)."""
    model.eval()
    window, frames = model.config.window, len(video)
    sums = np.zeros((frames, 21), np.float64)
    counts = np.zeros(frames, np.float64)
    starts = label_starts(frames, window)
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        out = model.unified(to_windows(video, chunk, window)).numpy()  # (B, window, 21)
        for s, values in zip(chunk, out):
            idx = np.arange(s, s + window)
            inside = (idx >= 0) & (idx < frames)
            np.add.at(sums, idx[inside], values[inside])
            np.add.at(counts, idx[inside], 1.0)
    actions = (sums / counts[:, None]).astype(np.float32)
    return actions, button_confidence(actions[:, BUTTON_SLICE])


def button_confidence(p: np.ndarray) -> np.ndarray:
    """(T, K) press probabilities → (T,) confidence of the least sure button, max(p, 1 - p); 1 where K = 0 (no button
    to doubt)."""
    if not p.shape[1]:
        return np.ones(len(p), np.float32)
    return np.maximum(p, 1 - p).min(axis=1).astype(np.float32)
