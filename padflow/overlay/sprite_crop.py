"""One box of a sprite skin's rendered picture, drawn without drawing the rest: the look reader draws every state of
each control (~500 for a pad with two clickable sticks), and on a 2048-px preset drawing the whole skin for each
was most of its setup.

A shrunk picture is cv2's area resize of the skin canvas (padflow.overlay.sprite.to_rgba), which is separable: each
rendered pixel is a weighted sum of the few canvas pixels under it, one band of weights per axis, taken from cv2
itself (`area_band`). So a box needs only the canvas rows and columns under it, composed alone
(padflow.overlay.sprite.compose with a region) and resized with the same weights.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from padflow.overlay.sprite import SpriteSkin, compose, render_sprite, to_rgba


def render_sprite_crop(skin: SpriteSkin, action: np.ndarray, width: int | None, box: tuple[int, int, int, int]) -> np.ndarray:
    """`render_sprite(skin, action, width)[y0:y1, x0:x1]` for `box` (x0, y0, x1, y1) in the rendered picture's px, drawing
    only the part of the canvas those pixels average (the look reader draws hundreds of states of a control's box).

    The same weights as the whole render's, summed in another order: a value may differ in float rounding
    (tests/overlay/test_sprite.py holds crops to the whole render)."""
    w, h = skin.size
    x0, y0, x1, y1 = box
    if width is None or width >= w:  # drawn at skin size (a larger width is not a shrink: render it whole)
        if width is not None and width != w:
            return render_sprite(skin, action, width)[y0:y1, x0:x1]
        k = skin.pixel_size
        cx0, cy0 = x0 // k * k, y0 // k * k
        return to_rgba(compose(skin, action, (cx0, cy0, x1, y1))[y0 - cy0 :, x0 - cx0 :])
    height = max(1, round(h * width / w))
    rows, cols = area_band(h, height), area_band(w, width)
    k = skin.pixel_size
    cy0, cy1 = rows.span(y0, y1, k)
    cx0, cx1 = cols.span(x0, x1, k)
    canvas = compose(skin, action, (cx0, cy0, cx1, cy1))  # (ch, cw, 4)
    down = rows.apply(canvas, y0, y1, cy0, axis=0)  # (y1 - y0, cw, 4)
    return to_rgba(cols.apply(down, x0, x1, cx0, axis=1))  # (y1 - y0, x1 - x0, 4)


@dataclass(frozen=True)
class AreaBand:
    """cv2.resize's INTER_AREA along one axis as a band: resized pixel j averages canvas pixels start[j] .. start[j] + K - 1
    with `weights[j]` (each resized pixel reads the few canvas pixels under it)."""

    start: np.ndarray  # (resized,) int: the first canvas pixel each resized pixel reads
    weights: np.ndarray  # (resized, K) float32, 0 past a pixel's support

    def span(self, first: int, stop: int, block: int) -> tuple[int, int]:
        """[from, to) of the canvas pixels that resized pixels first .. stop - 1 read, `from` rounded down to whole blocks."""
        reach = self.start[first:stop, None] + np.arange(self.weights.shape[1])
        used = reach[self.weights[first:stop] > 0]
        return int(used.min()) // block * block, int(used.max()) + 1

    def apply(self, canvas: np.ndarray, first: int, stop: int, origin: int, axis: int) -> np.ndarray:
        """Resized pixels first .. stop - 1 along `axis` (0 or 1) of `canvas` (h, w, 4), whose pixel 0 on that axis is canvas
        pixel `origin`: (stop - first, w, 4) or (h, stop - first, 4)."""
        index = np.clip(self.start[first:stop, None] + np.arange(self.weights.shape[1]) - origin, 0, canvas.shape[axis] - 1)  # (n, K)
        band = self.weights[first:stop]  # (n, K)
        if axis == 0:
            return np.einsum("nk,nkwc->nwc", band, canvas[index], optimize=True)
        return np.einsum("nk,ynkc->ync", band, canvas[:, index], optimize=True)


@functools.lru_cache(maxsize=16)
def area_band(size: int, resized: int) -> AreaBand:
    """The INTER_AREA weights of one axis shrunk from `size` to `resized` px as a band (`AreaBand`)."""
    weights = area_weights(size, resized)  # (resized, size)
    used = weights > 0
    start = used.argmax(axis=1)
    last = size - 1 - used[:, ::-1].argmax(axis=1)
    reach = start[:, None] + np.arange(int((last - start).max()) + 1)  # (resized, K)
    band = np.where(reach <= last[:, None], np.take_along_axis(weights, np.minimum(reach, size - 1), axis=1), 0.0)
    return AreaBand(start, band.astype(np.float32))


@functools.lru_cache(maxsize=16)
def area_weights(size: int, resized: int) -> np.ndarray:
    """(resized, size) float32: the weights cv2.resize's INTER_AREA gives each canvas pixel of one axis in each resized
    pixel, taken from cv2 itself by shrinking an identity along that axis (the area resize is separable)."""
    identity = np.eye(size, dtype=np.float32)
    weights = np.ascontiguousarray(cv2.resize(identity, (resized, size), interpolation=cv2.INTER_AREA).T)  # row j: resized pixel j's weights
    weights.flags.writeable = False
    return weights
