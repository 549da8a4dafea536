"""The skin library: the built-in skins (package data under padflow/overlay/skins/) plus any user folders.

`load_library` loads every `<id>.json` + `<id>.png` of the built-in folder and of the folders a
user names; the built-in skins themselves are drawn by `padflow.overlay.skingen`.
`HELD_OUT_SKINS` are never used to train the overlay parser, so its accuracy on unseen
controller designs can be measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padflow.overlay.skin import Skin, load_skin

BUILTIN_SKIN_DIR = Path(__file__).resolve().parent / "skins"
FAMILIES: tuple[str, ...] = ("xbox", "playstation", "nintendo", "generic")
SKINS_PER_FAMILY = 12
# Three per family (and, for generic, one per sub-layout: fight stick, retro pad, all-button).
HELD_OUT_SKINS: tuple[str, ...] = (
    "xbox-04", "xbox-09", "xbox-12",
    "playstation-03", "playstation-07", "playstation-11",
    "nintendo-02", "nintendo-06", "nintendo-10",
    "generic-03", "generic-07", "generic-11",
)  # fmt: skip


@dataclass(frozen=True)
class SkinLibrary:
    """Skins found in some folders, and the files rejected (when asked to skip bad ones)."""

    skins: dict[str, Skin]  # id → skin, sorted by id
    rejected: tuple[tuple[Path, str], ...] = field(default=())  # (layout file, reason)

    def training_ids(self) -> list[str]:
        """Skins the overlay parser may train on (everything not held out)."""
        return [i for i in self.skins if i not in HELD_OUT_SKINS]

    def held_out_ids(self) -> list[str]:
        return [i for i in self.skins if i in HELD_OUT_SKINS]


def load_library(
    user_dirs: Iterable[str | Path] = (), *, include_builtin: bool = True, skip_invalid: bool = False
) -> SkinLibrary:
    """Load every `<id>.json` + `<id>.png` in the built-in folder and `user_dirs`.

    A malformed skin raises ValueError naming the file and field; with `skip_invalid` it is
    left out and listed in `rejected` instead (the built-in skins are always checked strictly).
    """
    folders = [(BUILTIN_SKIN_DIR, False)] if include_builtin else []
    folders += [(Path(d), skip_invalid) for d in user_dirs]
    skins: dict[str, Skin] = {}
    rejected: list[tuple[Path, str]] = []
    for folder, lenient in folders:
        if not folder.is_dir():
            raise ValueError(f"{folder}: skin folder not found")
        for layout in sorted(folder.glob("*.json")):
            try:
                skin = load_skin(layout)
                if skin.id in skins:
                    raise ValueError(f"{layout}: id: {skin.id!r} is already defined by {skins[skin.id].layout_path}")
            except ValueError as exc:
                if not lenient:
                    raise
                rejected.append((layout, str(exc)))
                continue
            skins[skin.id] = skin
    return SkinLibrary(dict(sorted(skins.items())), tuple(rejected))


def list_skins(user_dirs: Iterable[str | Path] = ()) -> list[dict[str, Any]]:
    """One summary per skin: id, family, held_out, layout path."""
    library = load_library(user_dirs)
    return [
        {"id": s.id, "family": s.family, "held_out": s.id in HELD_OUT_SKINS, "layout": str(s.layout_path)}
        for s in library.skins.values()
    ]


def builtin_skin_ids() -> list[str]:
    return [f"{family}-{i:02d}" for family in FAMILIES for i in range(1, SKINS_PER_FAMILY + 1)]
