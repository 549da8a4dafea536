"""Unified actions ↔ the values a policy models, for each action layout PolicyConfig names.

    unified            21 values: buttons {0, 1} → {-1, +1}, sticks unchanged (processor.py)
    nitrogen-release   the released checkpoint's 25: 21 button tokens {0, 1}, then both sticks
                       in [0, 1] with y down (padflow.actions documents and cites the layout)

Torch versions of padflow.actions' `unified_to_release` / `release_to_unified`, index for index.
"""

from __future__ import annotations

import torch

from models.policy.processor import actions_to_model, model_to_actions
from padflow.actions import (
    ACTION_DIM,
    AXIS_SLICE,
    BUTTON_SLICE,
    N_BUTTONS,
    NITROGEN_RELEASE_DIM,
    RELEASE_INDEX_OF_UNIFIED,
    RELEASE_Y_FLIP,
)

_UNIFIED_DIMS = list(range(ACTION_DIM))
_RELEASE_DIMS = list(RELEASE_INDEX_OF_UNIFIED)


def to_model(layout: str, actions: torch.Tensor) -> torch.Tensor:
    """Unified actions (..., 21) → model space of `layout`."""
    if layout == "unified":
        return actions_to_model(actions)
    out = actions.new_zeros((*actions.shape[:-1], NITROGEN_RELEASE_DIM))
    flip = actions.new_tensor(RELEASE_Y_FLIP)
    out[..., _RELEASE_DIMS[:N_BUTTONS]] = actions[..., BUTTON_SLICE]
    out[..., _RELEASE_DIMS[N_BUTTONS:]] = (actions[..., AXIS_SLICE] * flip + 1.0) / 2.0
    return out


def from_model(layout: str, values: torch.Tensor) -> torch.Tensor:
    """Model space of `layout` → unified actions (..., 21): buttons pressed or not, sticks in [-1, 1]."""
    if layout == "unified":
        return model_to_actions(values)
    picked = values[..., _RELEASE_DIMS]
    out = torch.empty_like(picked)
    out[..., BUTTON_SLICE] = (picked[..., BUTTON_SLICE] > 0.5).to(values.dtype)
    out[..., AXIS_SLICE] = (picked[..., AXIS_SLICE] * 2.0 - 1.0).clamp(-1.0, 1.0) * values.new_tensor(RELEASE_Y_FLIP)
    return out


def labelled_dims(layout: str) -> list[int]:
    """Model-space dimensions a unified label determines (the release's RIGHT_* tokens are not among them)."""
    return _UNIFIED_DIMS if layout == "unified" else _RELEASE_DIMS
