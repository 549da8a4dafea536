"""localize_frames / localize_overlay end to end: drawn overlays are found where they were drawn, plain gameplay gets none."""

import pytest

from padflow.overlay.crops import box_iou, transform_box
from padflow.overlay.localize import LocalizeConfig, localize_frames, localize_overlay
from padflow.overlay.render import Placement
from padflow.video import write_mp4

FRAME_SIZE = (854, 480)  # the size of the game_frames fixture (conftest.py)
N_FRAMES = 8  # frames in the game_frames fixture


@pytest.mark.slow
@pytest.mark.parametrize(
    "skin_id, anchor, width_frac, opacity, declared",
    [
        ("xbox-01", "bottom-left", 0.15, 1.0, False),
        ("playstation-07", "top-right", 0.08, 1.0, False),  # held out, floating buttons, ~68 px wide
        # faint over a game where every control changes every frame: it leads its look-alikes by less than
        # min_skin_margin (a skin outside the library led by more on the tune set), so it is found where declared
        ("nintendo-05", "bottom", 0.12, 0.4, True),
        ("generic-11", "right", 0.30, 0.6, False),
        ("xbox-04", "top-left", 0.08, 0.6, False),  # small and faint
    ],
)
def test_recovers_the_drawn_box(library, game_frames, with_overlay, skin_id, anchor, width_frac, opacity, declared):
    skin = library.skins[skin_id]
    frames, box = with_overlay(game_frames, skin, Placement(anchor=anchor, width_frac=width_frac, opacity=opacity))
    loc = localize_frames(frames, library, LocalizeConfig(), declared=skin_id if declared else None)
    assert loc.found, loc.reason
    assert box_iou(loc.box, box) >= 0.9, (loc.box, box)
    assert loc.inliers >= LocalizeConfig().min_inliers
    assert 1 <= loc.frames_sampled <= len(frames) and loc.frame_size == FRAME_SIZE  # a sure fit stops early
    # the transform maps the template onto the drawn box
    assert box_iou(transform_box(loc.matrix, library.skins[loc.skin_id].size, FRAME_SIZE), box) >= 0.9


def test_a_video_without_overlay_is_not_given_one(library, game_frames, tmp_path):
    video = tmp_path / "plain.mp4"
    write_mp4(video, game_frames, 30.0, crf=28)
    loc = localize_overlay(video, library, LocalizeConfig(frames=N_FRAMES))
    assert not loc.found
    assert loc.reason.startswith("no overlay")
    assert loc.frames_sampled == N_FRAMES  # absence is only concluded after every sampled frame
    assert loc.transform is None and loc.box is None and loc.skin_id is None
    assert loc.to_dict()["found"] is False


def test_localizes_from_a_video_file(library, game_frames, with_overlay, tmp_path):
    skin = library.skins["xbox-09"]
    frames, box = with_overlay(game_frames, skin, Placement(anchor="bottom-right", width_frac=0.2, opacity=0.8))
    video = tmp_path / "overlay.mp4"
    write_mp4(video, frames, 30.0, crf=26)
    loc = localize_overlay(video, library, LocalizeConfig(frames=N_FRAMES))
    assert loc.found and box_iou(loc.box, box) >= 0.9
    assert loc.to_dict()["box"] == list(loc.box)
    assert loc.seconds > 0


def test_unreadable_video_is_a_clear_error(library, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="bad.mp4"):
        localize_overlay(bad, library)
