"""Controls a skin draws that no video of it can show: a press that draws nothing, and buttons drawn as one.

Sprite skins list each control with its own sprites, but real presets reuse pictures: input-overlay's n64-pixel
preset draws B and Y as one pixel at one place, and clicks its two sticks with caps that look like the idle ones.
Pressing such a control changes nothing on screen, or changes it exactly as another control does, so no reader
can say that it was pressed, or which of the two was. A table made with the skin leaves such a control
unobserved (padflow.tables), never "not pressed"; the parser is neither trained nor scored on it
(padflow.overlay.crops `skin_view`); the look reader still draws it, so its picture explains the frame.

Found by drawing (padflow.overlay.sprite `render_sprite`, the skin's native size): each button pressed alone
against the rest picture, and against every other button pressed alone. Parametric skins draw every button
apart, with a look of its own.
"""

from __future__ import annotations

import functools
from itertools import combinations

import numpy as np

from padflow.actions import BUTTON_INDEX, BUTTONS, noop
from padflow.overlay.skin import Skin
from padflow.overlay.sprite import SpriteSkin, render_sprite


def unreadable_controls(skin: Skin | SpriteSkin) -> dict[str, str]:
    """The buttons `skin` draws that a video cannot show, each with the reason (in BUTTONS order)."""
    if not isinstance(skin, SpriteSkin):
        return {}
    return dict(_unreadable(skin))


def readable_controls(skin: Skin | SpriteSkin) -> frozenset[str]:
    """The controls a table made with `skin` has labels for: those it draws, less `unreadable_controls`."""
    return skin.observed - unreadable_controls(skin).keys()


@functools.lru_cache(maxsize=64)
def _unreadable(skin: SpriteSkin) -> tuple[tuple[str, str], ...]:
    rest = render_sprite(skin, noop())
    looks = {}
    for name in BUTTONS:
        if name in skin.observed:
            action = noop()
            action[BUTTON_INDEX[name]] = 1.0
            looks[name] = render_sprite(skin, action)
    reasons = {name: "its press draws nothing" for name, look in looks.items() if np.array_equal(look, rest)}
    alike: dict[str, list[str]] = {}
    for a, b in combinations([name for name in looks if name not in reasons], 2):
        if np.array_equal(looks[a], looks[b]):
            alike.setdefault(a, []).append(b)
            alike.setdefault(b, []).append(a)
    for name, others in alike.items():
        reasons[name] = f"drawn exactly as {', '.join(others)} (one picture at one place)"
    return tuple((name, reasons[name]) for name in BUTTONS if name in reasons)
