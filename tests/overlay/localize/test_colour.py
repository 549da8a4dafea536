"""Look-alike skins (one geometry, different colours) are told apart by their rest colours."""

import numpy as np
import pytest
from PIL import Image

from padflow.overlay.crops import box_iou
from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, localize_frames
from padflow.overlay.render import Placement


RECOLOURINGS = {"pad-rgb": (0, 1, 2), "pad-bgr": (2, 1, 0), "pad-gbr": (1, 2, 0)}  # RGB channel orders


def reordered_colours(value, order):
    """A layout value with the RGB channels of every '#rrggbb[aa]' colour in it reordered."""
    if isinstance(value, dict):
        return {k: reordered_colours(v, order) for k, v in value.items()}
    if isinstance(value, list):
        return [reordered_colours(v, order) for v in value]
    if isinstance(value, str) and value.startswith("#") and len(value) in (7, 9):
        channels = [value[1:3], value[3:5], value[5:7]]
        return "#" + "".join(channels[i] for i in order) + value[7:]
    return value


def recoloured_library(folder, make_skin, families=None):
    """Three skins with one geometry that differ only in colour (xbox-01 with its RGB channels reordered); `families` gives each its own family."""
    for skin_id, order in RECOLOURINGS.items():

        def edit(layout, order=order, skin_id=skin_id):
            layout.update(reordered_colours(layout, order))
            if families:
                layout["family"] = families[skin_id]

        make_skin(folder, skin_id, edit=edit)
        rgba = np.asarray(Image.open(folder / f"{skin_id}.png").convert("RGBA"))
        Image.fromarray(np.ascontiguousarray(rgba[..., [*order, 3]])).save(folder / f"{skin_id}.png")
    return load_library([folder], include_builtin=False)


@pytest.mark.parametrize("skin_id", sorted(RECOLOURINGS))
@pytest.mark.parametrize("families", [None, {"pad-rgb": "alpha", "pad-bgr": "beta", "pad-gbr": "gamma"}], ids=["one family", "three families"])
def test_look_alike_skins_are_told_apart_by_colour(tmp_path, make_skin, game_frames, with_overlay, skin_id, families):
    # Look-alikes of other families (a similar outline) gather nearly as many locations too: colour decides there as well.
    library = recoloured_library(tmp_path / "recoloured", make_skin, families)
    placement = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.8)
    frames, box = with_overlay(game_frames, library.skins[skin_id], placement)
    loc = localize_frames(frames, library, LocalizeConfig())
    assert loc.found and box_iou(loc.box, box) >= 0.9, loc.reason
    assert loc.skin_id == skin_id, loc.reason  # the parser reads presses against this skin's rest colours
