"""How the look reader draws a skin's state into the frame: rendered at about its on-screen size, then warped the rest of the way.

Every look is cut from the whole skin rendered at one size, so all of them share one sampling grid
(`drawn_look`); a group's states are drawn only over its box (`warped_states`).
"""

from __future__ import annotations

import cv2
import numpy as np

from padflow.overlay.render import render_overlay_crop


def warped_states(skin, box: tuple[float, float, float, float], actions: np.ndarray, transform: np.ndarray, crop_box: tuple[int, int, int, int],
                  shape: tuple[int, int], scale: float) -> tuple[tuple[slice, slice], np.ndarray | None]:  # noqa: ANN001  # fmt: skip
    """The crop window around `box` (skin px, grown by 2 frame px) and the look of each state of `actions` (S, 21) warped there (S, wh, ww, 4) RGBA; None if off the crop.

    Only `box` of each rendered state is warped, so a large skin costs its controls' size per state, not its own.
    """
    grow = 2.0 / max(scale, 1e-6)
    height, width = skin.rest.shape[:2]
    bx0, by0 = max(0, int(box[0] - grow)), max(0, int(box[1] - grow))
    bx1, by1 = min(width, int(np.ceil(box[2] + grow))), min(height, int(np.ceil(box[3] + grow)))
    corners = np.array([[bx0, by0, 1.0], [bx1, by1, 1.0]]) @ transform.T - np.array(crop_box[:2], np.float64)
    h, w = shape
    wx0, wy0 = max(0, int(np.floor(corners[:, 0].min()))), max(0, int(np.floor(corners[:, 1].min())))
    wx1, wy1 = min(w, int(np.ceil(corners[:, 0].max())) + 1), min(h, int(np.ceil(corners[:, 1].max())) + 1)
    window = (slice(wy0, wy1), slice(wx0, wx1))
    if wx1 <= wx0 or wy1 <= wy0 or bx1 <= bx0 or by1 <= by0:
        return window, None
    frame_window = (crop_box[0] + wx0, crop_box[1] + wy0, crop_box[0] + wx1, crop_box[1] + wy1)
    return window, np.stack([drawn_look(skin, action, transform, (bx0, by0, bx1, by1), frame_window) for action in actions])


def drawn_look(skin, action: np.ndarray, transform: np.ndarray, skin_box: tuple[int, int, int, int],
              frame_box: tuple[int, int, int, int]) -> np.ndarray:  # noqa: ANN001  # fmt: skip
    """The skin showing `action`, its `skin_box` (skin px) drawn into `frame_box` of the frame by the 2x3 transform: (h, w, 4) float32 RGBA.

    Shrunk, the skin is rendered at about the overlay's on-screen width (as an overlay is drawn:
    area-averaged in premultiplied alpha), the box cut from that picture and warped the rest of the
    way; only the box's pixels of the picture are drawn (render_overlay_crop: the same pixels).
    Rendering the box alone at its own size and shrinking that would put it on its own sampling
    grid, shifted from the whole picture's by a fraction of a pixel; at a third of the skin's size
    that shift blurs a state's look by about as much as a subtle press changes it.
    """
    height, width = skin.rest.shape[:2]
    scale = float(np.hypot(*transform[:, 0]))
    drawn_width = max(1, round(width * scale)) if scale < 1.0 else None
    picture_w, picture_h = (width, height) if drawn_width is None else (drawn_width, max(1, round(height * drawn_width / width)))  # as render_overlay sizes it
    shrink_x, shrink_y = width / picture_w, height / picture_h
    bx0, by0, bx1, by1 = skin_box
    px0, py0 = int(bx0 / shrink_x), int(by0 / shrink_y)
    px1, py1 = min(picture_w, int(np.ceil(bx1 / shrink_x)) + 1), min(picture_h, int(np.ceil(by1 / shrink_y)) + 1)
    picture = render_overlay_crop(skin, action, drawn_width, (px0, py0, px1, py1))  # the picture's pixels [py0:py1, px0:px1]
    m = transform.astype(np.float64).copy()
    m[:, 0] *= shrink_x
    m[:, 1] *= shrink_y
    m[:, 2] += m[:, :2] @ np.array([px0, py0], np.float64) - np.array(frame_box[:2], np.float64)
    fx0, fy0, fx1, fy1 = frame_box
    return cv2.warpAffine(picture, m, (fx1 - fx0, fy1 - fy0), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)).astype(np.float32)
