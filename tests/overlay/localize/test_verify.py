"""Unknown skins: an overlay whose skin is not in the library is recorded unknown_skin at its box, never read as a look-alike."""

import numpy as np

from padflow.overlay.crops import box_iou
from padflow.overlay.library import SkinLibrary
from padflow.overlay.localize import LocalizeConfig, localize_frames
from padflow.overlay.localize.verify import align_pose, grown_box, skin_agreement
from padflow.overlay.render import Placement

PLACEMENT = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.8)
FAINT = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.45)
DEFAULT = LocalizeConfig()  # extract's thresholds (min_skin_agreement, min_skin_margin), chosen on bench/unknown_skin.py's tune set


def test_an_overlay_of_a_skin_removed_from_the_library_is_unknown_skin(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], PLACEMENT)
    without = SkinLibrary({k: v for k, v in library.skins.items() if k != "xbox-01"})
    loc = localize_frames(frames, without, DEFAULT)
    assert loc.outcome == "unknown_skin" and not loc.found, loc.reason
    assert box_iou(loc.box, box) >= 0.8  # where the overlay is, though no skin explains it
    assert loc.skin_id is None and loc.transform is None  # nothing to read it with
    assert loc.nearest_skin.startswith("xbox-") and loc.skin_agreement < DEFAULT.min_skin_agreement
    assert loc.reason.startswith("unknown skin") and loc.nearest_skin in loc.reason
    assert loc.to_dict()["unknown_skin"] is True


def test_the_same_overlay_with_its_skin_in_the_library_is_found(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], PLACEMENT)
    loc = localize_frames(frames, library, DEFAULT)
    assert loc.outcome == "found" and loc.skin_id == "xbox-01", loc.reason
    assert box_iou(loc.box, box) >= 0.9
    assert loc.skin_agreement >= DEFAULT.min_skin_agreement
    assert loc.runner_up_agreement is None or loc.runner_up_agreement < loc.skin_agreement


def test_a_faint_library_overlay_over_the_game_is_still_found(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], FAINT)
    loc = localize_frames(frames, library, DEFAULT)
    assert loc.outcome == "found" and loc.skin_id == "xbox-01", loc.reason


def test_a_fit_a_fraction_of_a_pixel_off_is_scored_at_the_drawn_pose(library, game_frames, with_overlay):
    """The check compares pixels: it first aligns the skin (align_pose), so a slightly-off fit costs the true skin nothing."""
    skin = library.skins["xbox-01"]
    frames, box = with_overlay(game_frames, skin, PLACEMENT)
    h, w = skin.rest.shape[:2]
    drawn = np.array([[(box[2] - box[0]) / w, 0.0, box[0]], [0.0, (box[3] - box[1]) / h, box[1]]])
    off = drawn.copy()
    off[:, :2] *= 1.006
    off[:, 2] += (0.4, -0.35)
    crop_box = grown_box(box, (frames[0].shape[1], frames[0].shape[0]))
    crops = np.stack([f[crop_box[1]:crop_box[3], crop_box[0]:crop_box[2]] for f in frames]).astype(np.float32)
    median = np.median(crops, axis=0)

    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64).T
    def corner_error(m):
        return float(np.abs(m @ corners - drawn @ corners).max())

    assert corner_error(off) > 0.9  # px: what the check was handed
    assert corner_error(align_pose(median, skin, off, crop_box)) < 0.3  # what it scores at
    assert abs(skin_agreement(crops, median, skin, off, crop_box) - skin_agreement(crops, median, skin, drawn, crop_box)) < 0.02
