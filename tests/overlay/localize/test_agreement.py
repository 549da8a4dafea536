"""The picture comparison of the skin check: a skin scored at its aligned pose, and the pose search's residual."""

import numpy as np

from padflow.overlay.localize.agreement import REACH_PX, PoseResiduals, align_pose, grown_box, skin_agreement, warped_rest
from padflow.overlay.render import Placement

PLACEMENT = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.8)


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
