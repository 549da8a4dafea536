"""The skin library: the built-in skins (package data under padflow/overlay/skins/) plus any user folders.

`load_library` loads every `<id>.json` of the built-in folder and of the folders a user names,
of either kind (`load_any_skin` dispatches on the layout's "kind": parametric `<id>.json` +
`<id>.png` rest image, padflow.overlay.skin; sprite `<id>.json` + atlas, padflow.overlay.sprite);
the built-in skins themselves are drawn by `padflow.overlay.skingen`. `HELD_OUT_SKINS`, and any
skin whose layout says `"held_out": true`, are never used to train the overlay parser, so its
accuracy on unseen controller designs can be measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padflow.overlay.skin import Skin, load_skin, read_layout_json
from padflow.overlay.sprite import SpriteSkin, is_sprite_layout, load_sprite_skin

AnySkin = Skin | SpriteSkin

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

    skins: dict[str, AnySkin]  # id → skin, sorted by id
    rejected: tuple[tuple[Path, str], ...] = field(default=())  # (layout file, reason)

    def training_ids(self) -> list[str]:
        """Skins the overlay parser may train on (everything not held out)."""
        return [i for i, s in self.skins.items() if not is_held_out(s)]

    def held_out_ids(self) -> list[str]:
        return [i for i, s in self.skins.items() if is_held_out(s)]


def is_held_out(skin: AnySkin) -> bool:
    """Kept out of the parser's training renders: a built-in held-out id, or `"held_out": true` in the layout."""
    return skin.id in HELD_OUT_SKINS or skin.held_out


def load_any_skin(json_path: str | Path) -> AnySkin:
    """A skin of either kind from its layout file; ValueError names the file and the key."""
    path = Path(json_path)
    data = read_layout_json(path)
    return load_sprite_skin(path, data) if is_sprite_layout(data) else load_skin(path)


def load_library(
    user_dirs: Iterable[str | Path] = (), *, include_builtin: bool = True, skip_invalid: bool = False
) -> SkinLibrary:
    """Load every skin layout (`<id>.json`, either kind) in the built-in folder and `user_dirs`.

    A malformed skin raises ValueError naming the file and field; with `skip_invalid` it is
    left out and listed in `rejected` instead (the built-in skins are always checked strictly).
    """
    folders = [(BUILTIN_SKIN_DIR, False)] if include_builtin else []
    folders += [(Path(d), skip_invalid) for d in user_dirs]
    skins: dict[str, AnySkin] = {}
    rejected: list[tuple[Path, str]] = []
    for folder, lenient in folders:
        if not folder.is_dir():
            raise ValueError(f"{folder}: skin folder not found")
        for layout in sorted(folder.glob("*.json")):
            try:
                skin = load_any_skin(layout)
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
    """One summary per skin: id, kind, family, held_out, observed control count, layout path."""
    library = load_library(user_dirs)
    return [
        {"id": s.id, "kind": s.kind, "family": s.family, "held_out": is_held_out(s), "observed": len(s.observed),
         "layout": str(s.layout_path)}
        for s in library.skins.values()
    ]


def builtin_skin_ids() -> list[str]:
    return [f"{family}-{i:02d}" for family in FAMILIES for i in range(1, SKINS_PER_FAMILY + 1)]
