"""Reading an overlay by drawing its skin: presses and stick positions come back from an encoded video, for either skin kind."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from padflow.actions import ACTION_NAMES, AXES, AXIS_INDEX, BUTTON_INDEX, BUTTONS, N_BUTTONS
from padflow.overlay.crops import placement_transform
from padflow.overlay.library import load_library
from padflow.overlay.look_reader import DPAD, LookGroup, _told_apart, look_groups, read_by_looks
from padflow.overlay.render import Placement, draw_overlay
from padflow.overlay.styles import style_of, style_skin
from padflow.overlay.synth import physical_dpad
from padflow.players.footage import fit_to_upload, record_gameplay
from padflow.video import write_mp4

FRAMES = 24


@pytest.fixture(scope="module")
def game_frames() -> list[np.ndarray]:
    frames, _, _, _ = record_gameplay("crafter_collect_wood", "average", seed=4, seconds=FRAMES * 2 / 30, fps=30.0)
    return [fit_to_upload(f, 854, 480)[0] for f in frames[::2][:FRAMES]]


@pytest.fixture(scope="module")
def skins(tmp_path_factory: pytest.TempPathFactory, make_sprite_skin):
    folder = tmp_path_factory.mktemp("skins")
    make_sprite_skin(folder, "sprite-pad")
    make_sprite_skin(folder, "sprite-flat", sticks=False)
    return load_library([folder])


def clip(frames: list[np.ndarray], skin, path: Path, opacity: float, seed: int, width: float = 0.25, shown: np.ndarray | None = None,
         crf: int = 23) -> tuple[np.ndarray, np.ndarray]:
    """Frames with `skin` showing `shown` (T, 21) or random actions, written as H.264 at `crf`; (the actions shown, the 2x3 skin→frame transform)."""
    if shown is None:
        rng = np.random.default_rng(seed)
        shown = np.zeros((len(frames), len(ACTION_NAMES)), np.float32)
        shown[:, :N_BUTTONS] = rng.random((len(frames), N_BUTTONS)) < 0.3
        physical_dpad(shown)
        shown[:, N_BUTTONS:] = rng.uniform(-1, 1, (len(frames), 4)) * (rng.random((len(frames), 1)) < 0.7)
    drawn, box = [], None
    for frame, action in zip(frames, shown):
        out, box = draw_overlay(frame, skin, action, Placement("bottom-left", width, opacity))
        drawn.append(out)
    write_mp4(path, drawn, 30.0, crf=crf)
    return shown, placement_transform(box, skin.size)


def stick_r2(read: np.ndarray, shown: np.ndarray, axes) -> float:
    r2 = []
    for axis in axes:
        y, p = shown[:, AXIS_INDEX[axis]], read[:, AXIS_INDEX[axis]]
        r2.append(1.0 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    return float(np.mean(r2))


# 0.12 of an 854-px frame: the skin drawn at about a third of its size (its looks must be drawn on the whole picture's sampling grid)
@pytest.mark.parametrize(("skin_id", "opacity", "width"), [("xbox-01", 0.9, 0.25), ("playstation-03", 0.6, 0.25), ("sprite-pad", 0.8, 0.25), ("xbox-01", 0.9, 0.12)])
def test_presses_and_stick_positions_are_read_back_from_a_video(skins, game_frames, tmp_path: Path, skin_id: str, opacity: float, width: float):
    skin = skins.skins[skin_id]
    shown, transform = clip(game_frames, skin, tmp_path / "clip.mp4", opacity, seed=1, width=width)
    read, confidence, fps, _ = read_by_looks(tmp_path / "clip.mp4", transform, skin)
    assert read.shape == shown.shape and confidence.shape == (len(shown),) and fps == 30.0
    drawn = [BUTTON_INDEX[b] for b in BUTTONS if b in skin.observed]
    accuracy = float(((read[:, drawn] > 0.5) == (shown[:, drawn] > 0.5)).mean())
    assert accuracy >= 0.97, accuracy
    assert stick_r2(read, shown, [a for a in AXES if a in skin.observed]) >= 0.9


def test_controls_the_skin_does_not_draw_read_zero(skins, game_frames, tmp_path: Path):
    skin = skins.skins["sprite-flat"]
    assert not {c for group in look_groups(skin) for c in group.controls} & set(AXES)  # no stick to read
    shown, transform = clip(game_frames, skin, tmp_path / "flat.mp4", 0.9, seed=2)
    read, *_ = read_by_looks(tmp_path / "flat.mp4", transform, skin)
    undrawn = [ACTION_NAMES.index(c) for c in ACTION_NAMES if c not in skin.observed]
    assert undrawn and not read[:, undrawn].any()


def test_a_press_the_video_cannot_show_is_unseen_not_unpressed(game_frames, tmp_path: Path, make_faint_press_skin):
    """SOUTH's pressed sprite is its idle one a few grey levels brighter (as a dark press over a black game draws): the reader
    says the video cannot show it, so a table marks it unobserved instead of labelling every frame "not pressed"."""
    make_faint_press_skin(tmp_path, "faint-south")
    skin = load_library([tmp_path]).skins["faint-south"]
    shown, transform = clip(game_frames, skin, tmp_path / "faint_south.mp4", 0.9, seed=6)
    reading = read_by_looks(tmp_path / "faint_south.mp4", transform, skin)
    assert reading.unseen == ("SOUTH",) and (shown[:, BUTTON_INDEX["SOUTH"]] > 0.5).any()
    assert not reading.actions[:, BUTTON_INDEX["SOUTH"]].any()
    east = BUTTON_INDEX["EAST"]
    assert float(((reading.actions[:, east] > 0.5) == (shown[:, east] > 0.5)).mean()) >= 0.95  # the others are read as before


def test_a_press_the_encoder_erases_is_unseen_not_unpressed(game_frames, tmp_path: Path, make_sprite_skin):
    """EAST's press tints its middle 6 x 6 sprite px by (0, +14, +14) (a dark grey turning dark teal): drawn, but at 8 % of the
    frame and crf 28 the decoded frames do not show it, and the reader read it "never pressed"; now it is unseen."""
    layout = json.loads(make_sprite_skin(tmp_path, "tint").read_text())
    east = next(layer for layer in layout["layers"] if layer.get("control") == "EAST")
    atlas = np.asarray(Image.open(tmp_path / layout["atlas"])).copy()
    (u, v, w, h), (pu, pv, _, _) = east["idle"], east["pressed"]
    atlas[pv : pv + h, pu : pu + w] = atlas[v : v + h, u : u + w]
    atlas[pv + 2 : pv + 8, pu + 2 : pu + 8, 1:3] += 14
    Image.fromarray(atlas).save(tmp_path / layout["atlas"])
    skin = load_library([tmp_path]).skins["tint"]
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    shown[:, BUTTON_INDEX["EAST"]] = np.arange(len(game_frames)) // 3 % 2
    shown[:, BUTTON_INDEX["SOUTH"]] = np.arange(len(game_frames)) // 4 % 2
    _, transform = clip(game_frames, skin, tmp_path / "tint.mp4", 1.0, seed=0, width=0.08, shown=shown, crf=28)
    reading = read_by_looks(tmp_path / "tint.mp4", transform, skin)
    assert "EAST" in reading.unseen and not reading.actions[:, BUTTON_INDEX["EAST"]].any()
    south = BUTTON_INDEX["SOUTH"]
    assert "SOUTH" not in reading.unseen and float(((reading.actions[:, south] > 0.5) == (shown[:, south] > 0.5)).mean()) >= 0.95


def test_a_state_drawn_nearly_as_rest_reads_as_rest(game_frames, tmp_path: Path, make_sprite_skin):
    """A d-pad whose diagonal sprites are its idle one but for a faint pixel (input-overlay's gamecube preset draws them past its atlas): no press is read at rest."""
    layout = json.loads(make_sprite_skin(tmp_path, "nearly-idle").read_text())
    dpad = next(layer for layer in layout["layers"] if layer["type"] == "dpad")
    atlas = np.asarray(Image.open(tmp_path / layout["atlas"])).copy()
    u, v, w, h = dpad["sprites"]["idle"]
    for state in ("up_left", "up_right", "down_left", "down_right"):
        du, dv, _, _ = dpad["sprites"][state]
        atlas[dv : dv + h, du : du + w] = atlas[v : v + h, u : u + w]
        atlas[dv + 1, du + 1, :3] = np.clip(atlas[dv + 1, du + 1, :3].astype(int) + 40, 0, 255)
    Image.fromarray(atlas).save(tmp_path / layout["atlas"])
    skin = load_library([tmp_path]).skins["nearly-idle"]
    shown, transform = clip(game_frames, skin, tmp_path / "dpad.mp4", 0.9, seed=3)
    read, *_ = read_by_looks(tmp_path / "dpad.mp4", transform, skin)
    dpad_cols = [BUTTON_INDEX[d] for d in DPAD]
    pressed = shown[:, dpad_cols] > 0.5
    at_rest = ~pressed.any(axis=1) | (pressed.sum(axis=1) == 2)  # a diagonal draws the idle look
    assert at_rest.any() and (pressed.sum(axis=1) == 1).any()
    assert not (read[at_rest][:, dpad_cols] > 0.5).any()
    single = pressed.sum(axis=1) == 1
    assert ((read[single][:, dpad_cols] > 0.5) == pressed[single]).all()


def test_a_press_the_video_shows_fainter_than_drawn_is_read(game_frames, tmp_path: Path, make_sprite_skin):
    """A press drawn at half its skin's change, short of the halfway mark once encoded (as an encoder thins a small change of colour), is still read."""
    drawn_dir, read_dir = tmp_path / "drawn", tmp_path / "read"
    for folder in (drawn_dir, read_dir):
        folder.mkdir()
        layout = json.loads(make_sprite_skin(folder, "faint").read_text())
    south = next(layer for layer in layout["layers"] if layer.get("control") == "SOUTH")
    atlas = np.asarray(Image.open(drawn_dir / layout["atlas"])).astype(np.float32)
    (iu, iv, w, h), (pu, pv, _, _) = south["idle"], south["pressed"]
    atlas[pv : pv + h, pu : pu + w] = 0.5 * atlas[iv : iv + h, iu : iu + w] + 0.5 * atlas[pv : pv + h, pu : pu + w]
    Image.fromarray(atlas.round().astype(np.uint8)).save(drawn_dir / layout["atlas"])
    column = BUTTON_INDEX["SOUTH"]
    presses = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    presses[:, column] = np.arange(len(game_frames)) // 3 % 3 == 1  # three frames down in every nine
    shown, transform = clip(game_frames, load_library([drawn_dir]).skins["faint"], tmp_path / "faint.mp4", 1.0, seed=5, shown=presses)
    read, *_ = read_by_looks(tmp_path / "faint.mp4", transform, load_library([read_dir]).skins["faint"])
    pressed, read_pressed = shown[:, column] > 0.5, read[:, column] > 0.5
    assert read_pressed[pressed].all()  # drawn at half, the encoder leaves 0.43-0.49 of the press: unread at the usual halfway mark
    assert (read_pressed == pressed).mean() >= 0.9  # a frame beside a press, which the encoder smears, may read pressed


def test_a_dpad_the_video_shows_fainter_than_drawn_is_read(game_frames, tmp_path: Path, make_sprite_skin):
    """A d-pad whose every pressed sprite shows at half its skin's change (input-overlay's f710 preset: a teal tint on a dark pad, 0.3-0.6 of
    its drawn change once encoded) reads its presses, as a single button's faint press does."""
    drawn_dir, read_dir = tmp_path / "drawn", tmp_path / "read"
    for folder in (drawn_dir, read_dir):
        folder.mkdir()
        layout = json.loads(make_sprite_skin(folder, "faint-dpad").read_text())
    sprites = next(layer for layer in layout["layers"] if layer["type"] == "dpad")["sprites"]
    atlas = np.asarray(Image.open(drawn_dir / layout["atlas"])).astype(np.float32)
    iu, iv, w, h = sprites["idle"]
    for state, (u, v, _, _) in sprites.items():
        if state != "idle":
            atlas[v : v + h, u : u + w] = 0.5 * atlas[iv : iv + h, iu : iu + w] + 0.5 * atlas[v : v + h, u : u + w]
    Image.fromarray(atlas.round().astype(np.uint8)).save(drawn_dir / layout["atlas"])
    columns = [BUTTON_INDEX[d] for d in DPAD]
    presses = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    for t in range(len(game_frames)):
        if t // 2 % 2:  # two frames pressed, two at rest; up, right, down-left, left, up-right in turn
            for d in (("DPAD_UP",), ("DPAD_RIGHT",), ("DPAD_DOWN", "DPAD_LEFT"), ("DPAD_LEFT",), ("DPAD_UP", "DPAD_RIGHT"))[t // 4 % 5]:
                presses[t, BUTTON_INDEX[d]] = 1.0
    shown, transform = clip(game_frames, load_library([drawn_dir]).skins["faint-dpad"], tmp_path / "faint.mp4", 1.0, seed=5, shown=presses)
    read, *_ = read_by_looks(tmp_path / "faint.mp4", transform, load_library([read_dir]).skins["faint-dpad"])
    right = ((read[:, columns] > 0.5) == (shown[:, columns] > 0.5)).all(axis=1)
    assert right.mean() >= 0.9  # read at the drawn strength, only the frames at rest read right (0.5)


def cap_on_dpad(folder: Path, skin_id: str, make_sprite_skin) -> dict:
    """A sprite skin written to `folder` whose left stick is a 4-px cap on the d-pad's centre with 3 px of square travel and
    no clicked cap (input-overlay's pixel presets with a stick); returns its layout."""
    layout_path = make_sprite_skin(folder, skin_id)
    layout = json.loads(layout_path.read_text())
    dpad = next(layer for layer in layout["layers"] if layer["type"] == "dpad")
    stick = next(layer for layer in layout["layers"] if layer.get("side") == "left")
    cu, cv, _, _ = stick["cap"]
    stick.update(pos=[dpad["pos"][0] + 3, dpad["pos"][1] + 3], cap=[cu + 3, cv + 3, 4, 4], travel=3.0, travel_shape="square")
    del stick["cap_pressed"]
    layout_path.write_text(json.dumps(layout))
    return layout


def test_a_cap_pushed_onto_a_dpad_arm_reads_as_the_stick_and_the_arm_pressed_as_the_arm(game_frames, tmp_path: Path, make_sprite_skin):
    """A stick cap that sits on the d-pad and, pushed, draws what an arm pressed draws (input-overlay's pixel presets): each reads as itself."""
    layout = cap_on_dpad(tmp_path, "cap-on-dpad", make_sprite_skin)
    dpad = next(layer for layer in layout["layers"] if layer["type"] == "dpad")
    cu, cv, _, _ = next(layer for layer in layout["layers"] if layer.get("side") == "left")["cap"]
    atlas = np.asarray(Image.open(tmp_path / layout["atlas"])).copy()
    (iu, iv, w, h), (lu, lv, _, _) = dpad["sprites"]["idle"], dpad["sprites"]["left"]
    cap = atlas[cv : cv + 4, cu : cu + 4, :3].astype(int)
    atlas[iv + 3 : iv + 7, iu + 3 : iu + 7, :3] = np.clip(cap + 40, 0, 255)  # under the cap, the d-pad is nearly the cap's colours ...
    atlas[lv : lv + h, lu : lu + w] = atlas[iv : iv + h, iu : iu + w]
    atlas[lv + 3 : lv + 7, lu : lu + 4, :3] = cap  # ... and its left arm pressed is the cap pushed all the way left
    Image.fromarray(atlas).save(tmp_path / layout["atlas"])
    skin = load_library([tmp_path]).skins["cap-on-dpad"]
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    phase = np.arange(len(game_frames)) % 8  # at rest in most frames, as a pad is: the still picture is their median
    shown[phase == 1, AXIS_INDEX["LEFT_X"]] = -1.0
    shown[phase == 2, BUTTON_INDEX["DPAD_LEFT"]] = 1.0
    shown, transform = clip(game_frames, skin, tmp_path / "cap.mp4", 0.9, seed=6, shown=shown)
    read, *_ = read_by_looks(tmp_path / "cap.mp4", transform, skin)
    left_x, arm = read[:, AXIS_INDEX["LEFT_X"]], read[:, BUTTON_INDEX["DPAD_LEFT"]] > 0.5
    assert (left_x[phase == 1] < -0.75).all() and not arm[phase == 1].any()  # read one group at a time: the arm pressed, the stick at rest
    assert arm[phase == 2].all() and (np.abs(left_x[phase == 2]) < 0.25).all()
    assert not arm[phase != 2].any()


def test_a_cap_moving_over_a_pressed_dpad_reads_both(game_frames, tmp_path: Path, make_sprite_skin):
    """A small cap that moves over the d-pad while an arm is pressed (input-overlay's gameboy, nes and snes pixel presets
    with a stick): the cap hides part of the pressed arm, so the two are read together, over every pair of their states."""
    cap_on_dpad(tmp_path, "cap-over-dpad", make_sprite_skin)
    skin = load_library([tmp_path]).skins["cap-over-dpad"]
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    phase = np.arange(len(game_frames)) % 6  # at rest in half the frames: the still picture is their median
    for k, (x, y, arm) in {1: (-1.0, 0.0, "DPAD_LEFT"), 2: (1.0, 0.0, "DPAD_UP"), 4: (0.0, 1.0, "DPAD_DOWN")}.items():
        shown[phase == k, AXIS_INDEX["LEFT_X"]], shown[phase == k, AXIS_INDEX["LEFT_Y"]] = x, y
        shown[phase == k, BUTTON_INDEX[arm]] = 1.0
    shown, transform = clip(game_frames, skin, tmp_path / "cap.mp4", 0.9, seed=6, width=0.3, shown=shown)
    read, *_ = read_by_looks(tmp_path / "cap.mp4", transform, skin)
    for arm in DPAD:
        assert ((read[:, BUTTON_INDEX[arm]] > 0.5) == (shown[:, BUTTON_INDEX[arm]] > 0.5)).all(), arm
    assert np.abs(read[:, AXIS_INDEX["LEFT_X"]] - shown[:, AXIS_INDEX["LEFT_X"]]).max() <= 0.25
    assert np.abs(read[:, AXIS_INDEX["LEFT_Y"]] - shown[:, AXIS_INDEX["LEFT_Y"]]).max() <= 0.25


def test_a_cap_moved_off_its_rest_place_in_most_frames_is_read_at_full_travel(game_frames, tmp_path: Path, make_sprite_skin):
    """A bright 2-px cap on a dark d-pad centre, translucent, hidden when clicked, pushed off its rest place in most frames
    (input-overlay's gameboy-pixel with a stick, seed 2): the median shows the centre there, not the cap, so the game under
    it is also solved under the look of the state the median shows (the cap clicked, hidden); solved under rest, it is
    black, and a cap pushed all the way reads short of it (0.8 for 1)."""
    layout = cap_on_dpad(tmp_path, "cap-away", make_sprite_skin)
    dpad = next(layer for layer in layout["layers"] if layer["type"] == "dpad")
    stick = next(layer for layer in layout["layers"] if layer.get("side") == "left")
    cu, cv, _, _ = stick["cap"]
    atlas = np.asarray(Image.open(tmp_path / layout["atlas"])).copy()
    atlas[cv : cv + 4, cu : cu + 4, :3] = 250
    for u, v, _, _ in dpad["sprites"].values():
        atlas[v + 3 : v + 7, u + 3 : u + 7, :3] = 25
    stick.update(cap=[cu + 1, cv + 1, 2, 2], pos=[stick["pos"][0] + 1, stick["pos"][1] + 1], travel=2.0,
                 cap_pressed=[atlas.shape[1], 0, 2, 2])  # clicked, the cap is not drawn
    Image.fromarray(np.concatenate([atlas, np.zeros((64, 2, 4), np.uint8)], axis=1)).save(tmp_path / layout["atlas"])
    (tmp_path / "cap-away.json").write_text(json.dumps(layout))
    skin = load_library([tmp_path]).skins["cap-away"]
    rng = np.random.default_rng(1)
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    away = np.arange(len(game_frames)) % 3 != 0
    shown[away, AXIS_INDEX["LEFT_X"]] = rng.choice([-1.0, 0.0, 1.0], int(away.sum()))
    shown[away, AXIS_INDEX["LEFT_Y"]] = np.where(shown[away, AXIS_INDEX["LEFT_X"]] == 0, rng.choice([-1.0, 1.0], int(away.sum())), 0.0)
    frames = [frame.copy() for frame in game_frames]
    yy, xx = np.indices((180, 300))
    waves = (120 + 70 * np.sin(xx / 5.0) * np.cos(yy / 6.0)).astype(np.uint8)  # under the overlay, a game no filling-in from around it gives
    for frame in frames:
        frame[300:480, :300] = waves[..., None]
    shown, transform = clip(frames, skin, tmp_path / "away.mp4", 0.75, seed=0, width=0.3, shown=shown)
    read, *_ = read_by_looks(tmp_path / "away.mp4", transform, skin)
    assert not (read[:, [BUTTON_INDEX[arm] for arm in DPAD]] > 0.5).any()
    for axis in ("LEFT_X", "LEFT_Y"):
        assert np.abs(read[:, AXIS_INDEX[axis]] - shown[:, AXIS_INDEX[axis]]).max() < 0.1, axis  # its grid cell


def test_a_cap_hidden_while_clicked_reads_where_it_is_held(game_frames, tmp_path: Path, make_sprite_skin):
    """A cap its click hides (input-overlay's gameboy, nes and snes pixel presets with a stick): while clicked, every place
    of the cap looks the same, so a stick held while clicked reads where it is seen before and after (alone, the frames
    read the cap's first place, the centre)."""
    layout = cap_on_dpad(tmp_path, "cap-hidden", make_sprite_skin)
    stick = next(layer for layer in layout["layers"] if layer.get("side") == "left")
    atlas = np.asarray(Image.open(tmp_path / layout["atlas"]))
    stick["cap_pressed"] = [atlas.shape[1], 0, 4, 4]  # clicked, the cap is not drawn
    Image.fromarray(np.concatenate([atlas, np.zeros((atlas.shape[0], 4, 4), np.uint8)], axis=1)).save(tmp_path / layout["atlas"])
    (tmp_path / "cap-hidden.json").write_text(json.dumps(layout))
    skin = load_library([tmp_path]).skins["cap-hidden"]
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    for held, clicked, (x, y) in ((slice(7, 13), slice(9, 11), (1.0, 0.0)), (slice(20, 24), slice(21, 23), (-1.0, -1.0))):  # at rest in most frames
        shown[held, AXIS_INDEX["LEFT_X"]], shown[held, AXIS_INDEX["LEFT_Y"]] = x, y
        shown[clicked, BUTTON_INDEX["LEFT_THUMB"]] = 1.0
    shown, transform = clip(game_frames, skin, tmp_path / "hidden.mp4", 0.9, seed=0, width=0.3, shown=shown)
    read, *_ = read_by_looks(tmp_path / "hidden.mp4", transform, skin)
    assert ((read[:, BUTTON_INDEX["LEFT_THUMB"]] > 0.5) == (shown[:, BUTTON_INDEX["LEFT_THUMB"]] > 0.5)).all()
    for axis in ("LEFT_X", "LEFT_Y"):
        assert np.abs(read[:, AXIS_INDEX[axis]] - shown[:, AXIS_INDEX[axis]]).max() <= 0.25, axis


def test_a_stick_state_drawn_as_one_with_fewer_presses_is_never_read():
    """A cap read with the d-pad whose click hides it: the arm pressed with the cap clicked draws what the cap pushed onto
    the arm draws (input-overlay's gameboy-pixel). No frame can tell them apart, so only the one with fewer presses is read
    (before, the two tied and which one a frame read turned on rounding: on one clip it changed with the batch size)."""
    pushed = np.zeros((3, len(ACTION_NAMES)), np.float32)
    pushed[1, AXIS_INDEX["LEFT_Y"]] = -1.0
    pushed[2, [BUTTON_INDEX["DPAD_DOWN"], BUTTON_INDEX["LEFT_THUMB"]]] = 1.0
    group = LookGroup(("DPAD_DOWN", "LEFT_X", "LEFT_Y", "LEFT_THUMB"), pushed, (0.0, 0.0, 10.0, 10.0))
    change = np.array([[0.0, 0.0, 0.0], [90.0, 40.0, 10.0], [90.0, 40.0, 10.0]], np.float32)
    assert _told_apart(group, change).tolist() == [0, 1]


def test_a_stick_whose_click_lights_a_button_under_its_cap_is_read_while_clicked(game_frames, tmp_path: Path, make_sprite_skin):
    """The click lights a white well a little larger than the cap's sweep and turns the white cap grey (input-overlay's Xbox KBA presets): the cap is read on the lit well."""
    layout_path = make_sprite_skin(tmp_path, "lit-well")
    layout = json.loads(layout_path.read_text())
    atlas = np.asarray(Image.open(tmp_path / layout["atlas"])).copy()
    atlas = np.concatenate([atlas, np.zeros((64, 40, 4), np.uint8)], axis=1)  # room for three sprites right of the old atlas
    atlas[0:26, 160:186] = 255  # the lit well, 26 x 26; the cap's sweep is 22 x 22
    atlas[30:40, 160:170] = 255  # the cap, white as the lit well
    atlas[30:40, 172:182, :3] = 150  # the clicked cap, grey
    atlas[30:40, 172:182, 3] = 255
    Image.fromarray(atlas).save(tmp_path / layout["atlas"])
    k = next(i for i, layer in enumerate(layout["layers"]) if layer.get("side") == "left")
    layout["layers"][k].update(cap=[160, 30, 10, 10], cap_pressed=[172, 30, 10, 10])
    layout["layers"].insert(k, {"type": "button", "control": "LEFT_THUMB", "pos": [12, 8], "idle": None, "pressed": [160, 0, 26, 26]})
    layout_path.write_text(json.dumps(layout))
    skin = load_library([tmp_path]).skins["lit-well"]
    rng = np.random.default_rng(3)
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    clicked = np.arange(len(game_frames)) % 4 == 1
    shown[clicked, BUTTON_INDEX["LEFT_THUMB"]] = 1.0
    moved = np.arange(len(game_frames)) % 2 == 1  # at rest in half the frames, as the still picture needs
    for axis in ("LEFT_X", "LEFT_Y"):
        shown[moved, AXIS_INDEX[axis]] = rng.choice([-1.0, -0.6, 0.6, 1.0], int(moved.sum()))
    shown, transform = clip(game_frames, skin, tmp_path / "lit.mp4", 0.9, seed=0, width=0.3, shown=shown)
    read, *_ = read_by_looks(tmp_path / "lit.mp4", transform, skin)
    assert ((read[:, BUTTON_INDEX["LEFT_THUMB"]] > 0.5) == clicked).all()
    assert stick_r2(read[clicked], shown[clicked], ["LEFT_X", "LEFT_Y"]) >= 0.9  # the thumb read as a button of its own: -0.04


def test_a_stick_moved_fainter_than_drawn_is_read_beside_clicks_shown_as_drawn(game_frames, tmp_path: Path, make_sprite_skin):
    """Moves that reach the video at 0.4 of their drawn change, clicks at full (input-overlay's ds3: a thin ring moved, a filled disc clicked): the moves are read."""
    make_sprite_skin(tmp_path, "sprite-pad")
    skin = load_library([tmp_path]).skins["sprite-pad"]
    rng = np.random.default_rng(0)
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    moved, clicked = np.arange(len(game_frames)) % 2 == 1, np.arange(len(game_frames)) % 8 == 3
    for axis in ("LEFT_X", "LEFT_Y"):
        shown[moved, AXIS_INDEX[axis]] = rng.choice([-1.0, -0.6, 0.6, 1.0], int(moved.sum()))
    shown[clicked, BUTTON_INDEX["LEFT_THUMB"]] = 1.0
    drawn, box = [], None
    for frame, action in zip(game_frames, shown):
        full, box = draw_overlay(frame, skin, action, Placement("bottom-left", 0.25, 0.9))
        rest, _ = draw_overlay(frame, skin, np.zeros_like(action), Placement("bottom-left", 0.25, 0.9))
        drawn.append(full if action[BUTTON_INDEX["LEFT_THUMB"]] else np.clip(rest + 0.4 * (full.astype(np.float32) - rest), 0, 255).astype(np.uint8))
    write_mp4(tmp_path / "faint.mp4", drawn, 30.0, crf=23)
    transform = placement_transform(box, skin.size)
    read, *_ = read_by_looks(tmp_path / "faint.mp4", transform, skin)
    assert ((read[:, BUTTON_INDEX["LEFT_THUMB"]] > 0.5) == clicked).all()
    assert stick_r2(read, shown, ["LEFT_X", "LEFT_Y"]) >= 0.9  # the clicks in the gain's fit: 0.17, read at rest


def test_one_of_buttons_read_together_shown_fainter_than_the_others_is_read(game_frames, tmp_path: Path, make_sprite_skin):
    """Touching face buttons are read together; one of them reaches the video at 0.45 of its drawn press, the others at full (input-overlay's Xbox KBA A: grey to green, chroma the encoder thins)."""
    layout_path = make_sprite_skin(tmp_path, "close-faces")
    layout = json.loads(layout_path.read_text())
    for layer, pos in zip(layout["layers"][1:5], ([90, 34], [99, 25], [81, 25], [90, 16])):  # SOUTH, EAST, WEST, NORTH, edge to edge
        layer["pos"] = pos
    layout_path.write_text(json.dumps(layout))
    skin = load_library([tmp_path]).skins["close-faces"]
    faces = [BUTTON_INDEX[b] for b in ("SOUTH", "EAST", "WEST", "NORTH")]
    rng = np.random.default_rng(1)
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    shown[:, faces] = rng.random((len(game_frames), 4)) < 0.4
    drawn, box = [], None
    for frame, action in zip(game_frames, shown):
        full, box = draw_overlay(frame, skin, action, Placement("bottom-left", 0.3, 0.9))
        without = action.copy()
        without[BUTTON_INDEX["SOUTH"]] = 0.0
        rest, _ = draw_overlay(frame, skin, without, Placement("bottom-left", 0.3, 0.9))
        drawn.append(np.clip(rest + 0.45 * (full.astype(np.float32) - rest), 0, 255).astype(np.uint8))
    write_mp4(tmp_path / "faces.mp4", drawn, 30.0, crf=23)
    transform = placement_transform(box, skin.size)
    read, *_ = read_by_looks(tmp_path / "faces.mp4", transform, skin)
    assert ((read[:, faces] > 0.5) == (shown[:, faces] > 0.5)).mean(axis=0).min() >= 0.95


def test_a_translucent_overlay_over_a_game_unlike_its_surroundings_reads_no_press_held(game_frames, tmp_path: Path):
    """Under the overlay the game is bright, around it dark: the first guess of the game there, and of the opacity, is off; presses of a similar colour still read as shown."""
    assert style_of(9, held_out=True) == ("flat", "similar_swap")
    skin = style_skin(9, held_out=True)
    frames = [frame.copy() for frame in game_frames]
    for frame in frames:
        frame[300:460, 20:250] = 225  # where the overlay sits (bottom-left, a quarter of the width)
    shown = np.zeros((len(frames), len(ACTION_NAMES)), np.float32)
    shown[:, BUTTON_INDEX["EAST"]] = np.arange(len(frames)) // 3 % 3 == 1
    shown[:, AXIS_INDEX["LEFT_X"]] = np.sin(np.arange(len(frames)) / 3)
    shown, transform = clip(frames, skin, tmp_path / "bright.mp4", 0.55, seed=0, shown=shown)
    read, *_ = read_by_looks(tmp_path / "bright.mp4", transform, skin)
    drawn = [BUTTON_INDEX[b] for b in BUTTONS if b in skin.observed]
    assert ((read[:, drawn] > 0.5) == (shown[:, drawn] > 0.5)).mean() >= 0.97  # the reader before fit_opacity: 0.65, four buttons read held


def test_a_thin_cap_on_a_translucent_pad_is_read_where_it_moves(game_frames, tmp_path: Path):
    """A ring-and-dot cap at opacity 0.44 shows, once encoded, at about half its drawn move: read at the drawn strength, the stick stays at rest."""
    skin = style_skin(8, held_out=True)
    rng = np.random.default_rng(0)
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    moved = np.arange(len(game_frames)) % 3 != 0
    for axis in ("LEFT_X", "LEFT_Y"):
        shown[moved, AXIS_INDEX[axis]] = rng.choice([-1.0, -0.6, 0.6, 1.0], int(moved.sum()))
    shown, transform = clip(game_frames, skin, tmp_path / "thin.mp4", 0.44, seed=0, width=0.28, shown=shown)
    read, *_ = read_by_looks(tmp_path / "thin.mp4", transform, skin)
    assert stick_r2(read, shown, ["LEFT_X", "LEFT_Y"]) >= 0.9  # read at the drawn strength (before fit_gains took sticks): -0.05


def test_confidence_is_low_only_where_two_readings_explain_the_frame_alike(skins, game_frames, tmp_path: Path):
    """A frame showing SOUTH halfway between up and down is in doubt; the other frames, a stick moving over its grid included, are not (the gate's rule)."""
    from tasks.gate import GateConfig

    skin = skins.skins["sprite-pad"]
    gate = GateConfig()
    shown = np.zeros((len(game_frames), len(ACTION_NAMES)), np.float32)
    shown[:, AXIS_INDEX["LEFT_X"]] = np.sin(np.arange(len(game_frames)) / 3)
    shown[::6, BUTTON_INDEX["SOUTH"]] = 1.0
    halfway = [5, 17]
    drawn, box = [], None
    for k, (frame, action) in enumerate(zip(game_frames, shown)):
        out, box = draw_overlay(frame, skin, action, Placement("bottom-left", 0.25, 0.9))
        if k in halfway:
            pressed = action.copy()
            pressed[BUTTON_INDEX["SOUTH"]] = 1.0
            out = ((out.astype(np.float32) + draw_overlay(frame, skin, pressed, Placement("bottom-left", 0.25, 0.9))[0]) / 2).round().astype(np.uint8)
        drawn.append(out)
    write_mp4(tmp_path / "halfway.mp4", drawn, 30.0, crf=23)
    transform = placement_transform(box, skin.size)
    _, confidence, *_ = read_by_looks(tmp_path / "halfway.mp4", transform, skin)
    clear = np.setdiff1d(np.arange(len(game_frames)), halfway)
    assert (confidence[halfway] < gate.min_confidence).all(), confidence[halfway]
    assert (confidence[clear] < gate.min_confidence).mean() <= gate.max_low_confidence_share / 2, confidence[clear]
