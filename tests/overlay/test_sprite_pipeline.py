"""A sprite skin in a user folder goes the whole way: library → localization → training renders → parser crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from padflow.actions import ACTION_NAMES, BUTTONS, N_BUTTONS
from padflow.overlay.crops import box_iou, parser_batch, skin_view
from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, localize_frames
from padflow.overlay.localize.index import template_index
from padflow.overlay.render import Placement, draw_overlay
from padflow.overlay.synth import SynthConfig, load_shard, random_actions, render_clip, render_split, save_shard

CFG = SynthConfig(crop_size=(64, 48), stick_size=16, frames_per_clip=3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, make_sprite_skin) -> Path:
    folder = tmp_path_factory.mktemp("user-skins")
    make_sprite_skin(folder, "sprite-pad")
    make_sprite_skin(folder, "sprite-flat", held_out=True, sticks=False)  # no sticks at all; held out
    return folder


@pytest.fixture(scope="module")
def backgrounds() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    coarse = rng.integers(60, 140, (8, 10, 18, 3), dtype=np.uint8)
    return [np.repeat(np.repeat(coarse, 48, axis=1), 48, axis=2)]  # (8, 480, 864, 3): blocky "game" frames


def test_library_loads_user_sprite_skins_and_honours_held_out(folder: Path) -> None:
    library = load_library([folder])
    assert library.skins["sprite-pad"].kind == "sprite" and library.skins["xbox-01"].kind == "parametric"
    assert "sprite-pad" in library.training_ids() and "sprite-flat" not in library.training_ids()
    assert "sprite-flat" in library.held_out_ids()


def test_sprite_skin_is_localized_from_its_rest_template(folder: Path, backgrounds: list[np.ndarray]) -> None:
    library = load_library([folder], include_builtin=False)
    index = template_index(library, LocalizeConfig())
    assert set(index.skin_ids) == {"sprite-pad", "sprite-flat"}
    skin = library.skins["sprite-pad"]
    rng = np.random.default_rng(2)
    frames, box = [], None
    # Eight frames of play as extract samples it: mostly at rest, one button held in each, the sticks pushed in a
    # quarter of them (the skin check scores each control's median over frames, so a control pressed in every
    # sampled frame is not what it is tested on).
    for i, frame in enumerate(backgrounds[0][:, :480, :854]):
        action = np.zeros(len(ACTION_NAMES), np.float32)
        action[rng.integers(N_BUTTONS)] = 1.0
        if i % 4 == 0:
            action[N_BUTTONS:] = random_actions(1, rng)[0][N_BUTTONS:]
        drawn, box = draw_overlay(np.ascontiguousarray(frame), skin, action, Placement("bottom-right", 0.2, 1.0))
        frames.append(drawn)
    loc = localize_frames(frames, library, LocalizeConfig())
    assert loc.found and loc.skin_id == "sprite-pad", loc.reason
    assert box_iou(loc.box, box) >= 0.9


def test_training_renders_and_crops_of_sprite_skins_mask_undrawn_controls(folder: Path, backgrounds, tmp_path: Path) -> None:
    library = load_library([folder], include_builtin=False)
    pad, flat = library.skins["sprite-pad"], library.skins["sprite-flat"]
    view = skin_view(pad, CFG.crop_size, CFG.stick_size)
    assert [n for n, seen in zip(ACTION_NAMES, view.observed) if seen] == [n for n in ACTION_NAMES if n in pad.observed]
    undrawn = [BUTTONS.index(b) for b in BUTTONS if b not in pad.observed]
    assert (view.button_boxes[undrawn] == 0).all() and (view.button_boxes[[BUTTONS.index("SOUTH")]] > 0).any()
    assert (view.stick_travel > 0).all()
    flat_view = skin_view(flat, CFG.crop_size, CFG.stick_size)
    assert (flat_view.stick_travel == 0).all() and not flat_view.observed[-4:].any()

    crops, sticks, actions, _ = render_clip(pad, backgrounds, CFG, np.random.default_rng(3), view)
    assert crops.shape == (3, 48, 64, 3) and sticks.shape == (3, 2, 16, 16, 3)
    assert (actions[:, ~view.observed] == 0).all()  # undrawn controls stay at rest: nothing to read
    batch = parser_batch(crops, sticks, view)
    assert batch.frames.shape == (3, 6, 48, 128) and batch.button_boxes.shape == (3, 17, 4)

    renders = render_split({"sprite-pad": pad, "sprite-flat": flat}, 4, backgrounds, CFG, seed=0, split="val")
    again = load_shard(save_shard(renders, tmp_path / "val.npz"))
    assert np.array_equal(again.views["sprite-flat"].observed, flat_view.observed)
    assert np.array_equal(again.crops, renders.crops)


def test_contact_sheet_shows_every_user_sprite_skin(folder: Path, backgrounds, tmp_path: Path) -> None:
    from PIL import Image

    from padflow.overlay.sheet import contact_sheet

    frame = np.ascontiguousarray(backgrounds[0][0, :480, :854])
    one, two = load_library([folder], include_builtin=False), load_library([folder], include_builtin=False)
    one.skins.pop("sprite-flat")
    heights = []
    for k, library in enumerate((one, two)):
        with Image.open(contact_sheet(tmp_path / f"sheet{k}.png", library, [frame])) as sheet:
            assert sheet.width > 854  # the header's two whole frames side by side
            heights.append(sheet.height)
    assert heights[1] > heights[0]  # one row per user skin
