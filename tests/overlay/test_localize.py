from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from padflow.actions import noop
from padflow.overlay.crops import box_iou, placement_transform, transform_box
from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, localize_frames, localize_overlay, sample_frames, template_index
from padflow.overlay.render import Placement, draw_overlay
from padflow.video import write_mp4
from tasks.corpus import fit_to_upload, record_gameplay

FRAME_SIZE = (854, 480)  # the corpus' smallest 16:9 upload size: an 8% overlay is ~68 px wide
N_FRAMES = 8


@pytest.fixture(scope="module")
def library():
    return load_library()


@pytest.fixture(scope="module")
def game_frames() -> list[np.ndarray]:
    """Moving game content from a real engine, at upload size."""
    frames, _, _, _ = record_gameplay("crafter_collect_wood", "average", seed=3, seconds=N_FRAMES * 4 / 30, fps=30.0)
    return [fit_to_upload(f, *FRAME_SIZE)[0] for f in frames[::4]]


def with_overlay(frames, skin, placement, seed=0):
    rng = np.random.default_rng(seed)
    out, box = [], None
    for frame in frames:
        action = noop()
        action[:17] = rng.random(17) < 0.2  # the pad changes from frame to frame, as in play
        action[17:] = rng.uniform(-1, 1, 4)
        drawn, box = draw_overlay(frame, skin, action, placement)
        out.append(drawn)
    return out, box


@pytest.mark.slow
@pytest.mark.parametrize(
    "skin_id, anchor, width_frac, opacity",
    [
        ("xbox-01", "bottom-left", 0.15, 1.0),
        ("playstation-07", "top-right", 0.08, 1.0),  # held out, floating buttons, ~68 px wide
        ("nintendo-05", "bottom", 0.12, 0.4),  # faint
        ("generic-11", "right", 0.30, 0.6),
        ("xbox-04", "top-left", 0.08, 0.6),  # small and faint
    ],
)
def test_recovers_the_drawn_box(library, game_frames, skin_id, anchor, width_frac, opacity):
    skin = library.skins[skin_id]
    frames, box = with_overlay(game_frames, skin, Placement(anchor=anchor, width_frac=width_frac, opacity=opacity))
    loc = localize_frames(frames, library, LocalizeConfig())
    assert loc.found, loc.reason
    assert box_iou(loc.box, box) >= 0.9, (loc.box, box)
    assert loc.inliers >= LocalizeConfig().min_inliers
    assert 1 <= loc.frames_sampled <= len(frames) and loc.frame_size == FRAME_SIZE  # a sure fit stops early
    # the transform maps the template onto the drawn box
    assert box_iou(transform_box(loc.matrix, library.skins[loc.skin_id].size, FRAME_SIZE), box) >= 0.9


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
def test_look_alike_skins_are_told_apart_by_colour(tmp_path, make_skin, game_frames, skin_id, families):
    # Look-alikes of other families (a similar outline) gather nearly as many locations too: colour decides there as well.
    library = recoloured_library(tmp_path / "recoloured", make_skin, families)
    placement = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.8)
    frames, box = with_overlay(game_frames, library.skins[skin_id], placement)
    loc = localize_frames(frames, library, LocalizeConfig())
    assert loc.found and box_iou(loc.box, box) >= 0.9, loc.reason
    assert loc.skin_id == skin_id, loc.reason  # the parser reads presses against this skin's rest colours


def test_a_pose_the_ratio_test_misses_is_rescued_by_guided_matching(library, game_frames):
    # A ratio test this strict drops nearly every correct match, as faintness and look-alike
    # buttons do on real videos; the pose the single matches vote for is then checked directly.
    frames, box = with_overlay(game_frames, library.skins["xbox-07"], Placement(anchor="top", width_frac=0.15, opacity=0.6))
    strict = LocalizeConfig(ratio=0.3)
    loc = localize_frames(frames, library, strict)
    assert loc.found and box_iou(loc.box, box) >= 0.8, loc.reason
    assert "guided matching" in loc.reason and loc.locations >= strict.rescue_min_locations
    assert not localize_frames(frames, library, replace(strict, rescue_poses=0)).found


def test_a_video_without_overlay_is_not_given_one(library, game_frames, tmp_path):
    video = tmp_path / "plain.mp4"
    write_mp4(video, game_frames, 30.0, crf=28)
    loc = localize_overlay(video, library, LocalizeConfig(frames=N_FRAMES))
    assert not loc.found
    assert loc.reason.startswith("no overlay")
    assert loc.frames_sampled == N_FRAMES  # absence is only concluded after every sampled frame
    assert loc.transform is None and loc.box is None and loc.skin_id is None
    assert loc.to_dict()["found"] is False


def test_localizes_from_a_video_file(library, game_frames, tmp_path):
    skin = library.skins["xbox-09"]
    frames, box = with_overlay(game_frames, skin, Placement(anchor="bottom-right", width_frac=0.2, opacity=0.8))
    video = tmp_path / "overlay.mp4"
    write_mp4(video, frames, 30.0, crf=26)
    loc = localize_overlay(video, library, LocalizeConfig(frames=N_FRAMES))
    assert loc.found and box_iou(loc.box, box) >= 0.9
    assert loc.to_dict()["box"] == list(loc.box)
    assert loc.seconds > 0


def test_samples_frames_across_the_whole_video(tmp_path):
    video = tmp_path / "v.mp4"
    levels = [np.full((64, 96, 3), 8 * i, np.uint8) for i in range(30)]
    write_mp4(video, levels, 30.0, crf=0, preset="ultrafast")
    frames, indices, rate = sample_frames(video, 5)
    assert indices == [3, 9, 15, 21, 27] and rate == 30.0
    assert [round(f.mean() / 8) for f in frames] == indices


def test_a_placement_transform_round_trips():
    t = placement_transform((10, 20, 110, 70), (200, 100))
    assert transform_box(t, (200, 100), (640, 360)) == (10, 20, 110, 70)


def test_a_blank_template_is_a_clear_error(make_skin, tmp_path):
    layout = make_skin(tmp_path / "skins", "blank-pad")
    rest = Image.open(layout.with_suffix(".png"))
    Image.new("RGBA", rest.size, (0, 0, 0, 0)).save(layout.with_suffix(".png"))
    library = load_library([tmp_path / "skins"], include_builtin=False)
    with pytest.raises(ValueError, match=r"blank-pad\.json.*keypoints"):
        template_index(library, LocalizeConfig())


def test_a_malformed_layout_is_named(make_skin, tmp_path):
    make_skin(tmp_path / "skins", "bad-pad", edit=lambda layout: layout.pop("sticks"))
    with pytest.raises(ValueError, match=r"bad-pad\.json.*sticks"):
        load_library([tmp_path / "skins"], include_builtin=False)


@pytest.mark.parametrize(
    "field, value",
    [
        ("frames", 0), ("detector", "surf"), ("transform", "homography"), ("min_locations", 50), ("width_range", (0.5, 0.2)),
        ("ratio", 1.5), ("rescue_min_locations", 3), ("guided_radius_px", 0.0), ("colour_location_margin", -1),
    ],  # fmt: skip
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        LocalizeConfig(**{field: value})


def test_unreadable_video_is_a_clear_error(library, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="bad.mp4"):
        localize_overlay(bad, library)
