"""The unified gamepad action: the one place that owns names, order, layout and conversions.

One timestep is a float32 vector of 21 values::

    index  0..16  the 17 buttons in BUTTONS order, each exactly 0.0 or 1.0
    index 17..20  the 4 stick axes in AXES order, each in [-1, 1] (x right, y up)

Everything in padflow (simulator, overlay renderer, parser, action tables, policy) speaks this
layout; `ACTION_SCHEMA_VERSION` changes whenever it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

ACTION_SCHEMA_VERSION = "padflow-action/1"

BUTTONS: tuple[str, ...] = (
    "SOUTH", "EAST", "WEST", "NORTH",
    "DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT",
    "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_TRIGGER", "RIGHT_TRIGGER",
    "LEFT_THUMB", "RIGHT_THUMB",
    "START", "BACK", "GUIDE",
)  # fmt: skip
AXES: tuple[str, ...] = ("LEFT_X", "LEFT_Y", "RIGHT_X", "RIGHT_Y")
ACTION_NAMES: tuple[str, ...] = BUTTONS + AXES

N_BUTTONS = len(BUTTONS)  # 17
N_AXES = len(AXES)  # 4
ACTION_DIM = N_BUTTONS + N_AXES  # 21

BUTTON_INDEX: dict[str, int] = {name: i for i, name in enumerate(BUTTONS)}
AXIS_INDEX: dict[str, int] = {name: N_BUTTONS + i for i, name in enumerate(AXES)}
# The nine states a d-pad reports: released, one direction, or two adjacent ones (never opposite ones).
DPAD_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    (), ("DPAD_UP",), ("DPAD_DOWN",), ("DPAD_LEFT",), ("DPAD_RIGHT",),
    ("DPAD_UP", "DPAD_LEFT"), ("DPAD_UP", "DPAD_RIGHT"), ("DPAD_DOWN", "DPAD_LEFT"), ("DPAD_DOWN", "DPAD_RIGHT"),
)  # fmt: skip
ACTION_INDEX: dict[str, int] = {**BUTTON_INDEX, **AXIS_INDEX}
BUTTON_SLICE = slice(0, N_BUTTONS)
AXIS_SLICE = slice(N_BUTTONS, ACTION_DIM)
LEFT_STICK = slice(AXIS_INDEX["LEFT_X"], AXIS_INDEX["LEFT_Y"] + 1)
RIGHT_STICK = slice(AXIS_INDEX["RIGHT_X"], AXIS_INDEX["RIGHT_Y"] + 1)

# Bounds of the 21-vector, for Gymnasium's Box space.
ACTION_LOW = np.array([0.0] * N_BUTTONS + [-1.0] * N_AXES, dtype=np.float32)
ACTION_HIGH = np.ones(ACTION_DIM, dtype=np.float32)

# Other names people use for the same controls. PlayStation maps cross→SOUTH, circle→EAST,
# square→WEST, triangle→NORTH; Xbox letters and short names are accepted too.
BUTTON_ALIASES: dict[str, str] = {
    "CROSS": "SOUTH", "CIRCLE": "EAST", "SQUARE": "WEST", "TRIANGLE": "NORTH",
    "L1": "LEFT_SHOULDER", "R1": "RIGHT_SHOULDER", "L2": "LEFT_TRIGGER", "R2": "RIGHT_TRIGGER",
    "L3": "LEFT_THUMB", "R3": "RIGHT_THUMB", "OPTIONS": "START", "SHARE": "BACK",
    "CREATE": "BACK", "PS": "GUIDE",
    "A": "SOUTH", "B": "EAST", "X": "WEST", "Y": "NORTH",
    "LB": "LEFT_SHOULDER", "RB": "RIGHT_SHOULDER", "LT": "LEFT_TRIGGER", "RT": "RIGHT_TRIGGER",
    "LS": "LEFT_THUMB", "RS": "RIGHT_THUMB", "MENU": "START", "VIEW": "BACK", "SELECT": "BACK",
    "HOME": "GUIDE",
}  # fmt: skip

# Column names of the released NitroGen dataset (actions_raw.parquet): 17 lowercase boolean
# button columns in the dataset's own order, and the sticks as (x, y) pairs.
NITROGEN_BUTTON_COLUMNS: tuple[str, ...] = (
    "dpad_down", "dpad_left", "dpad_right", "dpad_up",
    "left_shoulder", "left_thumb", "left_trigger",
    "right_shoulder", "right_thumb", "right_trigger",
    "south", "west", "east", "north",
    "back", "start", "guide",
)  # fmt: skip
NITROGEN_STICK_COLUMNS: dict[str, tuple[str, str]] = {
    "j_left": ("LEFT_X", "LEFT_Y"),
    "j_right": ("RIGHT_X", "RIGHT_Y"),
}

# The released NitroGen checkpoint's action vector (ng.pt, MineDojo/NitroGen at 3260844): 25 values
# per step = 21 button tokens in `nitrogen/shared.py` order (shared.py:3-8, alphabetical; scripts/
# play.py:86,176 zips the decoded buttons with exactly this list), then the left stick (x, y) and the
# right stick (x, y) in [0, 1] (mm_tokenizers.py:235-253, the default non-old layout). Buttons and
# triggers are pressed above 0.5 (mm_tokenizers.py:255-256). Stick y grows downwards: the play path
# negates y before the XInput pad, whose y grows upwards (game_env.py:301-305, 311-314). The four
# RIGHT_* tokens are not buttons of the unified pad: the reference's pad ignores them
# (game_env.py:205-221), so they are dropped on the way in and written as 0 on the way out.
# Open: MineDojo/NitroGen #43 quotes a maintainer order that differs from shared.py's; padflow follows
# the code that plays the checkpoint (shared.py) until the checkpoint itself shows otherwise.
NITROGEN_RELEASE_TOKENS: tuple[str, ...] = (
    "BACK", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT", "DPAD_UP", "EAST", "GUIDE",
    "LEFT_SHOULDER", "LEFT_THUMB", "LEFT_TRIGGER", "NORTH", "RIGHT_BOTTOM", "RIGHT_LEFT",
    "RIGHT_RIGHT", "RIGHT_SHOULDER", "RIGHT_THUMB", "RIGHT_TRIGGER", "RIGHT_UP", "SOUTH",
    "START", "WEST",
)  # fmt: skip
NITROGEN_RELEASE_STICKS: tuple[str, ...] = ("LEFT_X", "LEFT_Y", "RIGHT_X", "RIGHT_Y")  # indices 21..24
NITROGEN_RELEASE_DIM = len(NITROGEN_RELEASE_TOKENS) + len(NITROGEN_RELEASE_STICKS)  # 25
NITROGEN_RELEASE_UNUSED: tuple[str, ...] = tuple(t for t in NITROGEN_RELEASE_TOKENS if t not in BUTTON_INDEX)
# Where each unified value sits in the release vector (17 button tokens, then the 4 stick values).
RELEASE_INDEX_OF_UNIFIED: tuple[int, ...] = tuple(NITROGEN_RELEASE_TOKENS.index(b) for b in BUTTONS) + tuple(
    len(NITROGEN_RELEASE_TOKENS) + i for i in range(len(NITROGEN_RELEASE_STICKS))
)
RELEASE_Y_FLIP: tuple[float, ...] = (1.0, -1.0, 1.0, -1.0)  # unified y up = -(release y down), per stick axis


def canonical_name(name: str) -> str:
    """Map any accepted spelling of a button or axis to its canonical upper-case name."""
    key = name.strip().upper()
    key = BUTTON_ALIASES.get(key, key)
    if key not in ACTION_INDEX:
        raise ValueError(
            f"unknown gamepad control {name!r}; valid names: {', '.join(ACTION_NAMES)} "
            f"(aliases: {', '.join(sorted(BUTTON_ALIASES))})"
        )
    return key


def noop() -> np.ndarray:
    """The neutral action: no button pressed, both sticks centred."""
    return np.zeros(ACTION_DIM, dtype=np.float32)


def validate_action(action: Any, name: str = "action") -> np.ndarray:
    """Check one action or a batch (..., 21) and return it as float32; ValueError names the field."""
    try:
        arr = np.asarray(action, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not numeric: {exc}") from None
    if arr.shape == (ACTION_DIM,) and _plainly_valid(arr.tolist()):
        return arr  # the per-step path of every env: a few µs instead of a dozen numpy calls
    if arr.ndim == 0 or arr.shape[-1] != ACTION_DIM:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected (..., {ACTION_DIM}) = "
            f"{N_BUTTONS} buttons + {N_AXES} axes"
        )
    buttons, axes = arr[..., BUTTON_SLICE], arr[..., AXIS_SLICE]
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][-1])
        raise ValueError(f"{name}[{ACTION_NAMES[bad]}] is NaN or infinite")
    if not ((buttons == 0.0) | (buttons == 1.0)).all():
        where = np.argwhere((buttons != 0.0) & (buttons != 1.0))[0]
        value = buttons[tuple(where)]
        raise ValueError(f"{name}[{BUTTONS[int(where[-1])]}] = {value:g}; buttons must be 0 or 1")
    if (np.abs(axes) > 1.0).any():
        where = np.argwhere(np.abs(axes) > 1.0)[0]
        value = axes[tuple(where)]
        raise ValueError(f"{name}[{AXES[int(where[-1])]}] = {value:g} is outside [-1, 1]")
    return arr


def _plainly_valid(values: list[float]) -> bool:
    """True when one action is well-formed; anything else goes through the checks that explain why."""
    for v in values[:N_BUTTONS]:
        if v != 0.0 and v != 1.0:
            return False
    for v in values[N_BUTTONS:]:
        if not -1.0 <= v <= 1.0:  # also False for NaN
            return False
    return True


def action_from_dict(values: Mapping[str, Any]) -> np.ndarray:
    """Build a validated 21-vector from names → values; missing controls are neutral.

    Accepts canonical names, aliases (PlayStation, Xbox letters) in any case, and the NitroGen
    stick columns `j_left` / `j_right` given as (x, y).
    """
    action = noop()
    for key, value in values.items():
        if key.lower() in NITROGEN_STICK_COLUMNS:
            try:
                x, y = value
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be an (x, y) pair, got {value!r}") from None
            for axis, v in zip(NITROGEN_STICK_COLUMNS[key.lower()], (x, y)):
                action[AXIS_INDEX[axis]] = _as_float(axis, v)
            continue
        control = canonical_name(key)
        v = _as_float(control, value)
        action[ACTION_INDEX[control]] = v
    return validate_action(action)


def action_to_dict(action: Any) -> dict[str, float | int]:
    """Canonical name → value for one action (buttons as int 0/1, axes as float)."""
    arr = validate_action(action)
    if arr.ndim != 1:
        raise ValueError(f"action_to_dict takes one action, got shape {arr.shape}")
    out: dict[str, float | int] = {b: int(arr[i]) for i, b in enumerate(BUTTONS)}
    out.update({a: float(arr[AXIS_INDEX[a]]) for a in AXES})
    return out


def pressed(action: np.ndarray) -> list[str]:
    """Names of the buttons held in one action."""
    return [BUTTONS[i] for i in np.flatnonzero(action[BUTTON_SLICE] > 0.5)]


def _as_float(field: str, value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"action[{field}] = {value!r} is not a number") from None


def release_to_unified(values: Any) -> np.ndarray:
    """Release vectors (..., 25) → unified actions (..., 21): tokens > 0.5 pressed, sticks [0, 1] → [-1, 1], y up."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim == 0 or arr.shape[-1] != NITROGEN_RELEASE_DIM:
        raise ValueError(f"release actions have shape {arr.shape}; expected (..., {NITROGEN_RELEASE_DIM})")
    picked = arr[..., list(RELEASE_INDEX_OF_UNIFIED)]
    out = np.empty_like(picked)
    out[..., BUTTON_SLICE] = (picked[..., BUTTON_SLICE] > 0.5).astype(np.float32)
    out[..., AXIS_SLICE] = np.clip(picked[..., AXIS_SLICE] * 2.0 - 1.0, -1.0, 1.0) * np.array(RELEASE_Y_FLIP, np.float32)
    return out


def unified_to_release(actions: Any) -> np.ndarray:
    """Unified actions (..., 21) → release vectors (..., 25); the RIGHT_* tokens the pad lacks are 0."""
    arr = validate_action(actions, "unified actions")
    out = np.zeros((*arr.shape[:-1], NITROGEN_RELEASE_DIM), dtype=np.float32)
    out[..., list(RELEASE_INDEX_OF_UNIFIED[:N_BUTTONS])] = arr[..., BUTTON_SLICE]
    out[..., list(RELEASE_INDEX_OF_UNIFIED[N_BUTTONS:])] = (arr[..., AXIS_SLICE] * np.array(RELEASE_Y_FLIP, np.float32) + 1.0) / 2.0
    return out
