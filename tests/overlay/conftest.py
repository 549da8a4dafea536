"""Helpers for overlay tests: user skins made by copying a built-in one and editing its layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from padflow.overlay.library import BUILTIN_SKIN_DIR

SOURCE_ID = "xbox-01"


def user_skin(folder: Path, skin_id: str = "my-pad", edit=None) -> Path:
    """A copy of a built-in skin under a new id, with `edit(layout)` applied; returns the layout path."""
    layout = json.loads((BUILTIN_SKIN_DIR / f"{SOURCE_ID}.json").read_text())
    layout["id"] = skin_id
    if edit is not None:
        edit(layout)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(BUILTIN_SKIN_DIR / f"{SOURCE_ID}.png", folder / f"{skin_id}.png")
    path = folder / f"{skin_id}.json"
    path.write_text(json.dumps(layout))
    return path


@pytest.fixture
def make_skin():
    """`make_skin(folder, skin_id="my-pad", edit=None)` → layout path of an edited copy of SOURCE_ID."""
    return user_skin
