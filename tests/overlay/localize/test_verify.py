"""Unknown skins: an overlay whose skin is not in the library is recorded unknown_skin at its box, never read as a look-alike."""

import numpy as np
import pytest

from padflow.actions import ACTION_NAMES, N_BUTTONS
from padflow.overlay.crops import box_iou
from padflow.overlay.library import SkinLibrary, load_library
from padflow.overlay.localize import LocalizeConfig, localize_frames, template_index
from padflow.overlay.localize.verify import (
    REACH_PX,
    PoseResiduals,
    align_pose,
    grown_box,
    skin_agreement,
    twins,
    warped_rest,
)
from padflow.overlay.render import Placement, draw_overlay

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


def test_the_pose_search_residual_is_the_whole_crop_residual_to_the_bit(library, game_frames, with_overlay):
    """align_pose reads only a band around the skin per pose (PoseResiduals): the numbers, and so every pose and verdict, are the crop's own."""
    skin = library.skins["xbox-01"]
    frames, box = with_overlay(game_frames, skin, PLACEMENT)
    h, w = skin.rest.shape[:2]
    fit = np.array([[(box[2] - box[0]) / w, 0.0, box[0]], [0.0, (box[3] - box[1]) / h, box[1]]])
    crop_box = grown_box(box, (frames[0].shape[1], frames[0].shape[0]))
    median = np.median(np.stack([f[crop_box[1]:crop_box[3], crop_box[0]:crop_box[2]] for f in frames]).astype(np.float32), axis=0)
    drawn = (warped_rest(skin.rest, fit, crop_box)[..., 3] > 5).astype(np.uint8)
    game = np.random.default_rng(0).uniform(0, 255, median.shape).astype(np.float32)
    residuals = PoseResiduals(game, median - game, drawn)
    for scale, shift in ((1.0, (0.0, 0.0)), (1.02, (-2.0, 1.5)), (0.98, (1.25, -0.375)), (1.0, (REACH_PX + 4.0, 0.0))):
        pose = fit.copy()
        pose[:, :2] *= scale
        pose[:, 2] += shift
        rest = warped_rest(skin.rest, pose, crop_box).astype(np.uint8)
        assert residuals(rest) == residuals.whole_crop(rest), (scale, shift)  # the last pose reaches past the band


@pytest.fixture(scope="module")
def twin_library(tmp_path_factory: pytest.TempPathFactory, make_sprite_skin) -> SkinLibrary:
    """One atlas as two skins, with and without sticks, as overlay tools ship them (input-overlay's `overlay` / `overlay-analog`)."""
    folder = tmp_path_factory.mktemp("twins")
    make_sprite_skin(folder, "pad-analog")
    make_sprite_skin(folder, "pad-digital", sticks=False, atlas_of="pad-analog")
    make_sprite_skin(folder, "pad-other")
    return load_library([folder], include_builtin=False)


def test_twin_skins_are_told_apart_by_the_controls_only_one_of_them_draws(twin_library, game_frames):
    """Each twin explains the other's overlay nearly as well, so neither leads by min_skin_margin; the pixels where they differ decide."""
    index = template_index(twin_library, DEFAULT)
    ids = list(index.skin_ids)
    assert [index.skin_ids[k] for k in twins(index, ids.index("pad-analog"))] == ["pad-digital"]
    assert twins(index, ids.index("pad-other")) == []
    rng = np.random.default_rng(5)
    for drawn_id in ("pad-analog", "pad-digital"):
        frames, box = [], None
        for frame in game_frames:
            action = np.zeros(len(ACTION_NAMES), np.float32)
            action[rng.integers(N_BUTTONS)] = 1.0
            action[N_BUTTONS:] = rng.uniform(-1, 1, 4) * (rng.random() < 0.5)  # sticks at rest in half the frames
            drawn, box = draw_overlay(frame, twin_library.skins[drawn_id], action, Placement("bottom-right", 0.2, 0.9))
            frames.append(drawn)
        loc = localize_frames(frames, twin_library, DEFAULT)
        assert loc.found and loc.skin_id == drawn_id, loc.reason
        assert "of its twins" in loc.reason and box_iou(loc.box, box) >= 0.9


def test_the_built_in_library_has_no_twins(library):
    """Built-in skins of one family differ in colour everywhere: the twin rule never applies to them."""
    index = template_index(library, DEFAULT)
    assert all(twins(index, k) == [] for k in range(len(index.skins)))
