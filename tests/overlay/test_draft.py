"""Drafting a skin from a video: a library skin drawn over real game frames is found, with regions for the controls that moved."""

import json

import numpy as np
import pytest

from padflow.actions import BUTTON_INDEX, noop
from padflow.overlay.crops import box_iou, visible_box
from padflow.overlay.draft import DraftSettings, draft_skin, named_skin, read_names, write_draft
from padflow.overlay.library import load_library
from padflow.overlay.render import Placement, draw_overlay, render_overlay
from padflow.players.footage import fit_to_upload, record_gameplay
from padflow.video import write_mp4

FRAME_SIZE = (480, 270)
N_FRAMES = 200
MOVED = ("SOUTH", "EAST", "NORTH", "DPAD_UP", "DPAD_LEFT", "LEFT_SHOULDER", "RIGHT_TRIGGER", "START")


def _actions() -> np.ndarray:
    """Each moved button pressed three times for 6 frames, one at a time; nothing else moves."""
    actions = np.tile(noop(), (N_FRAMES, 1))
    for k, name in enumerate(MOVED):
        for repeat in range(3):
            start = 4 + repeat * 64 + k * 8
            actions[start : start + 6, BUTTON_INDEX[name]] = 1.0
    return actions


def _covers(region, true) -> bool:
    """A proposed region for a control: it holds the control's centre and is not much larger (a glow halo may widen it)."""
    cx, cy = (true[0] + true[2]) / 2, (true[1] + true[3]) / 2
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3] and area(region) <= 6 * area(true)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A pong clip with xbox-01 drawn bottom-left, its drawn box and the skin's visible box in frame px."""
    frames, _, _, _ = record_gameplay("pong_score_point", "average", seed=2, seconds=N_FRAMES / 30, fps=30.0)
    skin = load_library().skins["xbox-01"]
    placement = Placement(anchor="bottom-left", width_frac=0.3, opacity=1.0)
    out, box = [], None
    for frame, action in zip(frames, _actions()):
        drawn, box = draw_overlay(fit_to_upload(frame, *FRAME_SIZE)[0], skin, action, placement)
        out.append(drawn)
    video = tmp_path_factory.mktemp("draft") / "clip.mp4"
    write_mp4(video, out, 30.0, crf=20)
    visible, scale = visible_box(skin, box)
    return video, skin, box, visible, scale


@pytest.fixture(scope="module")
def draft(rendered):
    return draft_skin(rendered[0], DraftSettings(frames=N_FRAMES))


def test_finds_the_overlay_and_the_buttons_that_moved(rendered, draft, tmp_path):
    video, skin, box, visible, (sx, sy) = rendered
    assert box_iou(draft.box, visible) >= 0.8, (draft.box, visible)
    regions = skin.regions()
    found = []
    for name in MOVED:  # the control's box on the draft's canvas
        x0, y0, x1, y1 = regions[name]
        true = (box[0] + x0 * sx - draft.box[0], box[1] + y0 * sy - draft.box[1], box[0] + x1 * sx - draft.box[0], box[1] + y1 * sy - draft.box[1])
        found.append(any(_covers(r.box, true) for r in draft.regions))
    assert sum(found) >= len(MOVED) - 1, (dict(zip(MOVED, found)), [r.box for r in draft.regions], draft.box, box)
    assert len(draft.regions) <= 2 * len(MOVED)  # controls that never moved are not proposed

    # Naming two regions makes a sprite skin that shows them pressed where the video did.
    paths = write_draft(draft, tmp_path / "draft", "from-clip")
    assert paths["sheet"].stat().st_size > 0 and json.loads(paths["draft"].read_text())["regions"]
    names_file = tmp_path / "names.json"
    first, second = draft.regions[0].number, draft.regions[1].number
    names_file.write_text(json.dumps({str(first): "SOUTH", str(second): "EAST"}))
    drafted = named_skin(draft, read_names(names_file), tmp_path / "skins", "from-clip")
    assert drafted.observed == {"SOUTH", "EAST"}
    assert drafted.size == draft.size
    pressed = noop()
    pressed[BUTTON_INDEX["SOUTH"]] = 1.0
    changed = np.abs(render_overlay(drafted, pressed).astype(int) - render_overlay(drafted, noop()).astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    rx0, ry0, rx1, ry1 = draft.regions[0].box
    assert len(ys) and xs.min() >= rx0 and xs.max() < rx1 and ys.min() >= ry0 and ys.max() < ry1


def test_bad_names_are_clear_errors(draft, tmp_path):
    with pytest.raises(ValueError, match="region 999: no such region"):
        named_skin(draft, {999: "SOUTH"}, tmp_path, "x")
    with pytest.raises(ValueError, match="is not a control"):
        named_skin(draft, {draft.regions[0].number: "JUMP"}, tmp_path, "x")
    bad = tmp_path / "names.json"
    bad.write_text('["SOUTH"]')
    with pytest.raises(ValueError, match="names.json: expected an object"):
        read_names(bad)


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(ValueError, match="notes.mp4"):
        draft_skin(bad)


@pytest.fixture(scope="module")
def two_overlays(tmp_path_factory):
    """The pong clip with two overlays pressed alike: xbox-01 bottom-left (wide) and nintendo-05 top-right (narrower);
    the second's drawn box and visible box in frame px."""
    frames, _, _, _ = record_gameplay("pong_score_point", "average", seed=2, seconds=N_FRAMES / 30, fps=30.0)
    library = load_library()
    first, second = library.skins["xbox-01"], library.skins["nintendo-05"]
    out, box = [], None
    for frame, action in zip(frames, _actions()):
        drawn, _ = draw_overlay(fit_to_upload(frame, *FRAME_SIZE)[0], first, action, Placement(anchor="bottom-left", width_frac=0.3, opacity=1.0))
        drawn, box = draw_overlay(drawn, second, action, Placement(anchor="top-right", width_frac=0.22, opacity=1.0))
        out.append(drawn)
    video = tmp_path_factory.mktemp("draft2") / "two.mp4"
    write_mp4(video, out, 30.0, crf=20)
    return video, box, visible_box(second, box)[0]


def test_a_box_given_drafts_the_overlay_there_and_nothing_else(two_overlays):
    """`padflow skins from-video --box`: where localization recorded an unknown skin, the draft looks only there."""
    video, box, visible = two_overlays
    anywhere = draft_skin(video, DraftSettings(frames=N_FRAMES))
    assert box_iou(anywhere.box, visible) < 0.1  # left alone, the draft takes the wider overlay
    there = draft_skin(video, DraftSettings(frames=N_FRAMES, within=tuple(box)))
    assert box_iou(there.box, visible) >= 0.8, (there.box, visible)
    assert there.frame_size == FRAME_SIZE and len(there.regions) >= len(MOVED) - 1
    x0, y0, x1, y1 = there.box  # the regions are on the draft's own canvas, as without a box
    assert all(0 <= r.box[0] < r.box[2] <= x1 - x0 and 0 <= r.box[1] < r.box[3] <= y1 - y0 for r in there.regions)


def test_a_box_outside_the_frame_is_a_clear_error(two_overlays, capsys):
    from padflow.cli import main

    video = two_overlays[0]
    with pytest.raises(ValueError, match=r"two.mp4: the overlay box \[500, 10, 600, 80\] is not inside the 480x270 frame"):
        draft_skin(video, DraftSettings(frames=16, within=(500, 10, 600, 80)))
    with pytest.raises(SystemExit):
        main(["skins", "from-video", str(video), "--out", "unused", "--box", "10,20,5,40"])
    assert "want four integers X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1" in capsys.readouterr().err
