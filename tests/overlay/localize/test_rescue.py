"""Poses the ratio test misses are found by guided matching of the poses single matches vote for."""

from dataclasses import replace

from padflow.overlay.crops import box_iou
from padflow.overlay.localize import LocalizeConfig, localize_frames
from padflow.overlay.render import Placement


def test_a_pose_the_ratio_test_misses_is_rescued_by_guided_matching(library, game_frames, with_overlay):
    # A ratio test this strict drops nearly every correct match, as faintness and look-alike
    # buttons do on real videos; the pose the single matches vote for is then checked directly.
    frames, box = with_overlay(game_frames, library.skins["xbox-07"], Placement(anchor="top", width_frac=0.15, opacity=0.6))
    strict = LocalizeConfig(ratio=0.3)
    loc = localize_frames(frames, library, strict)
    assert loc.found and box_iou(loc.box, box) >= 0.8, loc.reason
    assert "guided matching" in loc.reason and loc.locations >= strict.rescue_min_locations
    assert not localize_frames(frames, library, replace(strict, rescue_poses=0)).found
