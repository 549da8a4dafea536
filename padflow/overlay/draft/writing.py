"""From a draft to files: the names file, the named sprite skin (atlas + layers), the numbered contact sheet."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from padflow.actions import BUTTONS, canonical_name
from padflow.io import atomic_path, write_text
from padflow.overlay.draft.model import Draft
from padflow.overlay.sprite import SpriteSkin, write_sprite_skin

STICK_NAMES: dict[str, str] = {"LEFT_STICK": "left", "RIGHT_STICK": "right"}
TRIGGERS: tuple[str, ...] = ("LEFT_TRIGGER", "RIGHT_TRIGGER")
SHEET_SCALE = 4  # the contact sheet shows the overlay this many times larger, so small numbers are readable
ATLAS_GAP = 1  # px between sprites in the atlas


def read_names(path: str | Path) -> dict[int, str]:
    """A names file: JSON object of region number → control name (a button, LEFT_STICK or RIGHT_STICK)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the names file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f'{path}: expected an object of region number → control name, e.g. {{"3": "SOUTH", "7": "LEFT_STICK"}}')
    out = {}
    for key, name in data.items():
        if not str(key).isdigit():
            raise ValueError(f"{path}: {key!r}: region numbers are the integers on the contact sheet")
        out[int(key)] = name
    return out


def named_layers(draft: Draft, names: Mapping[int, str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The atlas and layer list of the skin the names make of a draft (unnamed regions dropped).

    ValueError names the region and the reason: an unknown region number or control name, a
    stick region named as a button or the other way round, a control named twice.
    """
    by_number = {r.number: r for r in draft.regions}
    sprites: list[np.ndarray] = [draft.rest]
    layers: list[dict[str, Any]] = []
    seen: dict[str, int] = {}

    def add(sprite: np.ndarray) -> list[int]:
        sprites.append(sprite)
        return [len(sprites) - 1]

    for number, raw in sorted(names.items()):
        if number not in by_number:
            raise ValueError(f"region {number}: no such region; the draft has {', '.join(map(str, sorted(by_number))) or 'none'}")
        region = by_number[number]
        name = str(raw).upper()
        if name not in STICK_NAMES:
            try:
                name = canonical_name(str(raw))
            except ValueError:
                name = ""
            if name not in BUTTONS:
                raise ValueError(f"region {number}: {raw!r} is not a control; valid: {', '.join(BUTTONS)}, LEFT_STICK, RIGHT_STICK")
        if name in seen:
            raise ValueError(f"region {number}: {name} is already region {seen[name]}")
        seen[name] = number
        if region.kind == "stick":
            if name not in STICK_NAMES:
                raise ValueError(f"region {number}: a stick region (its change moves around a centre) needs LEFT_STICK or RIGHT_STICK, not {name}")
            layers.append({"type": "stick", "side": STICK_NAMES[name], "pos": list(region.cap_pos), "cap": add(region.idle),
                           "travel": round(region.travel, 2), "travel_shape": "round"})  # fmt: skip
            continue
        if name in STICK_NAMES:
            raise ValueError(f"region {number}: a button region (its pixels switch together) cannot be {name}")
        pos = [region.box[0], region.box[1]]
        layer = {"type": "trigger" if name in TRIGGERS else "button", "control": name, "pos": pos, "idle": add(region.idle), "pressed": add(region.pressed)}
        if name in TRIGGERS:
            layer.update(mode="button", direction="up")
        layers.append(layer)
    atlas, rects = _pack(sprites)
    resolve = lambda v: list(rects[v[0]]) if isinstance(v, list) and len(v) == 1 else v  # noqa: E731
    static = {"type": "static", "sprite": list(rects[0]), "pos": [0, 0]}
    out = [static] + [{k: resolve(v) if k in ("idle", "pressed", "cap") else v for k, v in layer.items()} for layer in layers]
    return atlas, out


def _pack(sprites: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Sprites on shelves: the first (the rest picture) on top, the others in rows below it."""
    width = max(s.shape[1] for s in sprites)
    rects, x, y, shelf = [], 0, 0, 0
    for i, s in enumerate(sprites):
        h, w = s.shape[:2]
        if i == 1 or x + w > width:
            x, y, shelf = 0, y + shelf + ATLAS_GAP, 0
        rects.append((x, y, w, h))
        x, shelf = x + w + ATLAS_GAP, max(shelf, h)
    atlas = np.zeros((y + shelf, width, 4), np.uint8)
    for (u, v, w, h), s in zip(rects, sprites):
        atlas[v : v + h, u : u + w] = s
    return atlas, rects


def named_skin(draft: Draft, names: Mapping[int, str], folder: str | Path, skin_id: str, family: str = "generic") -> SpriteSkin:
    """Write the sprite skin the names make of a draft (validated by padflow.overlay.sprite) and return it loaded."""
    atlas, layers = named_layers(draft, names)
    return write_sprite_skin(folder, skin_id, family, draft.size, atlas, layers)


def contact_sheet(draft: Draft, path: str | Path) -> Path:
    """A PNG of the overlay's rest picture, enlarged, each proposed region outlined with its number (buttons green, sticks orange)."""
    w, h = draft.size
    alpha = draft.rest[..., 3:4].astype(np.float32) / 255.0
    grey = (draft.rest[..., :3] * alpha + 96 * (1 - alpha)).astype(np.uint8)
    image = Image.fromarray(cv2.resize(grey, (w * SHEET_SCALE, h * SHEET_SCALE), interpolation=cv2.INTER_NEAREST))
    draw = ImageDraw.Draw(image)
    for r in draft.regions:
        x0, y0, x1, y1 = (v * SHEET_SCALE for v in r.box)
        colour = (40, 230, 60) if r.kind == "button" else (255, 150, 0)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=2)
        label = str(r.number)
        tx, ty = x0 + 2, max(0, y0 - 11) if y0 >= 11 else y1 + 1
        draw.rectangle((tx - 1, ty - 1, tx + 6 * len(label) + 1, ty + 10), fill=(0, 0, 0))
        draw.text((tx, ty), label, fill=colour)
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def write_draft(draft: Draft, folder: str | Path, skin_id: str) -> dict[str, Path]:
    """The draft for the user: `<id>.draft.json` (the regions), `<id>.sheet.png` (numbered) and `<id>.rest.png`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = write_text(folder / f"{skin_id}.draft.json", json.dumps(draft.to_dict(), indent=2) + "\n")
    sheet = contact_sheet(draft, folder / f"{skin_id}.sheet.png")
    rest = folder / f"{skin_id}.rest.png"
    with atomic_path(rest) as tmp:
        Image.fromarray(draft.rest, "RGBA").save(tmp, format="PNG")
    return {"draft": Path(record), "sheet": sheet, "rest": rest}
