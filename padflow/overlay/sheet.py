"""A contact sheet of the skin library (either kind of skin) drawn on real game frames, for people to look at."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from padflow.actions import action_from_dict, noop
from padflow.io import atomic_path
from padflow.overlay.library import BUILTIN_SKIN_DIR, FAMILIES, AnySkin, SkinLibrary, is_held_out, load_library
from padflow.overlay.render import Placement, draw_overlay

FRAME_SIZE = (854, 480)  # (width, height): 480p, the smallest size the corpus writes
SHEET_GAMES: tuple[str, ...] = ("ALE/Pong-v5", "ALE/Breakout-v5", "ALE/SpaceInvaders-v5", "ALE/MsPacman-v5")
WARMUP_STEPS = 120  # random steps before grabbing a frame, so the screen shows play, not a title
SKINS_PER_FAMILY_SHOWN = 3
USER_SKINS_SHOWN = 24  # skins outside the built-in folder, each one row
SHOWN_SKIN_STRIDE = 5
SMALL_WIDTH, MEDIUM_WIDTH, LARGE_WIDTH = 0.08, 0.15, 0.30  # the overlay sizes shown, fraction of frame width
CELL_PAD = 10  # px of frame kept around the overlay in each cell
GAP = 6  # px between cells
LABEL_WIDTH = 110
SHEET_BACKGROUND = (24, 24, 28)
TEXT_COLOUR = (230, 230, 230)

DEMO_ACTIONS = (
    ("neutral", noop()),
    ("A+RT, L up", action_from_dict({"SOUTH": 1, "RIGHT_TRIGGER": 1, "j_left": (0, 1)})),
    ("B+Y+up+LB, L left, R down-right", action_from_dict(
        {"EAST": 1, "NORTH": 1, "DPAD_UP": 1, "LEFT_SHOULDER": 1, "j_left": (-1, 0), "j_right": (0.7, -0.7)})),
    ("X+right+start+L3+R3, L up-right, R down", action_from_dict(
        {"WEST": 1, "DPAD_RIGHT": 1, "START": 1, "LEFT_THUMB": 1, "RIGHT_THUMB": 1, "j_left": (0.7, 0.7), "j_right": (0, -1)})),
)  # fmt: skip


def game_backgrounds(seed: int = 0) -> list[np.ndarray]:
    """One mid-game frame per SHEET_GAMES title, resized to FRAME_SIZE (RGB uint8)."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    rng = np.random.default_rng(seed)
    frames = []
    for game in SHEET_GAMES:
        with contextlib.redirect_stderr(io.StringIO()):
            env = gym.make(game)
        try:
            obs, _ = env.reset(seed=seed)
            for _ in range(WARMUP_STEPS):
                obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
                if terminated or truncated:
                    obs, _ = env.reset()
        finally:
            env.close()
        frames.append(cv2.resize(obs, FRAME_SIZE, interpolation=cv2.INTER_NEAREST))
    return frames


def contact_sheet(path: str | Path, library: SkinLibrary | None = None, backgrounds: Sequence[np.ndarray] | None = None) -> Path:
    """Write a PNG: per family a few skins, each showing DEMO_ACTIONS at 8 %, 15 % and 30 % of an 854-px frame."""
    library = library or load_library()
    backgrounds = list(backgrounds) if backgrounds is not None else game_backgrounds()
    chosen = _pick_skins(library)
    rows = [_skin_row(skin, backgrounds[k % len(backgrounds)]) for k, skin in enumerate(chosen)]
    header = _header(rows[0], backgrounds, chosen)
    width = max(r.shape[1] for r in [header, *rows])
    sheet = np.concatenate([_pad_to(r, width) for r in [header, *rows]], axis=0)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG", compress_level=9)
    return path


def _pick_skins(library: SkinLibrary) -> list[AnySkin]:
    """A few built-in skins per family, then every user skin (up to USER_SKINS_SHOWN): the ones a user wants to check."""
    builtin = [s for s in library.skins.values() if s.layout_path.parent.resolve() == BUILTIN_SKIN_DIR]
    chosen = []
    families = [f for f in FAMILIES if any(s.family == f for s in builtin)]
    families += sorted({s.family for s in builtin} - set(families))
    for family in families:
        members = [s for s in builtin if s.family == family]
        # every fifth skin: built-in body shapes cycle every 4 and generic layouts every 3, so this shows each
        chosen += members[::SHOWN_SKIN_STRIDE][:SKINS_PER_FAMILY_SHOWN]
    builtin_ids = {s.id for s in builtin}
    user = [s for s in library.skins.values() if s.id not in builtin_ids]
    return chosen + user[:USER_SKINS_SHOWN]


def _cell(frame: np.ndarray, skin: AnySkin, action: np.ndarray, width_frac: float) -> np.ndarray:
    """The overlay on the frame's bottom-left corner, cropped with a margin of real frame around it."""
    out, (x0, y0, x1, y1) = draw_overlay(frame, skin, action, Placement("bottom-left", width_frac, 1.0, 0.02))
    h, w = out.shape[:2]
    return out[max(0, y0 - CELL_PAD) : min(h, y1 + CELL_PAD), max(0, x0 - CELL_PAD) : min(w, x1 + CELL_PAD)]


def _skin_row(skin: AnySkin, frame: np.ndarray) -> np.ndarray:
    cells = [_label(f"{skin.id}\n{skin.family}" + ("\nheld out" if is_held_out(skin) else ""), LABEL_WIDTH)]
    for width_frac in (SMALL_WIDTH, MEDIUM_WIDTH):
        cells += [_cell(frame, skin, action, width_frac) for _, action in DEMO_ACTIONS]
    cells.append(_cell(frame, skin, DEMO_ACTIONS[3][1], LARGE_WIDTH))
    return _hstack(cells)


def _header(first_row: np.ndarray, backgrounds: Sequence[np.ndarray], skins: list[AnySkin]) -> np.ndarray:
    """Whole frames at true scale (8 % top-left, 15 % bottom-right), then a legend."""
    frames = []
    for k, (anchor, frac, opacity) in enumerate((("top-left", SMALL_WIDTH, 1.0), ("bottom-right", MEDIUM_WIDTH, 0.7))):
        skin = skins[(k * 4 + 1) % len(skins)]
        frame, _ = draw_overlay(backgrounds[k % len(backgrounds)], skin, DEMO_ACTIONS[2][1], Placement(anchor, frac, opacity))
        frames.append(frame)
    legend = (
        f"whole {FRAME_SIZE[0]}x{FRAME_SIZE[1]} frames at true scale: left 8 % of frame width, right 15 % at opacity 0.7.\n"
        f"rows: columns 1-4 at 8 % ({round(SMALL_WIDTH * FRAME_SIZE[0])} px wide), 5-8 at 15 %, last at 30 %.\n"
        + "  ".join(f"[{k + 1}] {name}" for k, (name, _) in enumerate(DEMO_ACTIONS))
    )
    frames_row = _hstack(frames)
    legend_row = _label(legend, frames_row.shape[1], 54)
    return np.concatenate([frames_row, legend_row], axis=0)


def _label(text: str, width: int, height: int = 0) -> np.ndarray:
    font = ImageFont.load_default_imagefont()
    lines = text.split("\n")
    img = Image.new("RGB", (width, max(height, 14 * len(lines) + 8)), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((6, 4 + 14 * i), line, fill=TEXT_COLOUR, font=font)
    return np.asarray(img)


def _hstack(cells: list[np.ndarray]) -> np.ndarray:
    height = max(c.shape[0] for c in cells) + GAP
    parts = []
    for c in cells:
        block = np.full((height, c.shape[1] + GAP, 3), SHEET_BACKGROUND, dtype=np.uint8)
        top = (height - c.shape[0]) // 2
        block[top : top + c.shape[0], : c.shape[1]] = c
        parts.append(block)
    return np.concatenate(parts, axis=1)


def _pad_to(row: np.ndarray, width: int) -> np.ndarray:
    out = np.full((row.shape[0], width, 3), SHEET_BACKGROUND, dtype=np.uint8)
    out[:, : row.shape[1]] = row
    return out
